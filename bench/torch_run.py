#!/usr/bin/python3
"""Time PyTorch's nn.TransformerEncoder on a case.

usage: torch_run.py CASE_DIR --threads T --runs N [--warmup W] [--need-weights]
                    [--trivial] [--output Y.npy]

Loads weights.safetensors into nn.TransformerEncoder (batch_first, eval,
torch.no_grad(): the fused fast path is taken where torch takes it), runs W
warm-up and N timed forwards on input.npy and prints one JSON line:
  {"runner": "torch", "median_ms": …, "min_ms": …, "max_ms": …, "runs": N, …}

--need-weights: the way users get attention weights out of torch today (the
  fast-transformers seeds' method): every layer's `_sa_block` is overridden to
  call self_attn with need_weights=True, average_attn_weights=False and hand the
  [N,H,L,S] matrix to a Python callback that sums it; forward is overridden too,
  because the fused eval fast path would otherwise skip `_sa_block` silently.
--trivial: a [1,1,D] input (trivial.npy) instead: measures the load cost.
"""
import os
import sys

_T = "1"
if "--threads" in sys.argv:
    _T = sys.argv[sys.argv.index("--threads") + 1]
# before numpy/torch load OpenBLAS/OpenMP: torch.set_num_threads does not reach
# OpenBLAS's own pthread pool (Debian's torch calls OpenBLAS for its GEMMs)
os.environ.setdefault("OMP_NUM_THREADS", _T)
os.environ.setdefault("OPENBLAS_NUM_THREADS", _T)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


class NeedWeightsLayer(nn.TransformerEncoderLayer):
    """The seeds' override: keep attention weights from `_sa_block`."""
    on_attention = None  # set per instance: callable(weights [N,H,L,S])

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        x = src  # the unfused path of nn.TransformerEncoderLayer.forward (1.13)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask):
        x, w = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                              need_weights=True, average_attn_weights=False)
        self.on_attention(w)
        return self.dropout1(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--need-weights", action="store_true")
    ap.add_argument("--trivial", action="store_true")
    ap.add_argument("--output")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t_load = time.perf_counter()   # load = read the weights + build the module (the "load" row)
    m = bl.build_torch(bl.GS, bl.st_read(os.path.join(a.case, "weights.safetensors")))
    load_ms = (time.perf_counter() - t_load) * 1e3
    acc = {"calls": 0, "sum": 0.0}
    if a.need_weights:
        def on_attention(w):  # touch the matrix, as bench/on_attention.c does
            acc["calls"] += 1
            acc["sum"] += float(w.sum())
        for layer in m.layers:
            layer.__class__ = NeedWeightsLayer
            layer.on_attention = on_attention
    x = torch.from_numpy(np.load(os.path.join(a.case, "trivial.npy" if a.trivial else "input.npy")))
    times = []
    with torch.no_grad():
        for _ in range(a.warmup):
            y = m(x)
        for _ in range(a.runs):
            t0 = time.perf_counter()
            y = m(x)
            times.append((time.perf_counter() - t0) * 1e3)
    if a.output:
        np.save(a.output, y.numpy().astype("<f4"))
    r = {"runner": "torch", "threads": a.threads, "median_ms": statistics.median(times),
         "min_ms": min(times), "max_ms": max(times), "runs": a.runs,
         "need_weights": a.need_weights, "trivial": a.trivial, "load_ms": load_ms}
    if a.need_weights:
        N, L = x.shape[0], x.shape[1]
        calls = acc["calls"]
        r["attention_calls"] = calls
        r["attention_sum_rel_err"] = abs(acc["sum"] - calls * N * bl.GS["n_heads"] * L) / max(1, calls * N * bl.GS["n_heads"] * L)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
