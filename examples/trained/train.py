#!/usr/bin/env python3
"""train.py — trains a small torch nn.Transformer to reverse sequences of letters,
and exports it for xfc.

    /usr/bin/python3 examples/trained/train.py      # a few minutes on one CPU core

The task has structure you can see: to write output position t the decoder must
read source position L-1-t, so the decoder's cross-attention is an anti-diagonal.

The tokens' embedding and positional encoding stay in Python (xfc compiles the
transformer, not the embedding tables): the xfc model takes the *embedded*
source and target sequences [batch, L, d_model] and returns the decoder's output
[batch, L, d_model]; a linear layer (`head.npy`, applied by decode.c) maps it to
token scores.  Training uses teacher forcing: the decoder reads BOS followed by
the reversed sequence shifted right, under a causal mask.

Writes, next to this script:
  weights.safetensors  the nn.Transformer's weights (scripts/export_torch.py)
  reverse.xf           its spec (export_torch.py) + listeners drawing attention
  src.npy, tgt.npy     embedded source / decoder input of 4 example sequences
  expected.npy         PyTorch's output on them (decoder output, [4, L, d_model])
  tokens.npy           [4, 2, L] the example source tokens (1..16 = a..p) and their reversal (as float32)
  head.npy             [V, d_model + 1] the output layer (weight | bias) for decode.c
"""

import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import export_torch  # noqa: E402

L = 16            # sequence length
LETTERS = 16      # tokens 1..16 are the letters a..p
BOS = 0           # token 0 starts the decoder's input
V = LETTERS + 1
D_MODEL, HEADS, FF, LAYERS = 64, 4, 128, 2


def positional_encoding(length, d):
    """The sinusoidal encoding of "Attention is all you need"."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(length, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class Reverser(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, D_MODEL)
        self.register_buffer("pe", positional_encoding(L, D_MODEL))
        self.transformer = nn.Transformer(D_MODEL, HEADS, LAYERS, LAYERS, FF, dropout=0.0, batch_first=True)
        self.head = nn.Linear(D_MODEL, V)
        self.register_buffer("causal", self.transformer.generate_square_subsequent_mask(L))

    def embedded(self, tokens):
        """What the xfc model takes: token embedding + position.  (No × sqrt(d_model):
        with nn.Embedding's N(0, 1) init that would drown the position, which is
        all the reversal needs to attend by.)"""
        return self.embed(tokens) + self.pe[: tokens.shape[1]]

    def decode(self, src, tgt_in):
        """The nn.Transformer part, the one xfc compiles: [N, L, D] → [N, L, D]."""
        return self.transformer(self.embedded(src), self.embedded(tgt_in), tgt_mask=self.causal)

    def forward(self, src, tgt_in):
        return self.head(self.decode(src, tgt_in))


def batch(n, gen):
    src = torch.randint(1, V, (n, L), generator=gen)
    out = src.flip(1)                                           # the reversal
    tgt_in = torch.cat([torch.full((n, 1), BOS), out[:, :-1]], 1)   # shifted right
    return src, tgt_in, out


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1)
    model = Reverser()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = 2000
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.time()
    for step in range(1, steps + 1):
        src, tgt_in, out = batch(64, gen)
        logits = model(src, tgt_in)
        loss = loss_fn(logits.reshape(-1, V), out.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0:
            acc = (logits.argmax(-1) == out).float().mean().item()
            print(f"step {step:5d}  loss {loss.item():.4f}  token accuracy {acc:.3f}  ({time.time() - t0:.0f} s)")

    model.eval()
    with torch.no_grad():
        src, tgt_in, out = batch(1000, torch.Generator().manual_seed(2))
        acc = (model(src, tgt_in).argmax(-1) == out).float().mean().item()
        print(f"held-out token accuracy (teacher forcing): {acc:.4f}")

        # four examples, the first one easy to read
        words = ["abcdefghijklmnop", "deadbeefcafebabe", "pineconeapplejam", "kimonopolkadance"]
        ex = torch.tensor([[ord(c) - ord("a") + 1 for c in w] for w in words])
        ex_out = ex.flip(1)
        ex_in = torch.cat([torch.full((4, 1), BOS), ex_out[:, :-1]], 1)
        src_emb, tgt_emb = model.embedded(ex), model.embedded(ex_in)
        expected = model.transformer(src_emb, tgt_emb, tgt_mask=model.causal)
        pred = model.head(expected).argmax(-1)
        print("example predictions == reversal:", bool((pred == ex_out).all()))
        # how much of each cross-attention row sits on the anti-diagonal (key L-1-t), per layer and head:
        # catch each cross-attention's inputs, then ask it again for its weights
        seen = []
        hooks = [layer.multihead_attn.register_forward_hook(lambda mod, args, out: seen.append((mod, args)))
                 for layer in model.transformer.decoder.layers]
        model.transformer(src_emb, tgt_emb, tgt_mask=model.causal)
        for h in hooks:
            h.remove()
        for i, (mod, (q, k, v)) in enumerate(seen):
            _, w = mod(q, k, v, need_weights=True, average_attn_weights=False)
            anti = w[:, :, torch.arange(L), torch.arange(L - 1, -1, -1)].mean((0, 2))
            print(f"decoder layer {i} cross-attention on the anti-diagonal, per head:",
                  " ".join(f"{a:.2f}" for a in anti.tolist()))

    def save(name, t):
        np.save(os.path.join(HERE, name), np.ascontiguousarray(t.detach().numpy().astype(np.float32)))

    save("src.npy", src_emb)
    save("tgt.npy", tgt_emb)
    save("expected.npy", expected)
    save("tokens.npy", torch.stack([ex, ex_out], 1).float())
    save("head.npy", torch.cat([model.head.weight, model.head.bias[:, None]], 1))

    listeners = [
        '# the decoder\'s cross-attention: output position t reads source position L-1-t',
        'AttentionEvent & layer_name_contains("cross_attention") -> '
        'figure("cross_attention.png", head = 0, sample = 0, cols = 2)',
        'AttentionEvent & layer_name_contains("cross_attention") -> '
        'heatmap("cross_attention/{source}.png", head = all, sample = 0)',
        '# the encoder\'s self-attention',
        'AttentionEvent & within(encoder) -> figure("encoder_attention.png", head = 0, sample = 0, cols = 2)',
        'AttentionEvent & within(encoder) -> heatmap("encoder_attention/{source}.png", head = all, sample = 0)',
    ]
    kind, _, nbytes, _ = export_torch.export_module(
        model.transformer, "reverse", os.path.join(HERE, "weights.safetensors"), os.path.join(HERE, "reverse.xf"),
        causal=True, listeners=[], source="examples/trained/train.py (nn.Transformer, reversal task)")
    # listeners: comments stay comments, the rest become `listen` lines
    with open(os.path.join(HERE, "reverse.xf"), "a") as f:
        f.write("\n")
        for l in listeners:
            f.write((l if l.startswith("#") else "listen " + l) + "\n")
    print(f"wrote weights.safetensors ({nbytes / 1024:.0f} KiB), reverse.xf ({kind}), src.npy, tgt.npy, "
          f"expected.npy, tokens.npy, head.npy in {HERE}")


if __name__ == "__main__":
    main()
