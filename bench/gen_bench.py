#!/usr/bin/python3
"""Generation speed: xfc against PyTorch's three ways (issue 11's speed section).

    bench/run.sh --generate [--quick] [--xfc PATH]

Decoder-only LM: d_model 256 (4 heads × 64), 4 layers, ff 1024, vocab 1000, token
embedding × sqrt(d_model) + sinusoidal positions, post-norm relu, final LayerNorm,
head with bias; batch 1, one thread, prompt 256 + 256 greedy tokens (no early stop).
OPENBLAS_CORETYPE is unset and OMP/OPENBLAS/MKL_NUM_THREADS are 1 for every runner.

Rows (median of repeated whole generations, each runner in its own processes):
  full attention    xfc (--release, KV cache)  vs  PyTorch recomputing the sequence per
                    token (nn.TransformerEncoder)  and  eager PyTorch with a KV cache
  causal_linear     xfc (--release, recurrent state)  vs  eager PyTorch carrying
                    fast-transformers' recurrent state (S, Z)
Also: the time per token after 4096 tokens against after 64 (xfc: step_time.c times
each step of one process, both attention types; PyTorch's recurrent loop: its steps'
mean), and the step's weight-read rate against this machine's memory bandwidth
(stream_copy.c).  xfc's greedy ids are compared with PyTorch's.
Writes bench/work/generate.md (printed) and generate.json.
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from benchlib import log, sh  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORK = os.path.join(BENCH, "work", "generate")
PY = "/usr/bin/python3"
GEN_RE = re.compile(r"generate_ms\s+median=([0-9.eE+-]+)\s+min=([0-9.eE+-]+)\s+max=([0-9.eE+-]+)\s+runs=(\d+)"
                    r"\s+tokens=(\d+)")
CFG = dict(vocab=1000, d_model=256, n_heads=4, n_layers=4, ff=1024, max_positions=4700)
PROMPT, GEN = 256, 256


def make_case(d):
    """Deterministic weights (torch names), prompts of 64, 256 and 4096 tokens, the two specs."""
    os.makedirs(d, exist_ok=True)
    if os.path.exists(os.path.join(d, "case.json")) and json.load(open(os.path.join(d, "case.json"))) == CFG:
        return
    rng = np.random.default_rng(11)
    D, F, V = CFG["d_model"], CFG["ff"], CFG["vocab"]
    u = lambda *s, fan: rng.uniform(-1, 1, s).astype(np.float32) / math.sqrt(fan)  # noqa: E731
    w = {"tok.weight": rng.normal(0, 0.05, (V, D)).astype(np.float32),
         "head.weight": u(V, D, fan=D), "head.bias": u(V, fan=D)}
    for i in range(CFG["n_layers"]):
        p = f"encoder.layers.{i}."
        w.update({p + "self_attn.in_proj_weight": u(3 * D, D, fan=D), p + "self_attn.in_proj_bias": u(3 * D, fan=D),
                  p + "self_attn.out_proj.weight": u(D, D, fan=D), p + "self_attn.out_proj.bias": u(D, fan=D),
                  p + "linear1.weight": u(F, D, fan=D), p + "linear1.bias": u(F, fan=D),
                  p + "linear2.weight": u(D, F, fan=F), p + "linear2.bias": u(D, fan=F)})
        for n in ("norm1", "norm2"):
            w[p + n + ".weight"] = (1 + rng.normal(0, 0.1, D)).astype(np.float32)
            w[p + n + ".bias"] = rng.normal(0, 0.1, D).astype(np.float32)
    w["encoder.norm.weight"] = (1 + rng.normal(0, 0.1, D)).astype(np.float32)
    w["encoder.norm.bias"] = rng.normal(0, 0.1, D).astype(np.float32)
    bl.st_write(os.path.join(d, "weights.safetensors"), w)
    prompt = rng.integers(0, V, (1, 4096)).astype(np.int32)
    np.save(os.path.join(d, "prompt.npy"), prompt)
    for n in (64, 256, 4096):
        np.save(os.path.join(d, f"prompt{n}.npy"), prompt[:, :n])
    for att in ("full", "causal_linear"):
        with open(os.path.join(d, f"lm_{att}.xf"), "w") as f:
            f.write(spec(att))
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(CFG, f)


def spec(att):
    D, H = CFG["d_model"], CFG["n_heads"]
    return f"""# bench/gen_bench.py: the generation benchmark's LM ({att})
