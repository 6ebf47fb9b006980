#!/usr/bin/python3
"""reference.py — PyTorch's greedy continuation of the LMs, from the committed weights.

    /usr/bin/python3 examples/lm/reference.py

Loads <variant>/weights.safetensors (float16, read back as float32: exactly the numbers
xfc computes with) into train.py's CharLM, decodes greedily by recomputing the whole
sequence for each token, and writes <variant>/expected.txt: the K greedy characters after
PROMPT, one line — what `BIN --vocab vocab.txt --text PROMPT --generate K` prints.  The
ctest test example.lm checks that xfc prints the same.
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import benchlib  # noqa: E402  (safetensors reader: F16 → float32)
import train  # noqa: E402

PROMPT = "And God said unto Moses, "
K = 60


def main():
    torch.set_num_threads(1)
    vocab = [line[:-1] for line in open(os.path.join(HERE, "vocab.txt"))]
    prompt = torch.tensor([[vocab.index(c) for c in PROMPT]])
    for variant, attention in (("full", "full"), ("linear", "causal_linear")):
        w = benchlib.st_read(os.path.join(HERE, variant, "weights.safetensors"))
        model = train.CharLM(len(vocab), attention).eval()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()}, strict=True)
        ids, margin = prompt, float("inf")
        with torch.no_grad():
            for _ in range(K):
                last = model(ids)[:, -1]
                top2 = last.topk(2, -1).values[0]
                margin = min(margin, float(top2[0] - top2[1]))
                ids = torch.cat([ids, last.argmax(-1, keepdim=True)], 1)
        text = "".join(vocab[t] for t in ids[0, prompt.shape[1]:].tolist())
        with open(os.path.join(HERE, variant, "expected.txt"), "w") as f:
            f.write(text + "\n")
        print(f"{variant} (smallest top-2 margin {margin:.3g}): {PROMPT}"
              + "".join(vocab[t] for t in ids[0, prompt.shape[1]:].tolist()))


if __name__ == "__main__":
    main()
