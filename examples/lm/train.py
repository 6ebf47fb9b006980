#!/usr/bin/python3
"""train.py — a character-level language model on the King James Bible, for xfc.

    apt-get install bible-kjv                 # the text: bible-kjv-text's /usr/lib/bible.data
    /usr/bin/python3 examples/lm/train.py --attention full          [--minutes 9]
    /usr/bin/python3 examples/lm/train.py --attention causal_linear [--minutes 9]

Both variants have the same size: a decoder-only transformer (PyTorch's own
nn.TransformerEncoder with a causal mask, batch_first, pre-norm, gelu), d_model 128,
4 heads, 4 layers, feed-forward 512, learned positions (256), head tied to the
embedding.  `causal_linear` replaces softmax attention by fast-transformers'
causal linear attention (elu+1 feature map, eps 1e-6), written here in pure torch
in its O(L²) masked form (the same numbers as the O(L) cumulative-sum form xfc runs
as a recurrence).  One thread (torch.set_num_threads(1)); training stops after
--minutes of the process's CPU time (the wall clock runs longer on a loaded machine), or
at SIGUSR1 (then it evaluates and writes what it has).

Writes examples/lm/<variant>/weights.safetensors (F16, ~1.6 MB: xfc reads F16 as
float32), examples/lm/<variant>/lm.xf and examples/lm/vocab.txt (one character per
line, line i = token i; the newlines of the text are spaces).
"""
import argparse
import math
import os
import signal
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from export_torch import write_safetensors  # noqa: E402

D, HEADS, LAYERS, FF, MAX_POS = 128, 4, 4, 512, 256


def kjv_text():
    """The whole King James Version, verse after verse, without the references."""
    out = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True).stdout
    verses = [line.split(" ", 1)[1] for line in out.splitlines() if " " in line]
    return " ".join(verses)


def causal_linear(mha, x):
    """fast-transformers' CausalLinearAttention inside torch's packed projections."""
    N, L, d = x.shape
    q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).split(d, dim=-1)
    Q = F.elu(q.reshape(N, L, HEADS, -1)) + 1
    K = F.elu(k.reshape(N, L, HEADS, -1)) + 1
    V = v.reshape(N, L, HEADS, -1)
    scores = torch.einsum("nlhe,nshe->nhls", Q, K).tril()
    A = scores / (scores.sum(-1, keepdim=True) + 1e-6)
    out = torch.einsum("nhls,nshd->nlhd", A, V).reshape(N, L, d)
    return F.linear(out, mha.out_proj.weight, mha.out_proj.bias)


class CharLM(nn.Module):
    def __init__(self, vocab, attention):
        super().__init__()
        self.attention = attention
        self.tok = nn.Embedding(vocab, D)
        self.pos = nn.Embedding(MAX_POS, D)
        layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation="gelu", norm_first=True,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, LAYERS, norm=nn.LayerNorm(D), enable_nested_tensor=False)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)

    def forward(self, ids):
        L = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(L))[None]
        if self.attention == "full":
            x = self.encoder(x, mask=nn.Transformer.generate_square_subsequent_mask(L))
        else:
            for layer in self.encoder.layers:   # nn.TransformerEncoderLayer, norm_first, attention swapped
                x = x + causal_linear(layer.self_attn, layer.norm1(x))
                x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
            x = self.encoder.norm(x)
        return F.linear(x, self.tok.weight)      # head tied to the embedding


def spec(name, vocab, attention):
    variant = "full" if attention == "full" else "linear"
    return f"""# examples/lm/{variant}/lm.xf — written by examples/lm/train.py
model {name} : TransformerEncoder {{
    n_layers = {LAYERS}
    n_heads = {HEADS}
    query_dimensions = {D // HEADS}
    value_dimensions = {D // HEADS}
    feed_forward_dimensions = {FF}
    activation = gelu
    normalization = pre
    causal = true
    attention_type = {attention}
    weights_prefix = "encoder."
    embedding {{
        vocab = {vocab}
        weight = "tok.weight"
        positions = learned("pos.weight")
        max_positions = {MAX_POS}
    }}
    head {{
        weight = embedding
    }}
}}

# the last layer's attention over one whole generation: xfc assembles the rows of every step
listen AttentionEvent & from_layer(layers[{LAYERS - 1}].attention.inner_attention) -> heatmap("attention_{variant}/{{source}}.png", head = all, sample = 0)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attention", choices=["full", "causal_linear"], required=True)
    ap.add_argument("--minutes", type=float, default=9.0)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    text = kjv_text()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    split = int(0.98 * len(data))
    train, val = data[:split], data[split:]
    with open(os.path.join(HERE, "vocab.txt"), "w") as f:
        f.write("".join(c + "\n" for c in chars))

    model = CharLM(len(chars), args.attention)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)

    def batch(src):
        i = torch.randint(0, len(src) - args.seq - 1, (args.batch,), generator=g)
        x = torch.stack([src[j:j + args.seq + 1] for j in i.tolist()])
        return x[:, :-1], x[:, 1:]

    # the budget is this process's CPU time (one thread): on a machine shared with other work the
    # model gets the same training whatever the load; the wall clock may run longer
    stop = []     # SIGUSR1: finish this step, then evaluate and write as if the budget were spent
    signal.signal(signal.SIGUSR1, lambda *_: stop.append(True))
    budget, start, step = args.minutes * 60, time.process_time(), 0
    while time.process_time() - start < budget and not stop:
        frac = (time.process_time() - start) / budget
        for group in opt.param_groups:    # warm-up, then cosine decay over the time budget
            group["lr"] = args.lr * min(1.0, (step + 1) / 30) * 0.5 * (1 + math.cos(math.pi * frac))
        x, y = batch(train)
        loss = F.cross_entropy(model(x).reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            print(f"step {step} cpu {time.process_time() - start:.0f}s loss {loss.item():.3f}", flush=True)
        step += 1
    model.eval()
    with torch.no_grad():
        vl = sum(F.cross_entropy(model(x).reshape(-1, len(chars)), y.reshape(-1)).item()
                 for x, y in (batch(val) for _ in range(10))) / 10
    print(f"{args.attention}: {step} steps, {(time.process_time() - start) / 60:.1f} min of CPU, "
          f"validation loss {vl:.3f} nats/char")

    out = os.path.join(HERE, "full" if args.attention == "full" else "linear")
    os.makedirs(out, exist_ok=True)
    sd = model.state_dict()
    tensors = {k: v for k, v in sd.items() if k.startswith("encoder.")}
    tensors["tok.weight"], tensors["pos.weight"] = sd["tok.weight"], sd["pos.weight"]
    write_safetensors(os.path.join(out, "weights.safetensors"), tensors, dtype="f16",
                      metadata={"producer": "examples/lm/train.py", "validation_loss": f"{vl:.3f}",
                                "steps": step})
    name = "lm_full" if args.attention == "full" else "lm_linear"
    with open(os.path.join(out, "lm.xf"), "w") as f:
        f.write(spec(name, len(chars), args.attention))
    torch.save(model.state_dict(), os.path.join(out, "model.pt.local"))   # not committed (.gitignore)


if __name__ == "__main__":
    main()