model lm_{att} : TransformerEncoder {{
    n_layers = {CFG['n_layers']}
    n_heads = {H}
    query_dimensions = {D // H}
    value_dimensions = {D // H}
    feed_forward_dimensions = {CFG['ff']}
    causal = true
    attention_type = {att}
    weights_prefix = "encoder."
    embedding {{
        vocab = {CFG['vocab']}
        weight = "tok.weight"
        scale = sqrt_d_model
        positions = sinusoidal
        max_positions = {CFG['max_positions']}
    }}
    head {{
        weight = "head.weight"
        bias = "head.bias"
    }}
}}
"""


def weight_bytes():
    """float32 bytes a step reads: every layer's matrices and the head (embedding: one row)."""
    D, F, V = CFG["d_model"], CFG["ff"], CFG["vocab"]
    per_layer = 3 * D * D + D * D + 2 * D * F
    return 4 * (CFG["n_layers"] * per_layer + V * D)


def run_xfc(binary, d, prompt, gen, runs, env, out=None):
    cmd = [binary, "--weights", os.path.join(d, "weights.safetensors"), "--input",
           os.path.join(d, f"prompt{prompt}.npy"), "--generate", str(gen), "--threads", "1"]
    cmd += ["--output", out] if out else ["--bench", str(runs)]
    rc, so, se = sh(cmd, env)
    if rc != 0:
        return {"error": f"exit {rc}: {(se or so).strip().splitlines()[-1:]}"}
    if out:
        return {"out": out}
    m = None
    for line in (so + se).splitlines():
        m = GEN_RE.search(line) or m
    if not m:
        return {"error": f"no generate_ms line in: {(so + se).strip()[-200:]}"}
    return {"median_ms": float(m.group(1)), "min_ms": float(m.group(2)), "max_ms": float(m.group(3)),
            "runs": int(m.group(4)), "tokens": int(m.group(5))}


def run_peer(d, mode, prompt, gen, runs, env, out=None):
    cmd = [PY, os.path.join(BENCH, "gen_peers.py"), d, "--mode", mode, "--prompt", str(prompt), "--generate",
           str(gen), "--runs", str(runs)]
    if out:
        cmd += ["--output", out]
    rc, so, se = sh(cmd, env)
    if rc != 0:
        return {"error": f"exit {rc}: {se.strip().splitlines()[-1:]}"}
    return json.loads(so.strip().splitlines()[-1])


def rounds(fn, n):
    """n separate processes; the median of their medians."""
    rs = [fn() for _ in range(n)]
    ok = [r for r in rs if "error" not in r]
    if not ok:
        return rs[0]
    r = dict(ok[-1])
    r["median_ms"] = statistics.median(x["median_ms"] for x in ok)
    r["min_ms"] = min(x["min_ms"] for x in ok)
    if all("per_token_ms" in x for x in ok):
        r["per_token_ms"] = statistics.median(x["per_token_ms"] for x in ok)
    return r


STEP_PROMPTS, STEPS = (64, 4096), 512   # 4096 + 512 <= max_positions 4700


def build_step_probe(xfc, d, att, env):
    """bench/step_time.c linked with the `xfc emit --release` C of lm_ATT.xf -> path or an error string."""
    out, name = os.path.join(WORK, f"step_time_{att}"), f"lm_{att}"
    e = bl.link_emitted(xfc, os.path.join(d, f"{name}.xf"), name, os.path.join(WORK, f"{name}_src"),
                        [os.path.join(BENCH, "step_time.c")], out, env,
                        defines=[f"-DMODEL={name}", f'-DMODEL_H="{name}.h"'])
    if e:
        log(f"step_time {att}: {e}")
    return "error: " + e if e else out


def run_step_probe(probe, d, P, env):
    rc, so, se = sh([probe, os.path.join(d, "weights.safetensors"), os.path.join(d, "prompt.npy"), str(P),
                     str(STEPS)], env)
    if rc != 0:
        return {"error": f"exit {rc}: " + " ".join((se or so).strip().splitlines()[-1:])}
    return json.loads(so.strip().splitlines()[-1])


def step_summary(rs):
    """Processes' step_time lines -> medians of their medians (wall, CPU), min of minima (µs)."""
    ok = [r for r in rs if "error" not in r]
    if not ok:
        return rs[0] if rs else {"error": "not run"}
    return {"step_us": statistics.median(r["step_us"] for r in ok), "step_cpu_us":
            statistics.median(r["step_cpu_us"] for r in ok), "step_us_min": min(r["step_us_min"] for r in ok),
            "prefill_ms": statistics.median(r["prefill_ms"] for r in ok), "processes": len(ok),
            "steps": ok[0]["steps"], "spread_us": [min(r["step_us"] for r in ok), max(r["step_us"] for r in ok)]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generate", action="store_true", help="(bench/run.sh's switch to this script)")
    ap.add_argument("--quick", action="store_true", help="one round, few runs")
    ap.add_argument("--xfc", default=os.environ.get("XFC", os.path.join(ROOT, "build", "compiler", "xfc")))
    ap.add_argument("--no-peers", action="store_true")
    a = ap.parse_args()
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = "1"
    q = a.quick
    R = 1 if q else 3
    d = os.path.join(WORK, "case")
    make_case(d)
    res = {"config": CFG, "weight_bytes": weight_bytes(), "load": os.getloadavg()}
    log(f"generation bench: prompt {PROMPT} + {GEN} tokens, batch 1, 1 thread, OPENBLAS_CORETYPE unset; "
        f"load {os.getloadavg()[0]:.1f}")

    # xfc binaries
    bins = {}
    for att in ("full", "causal_linear"):
        b = os.path.join(WORK, f"lm_{att}")
        rc, so, se = sh([a.xfc, "build", os.path.join(d, f"lm_{att}.xf"), "-o", b, "--release"], env)
        bins[att] = b if rc == 0 else None
        if rc:
            log(f"xfc build lm_{att}: {(se or so).strip()[:300]}")
    for att, b in bins.items():
        if b:
            res[f"xfc_{att}"] = rounds(lambda: run_xfc(b, d, PROMPT, GEN, 2 if q else 10, env), R)
            log(f"  xfc {att}: {res[f'xfc_{att}']}")
            run_xfc(b, d, PROMPT, GEN, 0, env, out=os.path.join(WORK, f"ids_xfc_{att}.npy"))
    if not a.no_peers:
        for mode, runs in (("recompute", 1 if q else 2), ("kvcache", 3 if q else 10), ("recurrent", 3 if q else 10)):
            res[f"torch_{mode}"] = rounds(lambda: run_peer(d, mode, PROMPT, GEN, runs, env,
                                                           out=os.path.join(WORK, f"ids_torch_{mode}.npy")), R)
            log(f"  torch {mode}: {res[f'torch_{mode}']}")

    # time per token after P = 64 and 4096 prompt tokens: step_time.c times each step in one
    # process (prefill untimed); several processes, interleaved, median of their medians
    probes = {att: build_step_probe(a.xfc, d, att, env) for att in ("full", "causal_linear")}
    runs = {(att, P): [] for att in probes for P in STEP_PROMPTS}
    for _ in range(3 if q else 7):
        for P in STEP_PROMPTS:
            for att, probe in probes.items():
                if not probe.startswith("error: "):
                    runs[att, P].append(run_step_probe(probe, d, P, env))
    res["xfc_step"] = {att: {"error": probe[len("error: "):]} if probe.startswith("error: ") else
                       {P: step_summary(runs[att, P]) for P in STEP_PROMPTS} for att, probe in probes.items()}
    log(f"  xfc step (µs): {res['xfc_step']}")
    if not a.no_peers:
        res["torch_recurrent_per_token_ms"] = {
            P: rounds(lambda: run_peer(d, "recurrent", P, 129, 3, env), R).get("per_token_ms") for P in (64, 4096)}

    # memory bandwidth: arrays far past the caches, and of the weights' size (what the caches can
    # keep of them between steps)
    sc = os.path.join(WORK, "stream_copy")
    rc, so, se = sh(["cc", "-O2", "-o", sc, os.path.join(BENCH, "stream_copy.c")], env)
    res["weights_mib"] = max(1, round(weight_bytes() / 2**20))
    for mib, key in ((256, ""), (res["weights_mib"], "_w")):
        best = None
        for _ in range(1 if q else 3):   # best of processes: another program's burst only lowers a rate
            so = sh([sc, str(mib)], env)[1] if rc == 0 else ""
            m = re.search(r"copy_gbs=([0-9.]+) read_gbs=([0-9.]+)", so)
            if m and (best is None or float(m.group(2)) > best[1]):
                best = (float(m.group(1)), float(m.group(2)))
        if best:
            res["copy" + key + "_gbs"], res["read" + key + "_gbs"] = best

    # greedy ids agree?
    agree = {}
    for att, peer in (("full", "kvcache"), ("full", "recompute"), ("causal_linear", "recurrent")):
        x, t = os.path.join(WORK, f"ids_xfc_{att}.npy"), os.path.join(WORK, f"ids_torch_{peer}.npy")
        if os.path.exists(x) and os.path.exists(t):
            xi, ti = np.load(x), np.load(t)
            same = int((xi[:, PROMPT:] == ti[:, PROMPT:]).cumprod(axis=1).sum()) if xi.shape == ti.shape else 0
            agree[f"{att} vs {peer}"] = f"{same}/{GEN} leading tokens equal"
    res["agree"] = agree
    md = report(res)
    with open(os.path.join(WORK, "..", "generate.md"), "w") as f:
        f.write(md)
    with open(os.path.join(WORK, "..", "generate.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)
    print(md)
    return 0


def report(res):
    def ms(k):
        r = res.get(k)
        return None if not r or "error" in r else r["median_ms"]

    L = ["## Generation: prompt 256 + 256 tokens, batch 1, 1 thread",
         "", f"Decoder-only LM d_model 256, 4 layers, ff 1024, vocab 1000; OPENBLAS_CORETYPE unset; "
         f"load average at start {res['load'][0]:.1f}.", "",
         "| runner | generate ms (median) | xfc is × faster |", "|---|---:|---:|"]
    for att, peers in (("full", ("recompute", "kvcache")), ("causal_linear", ("recurrent",))):
        x = ms(f"xfc_{att}")
        L.append(f"| xfc {att} (`--generate 256 --bench`) | {x:.1f} |  |" if x else
                 f"| xfc {att} | {res.get(f'xfc_{att}', {}).get('error', 'not built')} | |")
        for p in peers:
            t = ms(f"torch_{p}")
            if t is not None:
                L.append(f"| PyTorch {p} | {t:.1f} | {t / x:.1f}× |" if x else f"| PyTorch {p} | {t:.1f} | |")
    L += step_table(res)
    if res.get("agree"):
        L += ["", "Greedy ids: " + "; ".join(f"{k}: {v}" for k, v in res["agree"].items()) +
              " (random weights: a near-tie can flip a late token between float orders)."]
    return "\n".join(L) + "\n"


def step_table(res):
    """The time per generated token after 64 and after 4096 prompt tokens, and the weight-read rate."""
    st, wb = res.get("xfc_step") or {}, res["weight_bytes"]
    rd, rdw, wm = res.get("read_gbs"), res.get("read_w_gbs"), max(1, round(wb / 2**20))
    L = ["", f"### Time per token: {STEPS} steps after a P-token prefill, each step timed alone (`step_time.c`)", "",
         "Greedy (each step fed the previous step's argmax); µs wall clock, process CPU time in brackets; the median "
         "over processes (P = 64 and 4096 interleaved) of each process's median step.  A step reads "
         f"{wb / 1e6:.1f} MB of float32 weights (head included); weights GB/s = that / the step after 64, "
         "against `stream_copy.c`'s read-only sweeps (below).  Full attention's steps attend over P … P + "
         f"{STEPS - 1} cached positions.", "",
         "| xfc step | after 64: µs | after 4096: µs | 4096 / 64 | weights GB/s | ÷ read 256 MiB "
         f"| ÷ read {wm} MiB |",
         "|---|---:|---:|---:|---:|---:|---:|"]
    for att, note in (("causal_linear", " (goal: ratio ≤ 1.2)"), ("full", " (the KV cache grows)")):
        r = st.get(att) or {"error": "not run"}
        a, b = r.get(64, {}), r.get(4096, {})
        if "error" in r or "error" in a or "error" in b:
            L.append(f"| {att}{note} | {r.get('error') or a.get('error') or b.get('error')} | | | | | |")
            continue
        gbs = wb / (a["step_us"] * 1e-6) / 1e9
        L.append(f"| {att}{note} | {a['step_us']:.1f} ({a['step_cpu_us']:.1f}) | "
                 f"{b['step_us']:.1f} ({b['step_cpu_us']:.1f}) | {b['step_us'] / a['step_us']:.2f} "
                 f"({b['step_cpu_us'] / a['step_cpu_us']:.2f}) | {gbs:.1f} | "
                 + (f"{gbs / rd:.2f}× | " if rd else "| ") + (f"{gbs / rdw:.2f}× |" if rdw else "|"))
    tp = res.get("torch_recurrent_per_token_ms") or {}
    if tp.get(64) and tp.get(4096):
        L += ["", f"PyTorch recurrent per token (its steps' mean): after 64 {1e3 * tp[64]:.1f} µs, after 4096 "
              f"{1e3 * tp[4096]:.1f} µs (ratio {tp[4096] / tp[64]:.2f})."]
    if rd:
        L += ["", f"Memory bandwidth (`stream_copy.c`, one thread, best of 7 sweeps): read-only {rd:.1f} GB/s over "
              f"256 MiB (copy {res['copy_gbs']:.1f} GB/s read + write)"
              + (f", {rdw:.1f} GB/s over {wm} MiB (the weights' size, swept again and again as the steps read "
                 "them)" if rdw else "") + "."]
    return L


if __name__ == "__main__":
    sys.exit(main())
