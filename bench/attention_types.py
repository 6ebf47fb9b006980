#!/usr/bin/python3
"""attention_types.py — the time of one forward of a 1-layer fast-transformers
encoder in xfc, per attention type, at L = 1024 and 4096 (issue 13's closing
numbers: each type relative to full attention, in xfc itself).

    /usr/bin/python3 bench/attention_types.py [--xfc build/compiler/xfc] [--repeats 7]
                                              [TYPE[:setting=value,...] ...]

Default types: full, reformer (fast-transformers' defaults: chunk_size 32,
bits 63, rounds 4), linear.  The model: 4 heads × 64, d_model 256,
feed-forward 1024, random weights (fast_transformers names, bench/work/
attention_types/), batch 1; each binary is built with --release and run with
`--bench R` (median of R timed forwards after a warm-up).  Prints a Markdown
table: median ms and the ratio to full attention at the same L.
"""
import argparse
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import log, sh, st_write  # noqa: E402

H, E, FF = 4, 64, 1024
D = H * E


def weights(path, rng):
    t = {}
    for p in ("query", "key", "value", "out"):
        t[f"layers.0.attention.{p}_projection.weight"] = rng.standard_normal((D, D)) / np.sqrt(D)
        t[f"layers.0.attention.{p}_projection.bias"] = np.zeros(D)
    t["layers.0.linear1.weight"] = rng.standard_normal((FF, D)) / np.sqrt(D)
    t["layers.0.linear1.bias"] = np.zeros(FF)
    t["layers.0.linear2.weight"] = rng.standard_normal((D, FF)) / np.sqrt(FF)
    t["layers.0.linear2.bias"] = np.zeros(D)
    for n in ("layers.0.norm1", "layers.0.norm2", "norm"):
        t[n + ".weight"], t[n + ".bias"] = np.ones(D), np.zeros(D)
    st_write(path, t)


def spec(path, kind):
    name, _, extra = kind.partition(":")
    lines = [f"    {kv.replace('=', ' = ')}" for kv in extra.split(",") if kv]
    with open(path, "w") as f:
        f.write("model m : TransformerEncoder {\n    weights = fast_transformers\n    n_layers = 1\n"
                f"    n_heads = {H}\n    query_dimensions = {E}\n    value_dimensions = {E}\n"
                f"    feed_forward_dimensions = {FF}\n    attention_type = {name}\n"
                + "".join(line + "\n" for line in lines) + "}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xfc", default="build/compiler/xfc")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("types", nargs="*", default=["full", "reformer", "linear"])
    a = ap.parse_args()
    work = os.path.join("bench", "work", "attention_types")
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(0)
    w = os.path.join(work, "weights.safetensors")
    weights(w, rng)
    rows = {}
    for kind in a.types:
        tag = re.sub(r"[^A-Za-z0-9_]", "_", kind)
        s, b = os.path.join(work, tag + ".xf"), os.path.join(work, tag)
        spec(s, kind)
        rc, _, err = sh([a.xfc, "build", s, "-o", b, "--release"])
        if rc:
            sys.exit(f"attention_types: building {kind}: {err}")
        for L in (1024, 4096):
            x = os.path.join(work, f"x{L}.npy")
            if not os.path.exists(x):
                np.save(x, rng.standard_normal((1, L, D)).astype("<f4"))
            rc, out, err = sh([b, "--weights", w, "--input", x, "--bench", str(a.repeats)])
            m = re.search(r"median=([0-9.]+)", out)
            if rc or not m:
                sys.exit(f"attention_types: {kind} at L = {L}: {err or out}")
            rows[(kind, L)] = float(m.group(1))
            log(f"{kind} L={L}: {rows[(kind, L)]:.2f} ms")
    print("| attention | L = 1024 (ms) | vs full | L = 4096 (ms) | vs full |")
    print("|---|---|---|---|---|")
    for kind in a.types:
        cells = []
        for L in (1024, 4096):
            t, f = rows[(kind, L)], rows.get((a.types[0], L))
            cells += [f"{t:.2f}", f"{t / f:.2f}×" if f else "–"]
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
