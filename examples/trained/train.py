#!/usr/bin/env python3
"""train.py — trains a small torch nn.Transformer to reverse text, tokens in and
tokens out, and exports the whole model (embedding, positions, head) for xfc.

    /usr/bin/python3 examples/trained/train.py     # a few minutes of one CPU core

The model is PyTorch's translation-tutorial layout: one nn.Embedding for source and
target (characters: <pad>, <bos>, <eos>, space, a-z), torch's sinusoidal table as a
buffer, nn.Transformer (d_model 64, 4 heads, 2 + 2 layers, ff 128), an nn.Linear head.
It learns to write the source text reversed, then <eos>: to write output position t
the decoder reads source position n-1-t, so its cross-attention is an anti-diagonal.
Training uses teacher forcing over random "sentences" of 1-24 characters (letters and
spaces, padded sources); the check below decodes greedily, as xfc does.

scripts/export_torch.py exports the module whole (it finds the embedding, the
sinusoidal buffer, the head, and by running forward: no scale, causal decoder).
Writes next to this script: weights.safetensors, reverse.xf (+ listeners drawing the
generation's cross-attention), vocab.txt (line i = token i), expected.txt (PyTorch's greedy
reversals of four examples, which run.sh's output must equal).
`--reference` only rewrites expected.txt from the committed weights.
"""

import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.environ.get("OUT", HERE)      # where the results go
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import export_torch  # noqa: E402

VOCAB = ["<pad>", "<bos>", "<eos>", " "] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
PAD, BOS, EOS = 0, 1, 2
V = len(VOCAB)
MAX_LEN = 24                       # longest text
MAX_POS = 32
D_MODEL, HEADS, FF, LAYERS = 64, 4, 128, 2


class Reverser(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, D_MODEL)
        self.register_buffer("pe", export_torch.sinusoidal_table(MAX_POS, D_MODEL))
        self.transformer = nn.Transformer(D_MODEL, HEADS, LAYERS, LAYERS, FF, dropout=0.0, batch_first=True)
        self.head = nn.Linear(D_MODEL, V)

    def embedded(self, tokens):
        """Token embedding + position.  (No × sqrt(d_model): with nn.Embedding's N(0, 1) init
        that would drown the position, which is all the reversal needs to attend by.)"""
        return self.embed(tokens) + self.pe[: tokens.shape[1]]

    def forward(self, src, tgt_in):
        pad = src == PAD
        mask = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        y = self.transformer(self.embedded(src), self.embedded(tgt_in), tgt_mask=mask,
                             src_key_padding_mask=pad, memory_key_padding_mask=pad)
        return self.head(y)


def encode(text):
    return [VOCAB.index(c) for c in text]


def batch(n, gen):
    """Random texts of 1..MAX_LEN characters (letters, ~1 in 6 a space), padded."""
    lens = torch.randint(1, MAX_LEN + 1, (n,), generator=gen)
    chars = torch.randint(4, V, (n, MAX_LEN), generator=gen)
    spaces = torch.rand((n, MAX_LEN), generator=gen) < 0.17
    chars = torch.where(spaces, torch.full_like(chars, 3), chars)
    src = torch.full((n, MAX_LEN), PAD)
    out = torch.full((n, MAX_LEN + 1), PAD)
    for i, L in enumerate(lens.tolist()):
        src[i, :L] = chars[i, :L]
        out[i, :L] = chars[i, :L].flip(0)
        out[i, L] = EOS
    tgt_in = torch.cat([torch.full((n, 1), BOS), out[:, :-1]], 1)
    return src, tgt_in, out


def greedy(model, src, steps):
    """What xfc's --generate does: <bos>, then the argmax token each step, <eos> to the end."""
    ids = torch.full((src.shape[0], 1), BOS)
    done = torch.zeros(src.shape[0], dtype=torch.bool)
    for _ in range(steps):
        nxt = model(src, ids)[:, -1].argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, EOS), nxt)
        done |= nxt == EOS
        ids = torch.cat([ids, nxt[:, None]], 1)
    return ids


def text_of(ids):
    out = []
    for t in ids:
        if t == EOS:
            break
        if t != BOS:
            out.append(VOCAB[t])
    return "".join(out)


EXAMPLES = ["hello world", "abcdefghijklmnop", "the quick brown fox", "xfc generates"]


def write_expected(model):
    """expected.txt: PyTorch's greedy decoding of the examples, as run.sh prints xfc's."""
    with torch.no_grad(), open(os.path.join(OUT, "expected.txt"), "w") as f:
        for t in EXAMPLES:
            r = text_of(greedy(model, torch.tensor([encode(t)]), 25)[0].tolist())
            f.write(f"{t}  ->  {r}\n")
            print(f"{t!r} -> {r!r}{'' if r == t[::-1] else '   (WRONG)'}")


def reference():
    """--reference: expected.txt from the committed weights (no training)."""
    import json
    import struct
    with open(os.path.join(OUT, "weights.safetensors"), "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    sd = {k: torch.frombuffer(bytearray(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]),
                              dtype=torch.float32).reshape(v["shape"])
          for k, v in header.items() if k != "__metadata__"}
    model = Reverser().eval()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert missing == ["pe"] or not missing, missing    # the sinusoidal buffer: xfc computes it
    assert not unexpected, unexpected
    write_expected(model)


def main():
    if "--reference" in sys.argv:
        return reference()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1)
    model = Reverser()
    steps = int(os.environ.get("STEPS", "5000"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    t0 = time.process_time()
    for step in range(1, steps + 1):
        src, tgt_in, out = batch(64, gen)
        logits = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, V), out.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0:
            print(f"step {step:5d}  loss {loss.item():.4f}  ({time.process_time() - t0:.0f} s of CPU)", flush=True)

    model.eval()
    with torch.no_grad():
        src, _, out = batch(500, torch.Generator().manual_seed(2))
        got = greedy(model, src, MAX_LEN + 1)[:, 1:]
        exact = sum(text_of(g.tolist()) == text_of(o.tolist()) for g, o in zip(got, out)) / len(src)
        print(f"held-out exact reversals by greedy decoding: {exact:.3f}")
    write_expected(model)

    listeners = [
        "# the decoder's cross-attention, drawn from the generation's steps: output position t reads",
        "# source position n-1-t (an anti-diagonal)",
        'AttentionEvent & layer_name_contains("cross_attention") -> '
        'figure("cross_attention.png", head = 0, sample = 0, cols = 2)',
    ]
    export_torch.export_module(model, "reverse", os.path.join(OUT, "weights.safetensors"),
                               os.path.join(OUT, "reverse.xf"), whole=True,
                               source="examples/trained/train.py (nn.Transformer, reversal task)")
    with open(os.path.join(OUT, "reverse.xf"), "a") as f:
        f.write("\n")
        for l in listeners:
            f.write((l if l.startswith("#") else "listen " + l) + "\n")
    with open(os.path.join(OUT, "vocab.txt"), "w") as f:
        f.write("".join(t + "\n" for t in VOCAB))
    print(f"wrote weights.safetensors, reverse.xf, vocab.txt in {OUT}")


if __name__ == "__main__":
    main()
