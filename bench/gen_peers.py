#!/usr/bin/python3
"""PyTorch's ways of generating from a decoder-only LM, timed (driven by gen_bench.py).

usage: gen_peers.py CASE_DIR --mode recompute|kvcache|recurrent --prompt P --generate K
                    [--runs N] [--warmup W] [--output IDS.npy]

The model is the case's (gen_bench.py writes it): token embedding × sqrt(d_model)
+ sinusoidal positions, nn.TransformerEncoder (batch_first, post-norm, relu,
final LayerNorm), linear head with bias; weights from CASE_DIR/weights.safetensors.
Greedy decoding, batch 1, one thread, no early stop.

  recompute  what nn.TransformerEncoder users write: each new token runs the
             whole sequence again (eval + no_grad: torch's fused fast path), causal mask
  kvcache    eager PyTorch with a KV cache: a prefill over the prompt fills each
             layer's K and V; each step projects one token and attends over the cache
  recurrent  fast-transformers' recurrent causal-linear model in eager PyTorch
             (RecurrentLinearAttention: S += φ(k)⊗v, Z += φ(k), out = φ(q)S / (φ(q)·Z + eps));
             the prefill computes S and Z over the prompt in one parallel pass

Prints one JSON line: {"mode", "median_ms", "min_ms", "max_ms", "runs", "tokens",
"per_token_ms"} — per_token_ms the median over runs of the steps' mean time (no prefill).
"""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")       # before torch loads OpenBLAS / OpenMP
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def load(case):
    cfg = json.load(open(os.path.join(case, "case.json")))
    w = {k: torch.from_numpy(v) for k, v in bl.st_read(os.path.join(case, "weights.safetensors")).items()}
    d = cfg["d_model"]
    layer = nn.TransformerEncoderLayer(d, cfg["n_heads"], cfg["ff"], dropout=0.0, batch_first=True)
    enc = nn.TransformerEncoder(layer, cfg["n_layers"], norm=nn.LayerNorm(d), enable_nested_tensor=False)
    enc.load_state_dict({k[len("encoder."):]: v for k, v in w.items() if k.startswith("encoder.")}, strict=True)
    return cfg, w, enc.eval()


def sinusoidal(n, d):
    pe = torch.zeros(n, d)
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe


class Peer:
    def __init__(self, case):
        self.cfg, self.w, self.enc = load(case)
        self.d, self.H = self.cfg["d_model"], self.cfg["n_heads"]
        self.pe = sinusoidal(self.cfg["max_positions"], self.d)
        self.scale = math.sqrt(self.d)

    def embed(self, ids, start):
        return F.embedding(ids, self.w["tok.weight"]) * self.scale + self.pe[start:start + ids.shape[1]][None]

    def head(self, x):
        return F.linear(x, self.w["head.weight"], self.w["head.bias"])

    # -- recompute: the whole sequence for every token
    def recompute(self, prompt, K):
        ids, steps = prompt, []
        for _ in range(K):
            t = time.perf_counter()
            L = ids.shape[1]
            x = self.enc(self.embed(ids, 0), mask=nn.Transformer.generate_square_subsequent_mask(L))
            nxt = self.head(x[:, -1]).argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], 1)
            steps.append(time.perf_counter() - t)
        return ids, steps[1:]

    # -- one layer on new positions, given the attention of the block
    def layer(self, lay, x, attend):
        a = attend(lay, x)
        x = lay.norm1(x + a)
        return lay.norm2(x + lay.linear2(F.relu(lay.linear1(x))))

    def qkv(self, lay, x):
        N, L, _ = x.shape
        q, k, v = F.linear(x, lay.self_attn.in_proj_weight, lay.self_attn.in_proj_bias).split(self.d, -1)
        return (t.reshape(N, L, self.H, -1).transpose(1, 2) for t in (q, k, v))    # [N, H, L, E]

    def out(self, lay, o):
        N, H, L, E = o.shape
        return lay.self_attn.out_proj(o.transpose(1, 2).reshape(N, L, H * E))

    # -- KV cache
    def kvcache(self, prompt, K):
        caches = [None] * len(self.enc.layers)

        def attend_for(i):
            def attend(lay, x):
                q, k, v = self.qkv(lay, x)
                if caches[i] is not None:
                    k, v = torch.cat([caches[i][0], k], 2), torch.cat([caches[i][1], v], 2)
                caches[i] = (k, v)
                L, S = q.shape[2], k.shape[2]
                s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
                if L > 1:
                    s = s + torch.full((L, S), float("-inf")).triu(S - L + 1)
                return self.out(lay, s.softmax(-1) @ v)
            return attend
        return self.decode(prompt, K, attend_for)

    # -- fast-transformers' recurrent causal-linear state
    def recurrent(self, prompt, K):
        state = [None] * len(self.enc.layers)

        def attend_for(i):
            def attend(lay, x):
                q, k, v = self.qkv(lay, x)
                Q, Kf = F.elu(q) + 1, F.elu(k) + 1
                if x.shape[1] > 1:       # prefill: the parallel form, leaving S and Z of the prompt
                    S = torch.einsum("nhld,nhlm->nhldm", Kf, v).cumsum(2)
                    Z = Kf.cumsum(2)
                    o = torch.einsum("nhld,nhldm->nhlm", Q, S) / (torch.einsum("nhld,nhld->nhl", Q, Z)[..., None] + 1e-6)
                    state[i] = (S[:, :, -1], Z[:, :, -1])
                    return self.out(lay, o)
                Si, Zi = state[i]
                Q, Kf, v = Q[:, :, 0], Kf[:, :, 0], v[:, :, 0]          # RecurrentLinearAttention.forward
                Zi = Zi + Kf
                Si = Si + torch.einsum("nhd,nhm->nhdm", Kf, v)
                Z = 1. / (torch.einsum("nhd,nhd->nh", Q, Zi) + 1e-6)
                o = torch.einsum("nhd,nhdm,nh->nhm", Q, Si, Z)
                state[i] = (Si, Zi)
                return self.out(lay, o[:, :, None])
            return attend
        return self.decode(prompt, K, attend_for)

    def decode(self, prompt, K, attend_for):
        steps, ids, pos = [], prompt, 0
        x = self.embed(prompt, 0)
        for _ in range(K):
            t = time.perf_counter()
            for i, lay in enumerate(self.enc.layers):
                x = self.layer(lay, x, attend_for(i))
            nxt = self.head(self.enc.norm(x[:, -1])).argmax(-1, keepdim=True)
            pos = ids.shape[1]
            ids = torch.cat([ids, nxt], 1)
            x = self.embed(nxt, pos)
            steps.append(time.perf_counter() - t)
        return ids, steps[1:]      # steps[0] is the prefill


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--mode", choices=["recompute", "kvcache", "recurrent"], required=True)
    ap.add_argument("--prompt", type=int, default=256)
    ap.add_argument("--generate", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--output", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    peer = Peer(a.case)
    prompt = torch.from_numpy(np.load(os.path.join(a.case, "prompt.npy")).astype(np.int64))[:, :a.prompt]
    fn = getattr(peer, a.mode)
    times, per_token, ids = [], [], None
    with torch.no_grad():
        for r in range(a.warmup + a.runs):
            t = time.perf_counter()
            ids, steps = fn(prompt, a.generate)
            ms = (time.perf_counter() - t) * 1e3
            if r >= a.warmup:
                times.append(ms)
                per_token.append(1e3 * sum(steps) / max(1, len(steps)))
    if a.output:
        np.save(a.output, ids.numpy().astype(np.int32))
    print(json.dumps({"mode": a.mode, "median_ms": statistics.median(times), "min_ms": min(times),
                      "max_ms": max(times), "runs": a.runs, "tokens": a.generate, "prompt": prompt.shape[1],
                      "per_token_ms": statistics.median(per_token)}))


if __name__ == "__main__":
    main()
