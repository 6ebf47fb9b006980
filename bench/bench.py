#!/usr/bin/python3
"""xfc vs PyTorch vs ONNX Runtime on this machine (driven by bench/run.sh).

See bench/README.md.  Writes bench/work/results.md (printed too) and
bench/work/results.json.  Exit status: 0, or 2 when an xfc output differs from
PyTorch's by more than the tolerance (a fast wrong answer is a failure).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from benchlib import log, sh  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORK = os.path.join(BENCH, "work")
PY = "/usr/bin/python3"
TOL = 1e-4          # SPEC §7: outputs within 1e-4 absolute of PyTorch
FORWARD_RE = re.compile(r"forward_ms\s+median=([0-9.eE+-]+)\s+min=([0-9.eE+-]+)\s+max=([0-9.eE+-]+)\s+runs=(\d+)")

# shapes: name -> (batch, seq)
SHAPES = {"b10_s100": (10, 100), "b1_s16": (1, 16), "b1_s4096": (1, 4096)}

# (full, quick) repetitions: rounds (separate processes, interleaved runners) and timed runs per process
REPS = {
    "b10_s100": {"rounds": (3, 1), "runs": (30, 5), "warmup": (3, 1)},
    "b1_s16": {"rounds": (3, 1), "runs": (300, 30), "warmup": (20, 5)},
    # ONNX Runtime's first two runs at this shape take ~4× longer (arena growth): 2 warm-ups
    "b1_s4096": {"rounds": (3, 1), "runs": (3, 1), "warmup": (2, 2)},
}


def first_lines(text, n=6):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join("    " + ln for ln in lines[:n])


def timed(cmd, env, measure_rss):
    """Run cmd, optionally under /usr/bin/time -f %M; -> (rc, out, err, maxrss_kib|None)."""
    if not measure_rss:
        rc, out, err = sh(cmd, env)
        return rc, out, err, None
    rss_file = os.path.join(WORK, ".maxrss")
    rc, out, err = sh(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd, env)
    rss = None
    try:
        with open(rss_file) as f:
            vals = [ln.strip() for ln in f if ln.strip().isdigit()]
        rss = int(vals[-1]) if vals else None
    except OSError:
        pass
    return rc, out, err, rss


def max_abs_diff(path, ref):
    try:
        y = np.load(path)
    except Exception as e:  # noqa: BLE001
        return None, f"cannot read {path}: {e}"
    r = np.load(ref)
    if y.shape != r.shape:
        return None, f"shape {tuple(y.shape)} != reference {tuple(r.shape)}"
    if not np.all(np.isfinite(y)):
        return float("inf"), "non-finite values"
    return float(np.max(np.abs(y.astype(np.float64) - r.astype(np.float64)))), None


# ---- runners: each returns a dict {median_ms, min_ms, max_ms, runs, rss_kib?, out?} or {error} ----

def run_xfc(binary, data, threads, runs, env, trivial=False, measure_rss=False, out=None):
    x = os.path.join(data, "trivial.npy" if trivial else "input.npy")
    y = out or os.path.join(WORK, ".xfc_out.npy")
    cmd = [binary, "--weights", os.path.join(data, "weights.safetensors"), "--input", x,
           "--output", y, "--threads", str(threads), "--bench", str(runs)]
    rc, so, se, rss = timed(cmd, env, measure_rss)
    if rc != 0:
        return {"error": f"exit {rc}: " + (se.strip().splitlines() or ["?"])[-1]}
    lines = [ln for ln in so.strip().splitlines() if ln.strip()]
    m = FORWARD_RE.search(lines[-1]) if lines else None
    note = None
    if not m:  # SPEC §4: it must be the last line of stdout; be lenient but say so
        allm = FORWARD_RE.findall(so + "\n" + se)
        if not allm:
            return {"error": "no 'forward_ms median=… min=… max=… runs=…' line in its output"}
        m_vals = allm[-1]
        note = "forward_ms line was not the last line of stdout (SPEC §4)"
    else:
        m_vals = m.groups()
    r = {"median_ms": float(m_vals[0]), "min_ms": float(m_vals[1]), "max_ms": float(m_vals[2]),
         "runs": int(m_vals[3]), "rss_kib": rss, "out": y, "stderr": se}
    if note:
        r["note"] = note
    return r


def run_torch(data, threads, runs, warmup, env, trivial=False, measure_rss=False, need_weights=False, out=None):
    cmd = [PY, os.path.join(BENCH, "torch_run.py"), data, "--threads", str(threads),
           "--runs", str(runs), "--warmup", str(warmup)]
    if trivial:
        cmd.append("--trivial")
    if need_weights:
        cmd.append("--need-weights")
    if out:
        cmd += ["--output", out]
    return _json_runner(cmd, env, measure_rss, out)


def run_ort(data, threads, runs, warmup, env, trivial=False, measure_rss=False, out=None):
    cmd = ["node", os.path.join(BENCH, "ort_run.js"), data, "--threads", str(threads),
           "--runs", str(runs), "--warmup", str(warmup)]
    if trivial:
        cmd.append("--trivial")
    if out:
        cmd += ["--output", out]
    return _json_runner(cmd, env, measure_rss, out)


def _json_runner(cmd, env, measure_rss, out):
    rc, so, se, rss = timed(cmd, env, measure_rss)
    if rc != 0:
        return {"error": f"exit {rc}: " + (se.strip().splitlines() or ["?"])[-1]}
    try:
        r = json.loads(so.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": "unparsable output: " + so[-200:]}
    r["rss_kib"] = rss
    r["out"] = out
    return r


# ---- aggregation ----------------------------------------------------------------

def combine(results):
    """Per-round results -> {median_ms: median of round medians, min_ms, rounds, rss…}."""
    ok = [r for r in results if "error" not in r]
    if not ok:
        return {"error": results[0]["error"] if results else "not run"}
    c = {"median_ms": statistics.median(r["median_ms"] for r in ok),
         "min_ms": min(r["min_ms"] for r in ok),
         "round_medians": [round(r["median_ms"], 3) for r in ok],
         "runs": sum(r["runs"] for r in ok)}
    rss = [r["rss_kib"] for r in ok if r.get("rss_kib")]
    if rss:
        c["rss_kib"] = max(rss)
    for k in ("attention_calls", "attention_sum_rel_err", "note", "first_forward_ms", "forward_ms"):
        if k in ok[-1]:
            c[k] = ok[-1][k]
    return c


def fmt_ms(r):
    if r is None:
        return "—"
    if "error" in r:
        return "n/a"
    v = r["median_ms"]
    return f"{v:.3f}" if v < 10 else f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def mib(kib):
    return kib / 1024.0


def machine_info():
    info = {}
    rc, so, _ = sh(["lscpu"])
    for ln in so.splitlines():
        k, _, v = ln.partition(":")
        info[k.strip()] = v.strip()
    flags = info.get("Flags", "")
    return {"model": info.get("Model name", "?"), "cpus": os.cpu_count(),
            "cores_per_socket": info.get("Core(s) per socket", "?"),
            "threads_per_core": info.get("Thread(s) per core", "?"),
            "avx512f": "avx512f" in flags.split(), "loadavg": os.getloadavg()}


def sgemm_peaks(env):
    """Build bench/sgemm_peak.c and run it with the benchmark's environment,
    with OPENBLAS_CORETYPE unset and with SkylakeX."""
    exe = os.path.join(WORK, "sgemm_peak")
    rc, so, se = sh(["cc", "-O2", os.path.join(BENCH, "sgemm_peak.c"), "-o", exe, "-lopenblas"])
    if rc != 0:
        log("sgemm_peak: build failed (needs libopenblas-dev):\n" + first_lines(se))
        return []
    variants = [("as run", dict(env))]
    e = dict(env)
    e.pop("OPENBLAS_CORETYPE", None)
    variants.append(("unset", e))
    variants.append(("SkylakeX", dict(env, OPENBLAS_CORETYPE="SkylakeX")))
    out, seen = [], set()
    for label, e in variants:
        key = e.get("OPENBLAS_CORETYPE")
        if key in seen:
            continue
        seen.add(key)
        rc, so, se = sh([exe], e)
        m = re.search(r"core=(\S+) gflops median=([0-9.]+) best=([0-9.]+)", so)
        if rc != 0 or not m:
            log(f"sgemm_peak ({label}): failed: {first_lines(se or so)}")
            continue
        row = {"label": label, "coretype_env": key or "(unset)", "core": m.group(1),
               "gflops": float(m.group(2)), "best": float(m.group(3))}
        log(f"sgemm_peak: OPENBLAS_CORETYPE={row['coretype_env']}: kernel {row['core']}, "
            f"{row['gflops']:.1f} GFLOP/s (best {row['best']:.1f})")
        out.append(row)
    return out


def fma_peak(env):
    """Build and run bench/fma_peak.c: one core's FP32 FMA ceiling (GFLOP/s), or None."""
    exe = os.path.join(WORK, "fma_peak")
    rc, so, se = sh(["cc", "-O2", "-march=native", os.path.join(BENCH, "fma_peak.c"), "-o", exe])
    if rc != 0:
        log("fma_peak: build failed:\n" + first_lines(se))
        return None
    rc, so, se = sh([exe], env)
    m = re.search(r"width=(\d+) bits.*gflops median=([0-9.]+) best=([0-9.]+)", so)
    if rc != 0 or not m:
        log(f"fma_peak: failed: {first_lines(se or so)}")
        return None
    row = {"bits": int(m.group(1)), "gflops": float(m.group(2)), "best": float(m.group(3))}
    log(f"fma_peak: {row['bits']}-bit FMAs, {row['gflops']:.1f} GFLOP/s (best {row['best']:.1f})")
    return row


def build_xfc(xfc, env):
    """-> {spec: binary path or {'error': …}}"""
    bins = {}
    if not (os.path.isfile(xfc) and os.access(xfc, os.X_OK)):
        log(f"*** xfc compiler not found at {xfc} — build the repo first "
            f"(cmake -S . -B build && cmake --build build) or pass --xfc PATH; timing the peers only")
        return {"gs": {"error": "xfc not built", "quiet": True}, "gs_attn": {"error": "xfc not built", "quiet": True}}
    jobs = {
        "gs": [xfc, "build", os.path.join(BENCH, "specs", "gs.xf"), "-o", os.path.join(WORK, "gs"), "--release"],
        "gs_attn": [xfc, "build", os.path.join(BENCH, "specs", "gs_attn.xf"), "-o", os.path.join(WORK, "gs_attn"),
                    "--link", os.path.join(BENCH, "on_attention.c")],
    }
    for name, cmd in jobs.items():
        t0 = time.time()
        rc, so, se = sh(cmd, env)
        if rc != 0 or not os.path.isfile(cmd[4]):
            msg = f"`{' '.join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd)}` failed (exit {rc})"
            log(f"*** xfc build of {name}: {msg}\n{first_lines(se or so)}")
            bins[name] = {"error": msg + ": " + ((se or so).strip().splitlines() or ["?"])[0], "quiet": True}
        else:
            log(f"xfc: built bench/work/{name} in {time.time() - t0:.1f} s")
            bins[name] = cmd[4]
    return bins


def build_load_probe(xfc, env):
    """bench/load_time.c on the C of specs/gs.xf (`xfc emit --release`), linked as xfc links
    a model (its build tree's xfc_config.h): times gs_load in-process. -> path or {'error'}"""
    out = os.path.join(WORK, "gs_load")
    e = bl.link_emitted(xfc, os.path.join(BENCH, "specs", "gs.xf"), "gs", os.path.join(WORK, "gs_load_src"),
                        [os.path.join(BENCH, "load_time.c")], out, env)
    return {"error": "load probe: " + e} if e else out


def run_load_xfc(probe, data, env, processes=5):
    """gs_load's time, then the first and the median b1×L16 forward, in one process; the
    medians over `processes` processes (one load is a few ms: a single one is mostly noise)."""
    rs = []
    for _ in range(processes):
        rc, so, se = sh([probe, os.path.join(data, "weights.safetensors"), "1", "50"], env)
        if rc != 0:
            return {"error": f"exit {rc}: " + (se.strip().splitlines() or ["?"])[-1]}
        rs.append(json.loads(so.strip().splitlines()[-1]))
    med = {k: statistics.median(r[k] for r in rs) for k in ("load_ms", "first_forward_ms", "forward_ms")}
    return {"median_ms": med["load_ms"], "min_ms": min(r["load_ms"] for r in rs), "runs": processes,
            "first_forward_ms": med["first_forward_ms"], "forward_ms": med["forward_ms"]}


def load_only(r):
    """A peer's run reduced to its load time (the runner's load_ms)."""
    if "error" in r or "load_ms" not in r:
        return {"error": r.get("error", "no load_ms reported")}
    return {"median_ms": r["load_ms"], "min_ms": r["load_ms"], "runs": 1}


# ---- main -----------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few repetitions: a smoke run (< 2 min)")
    ap.add_argument("--xfc", default=os.environ.get("XFC", os.path.join(ROOT, "build", "compiler", "xfc")),
                    help="the xfc compiler (default: build/compiler/xfc, or $XFC)")
    ap.add_argument("--coretype", default="unset",
                    help="OPENBLAS_CORETYPE for every runner: 'unset' (default: every OPENBLAS_* "
                         "variable removed, as a user's machine has none), 'inherit' (as in this "
                         "environment), or a value such as SkylakeX")
    ap.add_argument("--no-peers", action="store_true", help="time xfc only (still checks against PyTorch)")
    a = ap.parse_args()
    q = 1 if a.quick else 0
    t_start = time.time()
    os.makedirs(WORK, exist_ok=True)

    env = dict(os.environ)
    if a.coretype == "unset":
        for k in [k for k in env if k.startswith("OPENBLAS_")]:
            env.pop(k)
    elif a.coretype != "inherit":
        env["OPENBLAS_CORETYPE"] = a.coretype
    # threads are chosen per run (--threads / set_num_threads / intraOpNumThreads); no
    # ambient thread-count variable may decide it behind a runner's back
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(k, None)
    coretype = env.get("OPENBLAS_CORETYPE", "(unset)")

    mach = machine_info()
    log(f"machine: {mach['model']}, {mach['cpus']} CPUs, avx512f={'yes' if mach['avx512f'] else 'no'}, "
        f"load {mach['loadavg'][0]:.2f}; OPENBLAS_CORETYPE={coretype}; {'quick' if q else 'full'} run")

    # peers available?
    have_ort = not a.no_peers and shutil.which("node") is not None and \
        os.path.isdir(os.path.join(BENCH, "node_modules", "onnxruntime-node"))
    if not a.no_peers and not have_ort:
        log("*** ONNX Runtime skipped: needs node and `cd bench && npm install --ignore-scripts onnxruntime-node`")
    have_torch = not a.no_peers
    have_time = os.access("/usr/bin/time", os.X_OK)
    if not have_time:
        log("*** /usr/bin/time missing (apt install time): no peak-RSS figures")

    # cases' data
    for name, (b, s) in SHAPES.items():
        rc, so, se = sh([PY, os.path.join(BENCH, "make_case.py"), os.path.join(WORK, "data", name),
                         "--batch", str(b), "--seq", str(s)], env)
        if rc != 0:
            log(f"make_case {name} failed:\n{first_lines(se, 20)}")
            return 1
        log(so.strip())

    peaks = sgemm_peaks(env)
    fma = fma_peak(env)
    bins = build_xfc(a.xfc, env)
    probe = build_load_probe(a.xfc, env) if isinstance(bins["gs"], str) else {"error": "xfc not built"}
    if isinstance(probe, dict):
        log(f"*** load probe: {probe['error']}")

    def data(shape):
        return os.path.join(WORK, "data", shape)

    def reps(shape, key):
        return REPS[shape][key][q]

    results = {}   # case -> runner -> combined

    def measure(case, shape, runners):
        """runners: name -> fn(round) -> result; interleaved over rounds."""
        per = {n: [] for n in runners}
        for rnd in range(reps(shape, "rounds")):
            for n, fn in runners.items():
                r = fn(rnd)
                if "error" in r and rnd == 0 and not r.get("quiet"):
                    log(f"  {case}: {n}: {r['error']}")
                per[n].append(r)
        res = {n: combine(v) for n, v in per.items()}
        # keep the last round's outputs for the check
        for n, v in per.items():
            with_out = [r for r in v if "error" not in r and r.get("out")]
            if with_out:
                res[n]["out"] = with_out[-1]["out"]
            ok = [r for r in v if "error" not in r]
            if ok and ok[-1].get("stderr"):
                res[n]["stderr"] = ok[-1]["stderr"]
        results[case] = res
        log(f"  {case}: " + ", ".join(f"{n} {fmt_ms(r)} ms" for n, r in res.items()))
        return res

    def outp(case, runner):
        d = os.path.join(WORK, "out")
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, f"{case}.{runner}.npy")

    xbin = bins["gs"] if isinstance(bins["gs"], str) else None
    abin = bins["gs_attn"] if isinstance(bins["gs_attn"], str) else None

    def std_runners(case, shape, threads, rss=False):
        d = data(shape)
        runs, warm = reps(shape, "runs"), reps(shape, "warmup")
        rs = {}
        rs["xfc"] = (lambda rnd: run_xfc(xbin, d, threads, runs, env, measure_rss=rss and have_time,
                                         out=outp(case, "xfc"))) if xbin else (lambda rnd: dict(bins["gs"]))
        if have_torch:
            rs["torch"] = lambda rnd: run_torch(d, threads, runs, warm, env, measure_rss=rss and have_time,
                                                out=outp(case, "torch") if rnd == 0 else None)
        if have_ort:
            rs["ort"] = lambda rnd: run_ort(d, threads, runs, warm, env, measure_rss=rss and have_time,
                                            out=outp(case, "ort") if rnd == 0 else None)
        return rs

    log("timing (median of per-process medians; runners interleaved):")
    measure("b10_s100_t1", "b10_s100", std_runners("b10_s100_t1", "b10_s100", 1))
    measure("b10_s100_t2", "b10_s100", std_runners("b10_s100_t2", "b10_s100", 2))
    measure("b1_s16_t1", "b1_s16", std_runners("b1_s16_t1", "b1_s16", 1))
    measure("b1_s4096_t1", "b1_s4096", std_runners("b1_s4096_t1", "b1_s4096", 1, rss=True))
    # load cost: the same processes with a [1,1,D] input
    if have_time:
        d = data("b1_s4096")
        triv = {}
        if xbin:
            triv["xfc"] = run_xfc(xbin, d, 1, 1, env, trivial=True, measure_rss=True)
        if have_torch:
            triv["torch"] = run_torch(d, 1, 1, 1, env, trivial=True, measure_rss=True)
        if have_ort:
            triv["ort"] = run_ort(d, 1, 1, 1, env, trivial=True, measure_rss=True)
        for n, r in triv.items():
            if "error" not in r and r.get("rss_kib") and n in results["b1_s4096_t1"]:
                results["b1_s4096_t1"][n]["load_rss_kib"] = r["rss_kib"]
    # load: gs_load (open, check, pack) / torch module build + state dict / ORT session creation
    d = data("b1_s16")
    lr = {"xfc": (lambda rnd: run_load_xfc(probe, d, env)) if isinstance(probe, str)
          else (lambda rnd: dict(probe))}
    if have_torch:
        lr["torch"] = lambda rnd: load_only(run_torch(d, 1, 1, 1, env, trivial=True))
    if have_ort:
        lr["ort"] = lambda rnd: load_only(run_ort(d, 1, 1, 1, env, trivial=True))
    measure("load_t1", "b1_s16", lr)
    # instrumentation: xfc debug build with a C callback per AttentionEvent vs torch need_weights
    d = data("b10_s100")
    runs, warm = reps("b10_s100", "runs"), reps("b10_s100", "warmup")
    ir = {}
    ir["xfc"] = (lambda rnd: run_xfc(abin, d, 1, runs, env, out=outp("instr", "xfc"))) if abin \
        else (lambda rnd: dict(bins["gs_attn"]))
    if have_torch:
        ir["torch"] = lambda rnd: run_torch(d, 1, runs, warm, env, need_weights=True,
                                            out=outp("instr", "torch") if rnd == 0 else None)
    measure("instr_b10_s100_t1", "b10_s100", ir)

    # ---- checks ----
    bad = []
    checks = []
    ref_of = {"b10_s100_t1": "b10_s100", "b10_s100_t2": "b10_s100", "b1_s16_t1": "b1_s16",
              "b1_s4096_t1": "b1_s4096", "instr_b10_s100_t1": "b10_s100", "load_t1": "b1_s16"}
    for case, res in results.items():
        ref = os.path.join(data(ref_of[case]), "reference.npy")
        for n, r in res.items():
            if "error" in r or not r.get("out") or not os.path.exists(r["out"]):
                continue
            diff, why = max_abs_diff(r["out"], ref)
            r["max_abs_diff"] = diff
            ok = why is None and diff is not None and diff <= TOL
            if not ok and n == "xfc":
                bad.append(f"{case}: {why or f'max |xfc - torch| = {diff:.3g} > {TOL}'}")
            checks.append((case, n, diff, why, ok))
    ins = results.get("instr_b10_s100_t1", {}).get("xfc")
    if ins and "error" not in ins:
        m = re.search(r"on_attention: calls=(\d+) sum=(\S+) expected=(\S+)", ins.get("stderr", ""))
        want_calls = bl.GS["n_layers"] * (reps("b10_s100", "runs") + 1)   # --bench N: 1 warm-up + N
        if not m:
            bad.append("instr: on_attention never reported (was the handler linked and called?)")
        else:
            calls, s, e = int(m.group(1)), float(m.group(2)), float(m.group(3))
            b, s_len = SHAPES["b10_s100"]
            e_want = calls * b * bl.GS["n_heads"] * s_len
            ins["attention_calls"] = calls
            ins["attention_sum_rel_err"] = abs(s - e_want) / max(1.0, e_want)
            if calls != want_calls or abs(e - e_want) > 0.5 or ins["attention_sum_rel_err"] > 1e-3:
                bad.append(f"instr: on_attention saw calls={calls} (want {want_calls}), sum={s:g} "
                           f"(want {e_want:g}), shapes-expected={e:g}")

    # ---- report ----
    md = report(mach, coretype, peaks, fma, results, checks, bad, bins, a, time.time() - t_start)
    os.makedirs(WORK, exist_ok=True)
    with open(os.path.join(WORK, "results.md"), "w") as f:
        f.write(md)
    clean = {c: {n: {k: v for k, v in r.items() if k not in ("stderr",)} for n, r in res.items()}
             for c, res in results.items()}
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump({"machine": mach, "coretype": coretype, "sgemm": peaks, "fma_peak": fma, "results": clean,
                   "failures": bad, "quick": a.quick}, f, indent=1, default=str)
    print(md)
    log(f"written bench/work/results.md and results.json ({time.time() - t_start:.0f} s)")
    return 2 if bad else 0


def report(mach, coretype, peaks, fma, results, checks, bad, bins, a, elapsed):
    L = []
    L.append("# xfc vs PyTorch vs ONNX Runtime\n")
    L.append(f"- machine: {mach['model']}, {mach['cpus']} CPUs ({mach['cores_per_socket']} cores/socket, "
             f"{mach['threads_per_core']} threads/core), avx512f: {'yes' if mach['avx512f'] else 'no'}; "
             f"load average at start {mach['loadavg'][0]:.2f}")
    L.append(f"- `OPENBLAS_CORETYPE` for every runner: `{coretype}` (PyTorch's GEMMs are OpenBLAS; xfc's "
             f"oneDNN, or OpenBLAS when built with -DXF_BLAS=openblas; ONNX Runtime uses its own MLAS)")
    import torch
    L.append(f"- PyTorch {torch.__version__} (eval, no_grad, `set_num_threads(T)`, OpenBLAS/OpenMP threads = T); "
             f"ONNX Runtime (npm onnxruntime-node) intraOpNumThreads = T")
    L.append(f"- {'quick' if a.quick else 'full'} run, {elapsed:.0f} s; times are medians (ms) of per-process "
             f"medians, runners interleaved; ratio = best peer / xfc (> 1: xfc is faster)")
    if all(isinstance(v, dict) and v["error"] == "xfc not built" for v in bins.values()):
        L.append(f"- **xfc not timed: no compiler at `{os.path.relpath(a.xfc, ROOT)}`** — build the repo "
                 f"(`cmake -S . -B build && cmake --build build`) or pass `--xfc PATH`; peers only")
    else:
        for n, v in bins.items():
            if isinstance(v, dict):
                L.append(f"- **xfc `{n}` not timed**: {v['error']}")
    L.append("")

    def row(label, case, runners_t=None, flops=None, peer_best=None):
        res = results.get(case, {})
        x, t, o = res.get("xfc"), res.get("torch"), res.get("ort")
        if peer_best is not None:
            t, o = peer_best
        peers = [r for r in (t, o) if r and "error" not in r]
        best = min(peers, key=lambda r: r["median_ms"]) if peers else None
        def ratio_to(p):
            if not p or "error" in p or not x or "error" in x:
                return "—"
            return f"{p['median_ms'] / x['median_ms']:.2f}"
        ratio = ratio_to(best)
        gf = "—"
        if flops and x and "error" not in x:
            gf = f"{flops / (x['median_ms'] * 1e-3) / 1e9:.0f}"
        chk = "—"
        if x and "max_abs_diff" in x:
            chk = f"{x['max_abs_diff']:.1e}" + ("" if x["max_abs_diff"] <= TOL else " **WRONG**")
        L.append(f"| {label} | {fmt_ms(x)} | {fmt_ms(t)} | {fmt_ms(o)} | {ratio_to(t)} | {ratio_to(o)} | "
                 f"{ratio} | {gf} | {chk} |")

    def flops(shape):
        b, s = SHAPES[shape]
        return bl.model_flops(bl.GS, b, s)

    L.append("| case | xfc | PyTorch | ONNX RT | PyTorch / xfc | ONNX RT / xfc | best peer / xfc | xfc GFLOP/s "
             "| max \\|xfc − torch\\| |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    row("batch 10 × seq 100, 1 thread", "b10_s100_t1", flops=flops("b10_s100"))
    row("batch 10 × seq 100, 2 threads", "b10_s100_t2", flops=flops("b10_s100"))
    # peers at their best thread count vs xfc at 2 threads
    pb = []
    lab = []
    for n in ("torch", "ort"):
        cands = [(results.get(c, {}).get(n), t) for c, t in (("b10_s100_t1", 1), ("b10_s100_t2", 2))]
        cands = [(r, t) for r, t in cands if r and "error" not in r]
        if cands:
            r, t = min(cands, key=lambda rt: rt[0]["median_ms"])
            pb.append(r)
            lab.append(f"{'PyTorch' if n == 'torch' else 'ORT'} @{t}")
        else:
            pb.append(None)
    if any(pb):
        row(f"batch 10 × seq 100, xfc 2 threads vs peers' best ({', '.join(lab)})", "b10_s100_t2",
            flops=flops("b10_s100"), peer_best=tuple(pb))
    row("batch 1 × seq 16, 1 thread", "b1_s16_t1", flops=flops("b1_s16"))
    row("batch 1 × seq 4096, 1 thread", "b1_s4096_t1", flops=flops("b1_s4096"))
    row("instrumentation: batch 10 × seq 100, 1 thread, every attention matrix to a callback "
        "(xfc debug + `call(on_attention)`; PyTorch `_sa_block` need_weights override)",
        "instr_b10_s100_t1", flops=flops("b10_s100"))
    row("load: gs_load (open, check, pack the weights) / PyTorch module + state dict / ORT session",
        "load_t1")
    x_rel, x_ins = results.get("b10_s100_t1", {}).get("xfc"), results.get("instr_b10_s100_t1", {}).get("xfc")
    t_rel, t_ins = results.get("b10_s100_t1", {}).get("torch"), results.get("instr_b10_s100_t1", {}).get("torch")
    notes = []
    if x_rel and x_ins and "error" not in x_rel and "error" not in x_ins:
        notes.append(f"xfc's attention callback costs {100 * (x_ins['median_ms'] / x_rel['median_ms'] - 1):+.0f}% "
                     f"over its release build")
    if t_rel and t_ins and "error" not in t_rel and "error" not in t_ins:
        notes.append(f"PyTorch's need_weights override {100 * (t_ins['median_ms'] / t_rel['median_ms'] - 1):+.0f}% "
                     f"over its fast path")
    if notes:
        L.append("\nInstrumentation overhead (same shape, 1 thread): " + "; ".join(notes) + ".")
    xl = results.get("load_t1", {}).get("xfc")
    if xl and "error" not in xl and xl.get("forward_ms"):
        L.append(f"\nxfc's load is {xl['median_ms'] / xl['forward_ms']:.1f}× one batch 1 × seq 16 forward "
                 f"({xl['forward_ms']:.3f} ms in the same process; medians of {xl.get('runs', 1)} processes; goal < 10×); its first forward, which "
                 f"creates the products' primitives, {xl['first_forward_ms']:.2f} ms.")
    L.append("")

    # memory
    res = results.get("b1_s4096_t1", {})
    if any(r.get("rss_kib") for r in res.values() if "error" not in r):
        L.append("Peak RSS, batch 1 × seq 4096 (`/usr/bin/time -f %M`; load = the same process with a "
                 "[1,1,256] input; forward = peak − load):\n")
        L.append("| runner | peak MiB | load MiB | forward MiB |")
        L.append("|---|---|---|---|")
        for n, label in (("xfc", "xfc"), ("torch", "PyTorch"), ("ort", "ONNX Runtime")):
            r = res.get(n)
            if not r or "error" in r or not r.get("rss_kib"):
                continue
            pk = mib(r["rss_kib"])
            ld = mib(r["load_rss_kib"]) if r.get("load_rss_kib") else None
            L.append(f"| {label} | {pk:.0f} | {'—' if ld is None else f'{ld:.0f}'} | "
                     f"{'—' if ld is None else f'{pk - ld:.0f}'} |")
        x, t = res.get("xfc"), res.get("torch")
        if all(r and "error" not in r and r.get("rss_kib") and r.get("load_rss_kib") for r in (x, t)):
            tf = mib(t["rss_kib"] - t["load_rss_kib"])
            L.append(f"\nxfc's whole process at its peak / PyTorch's forward alone: "
                     f"{mib(x['rss_kib']):.0f} / {tf:.0f} MiB = {mib(x['rss_kib']) / tf:.3f} (goal ≤ 0.125).")
        L.append("")

    # achieved vs peak
    if peaks:
        L.append("GEMM ceiling: `cblas_sgemm` 1000 × 256 × 1024, 1 thread (bench/sgemm_peak.c):\n")
        L.append("| OPENBLAS_CORETYPE | kernel | GFLOP/s median | best |")
        L.append("|---|---|---|---|")
        for p in peaks:
            L.append(f"| {p['coretype_env']}{' (this run)' if p['label'] == 'as run' else ''} | {p['core']} | "
                     f"{p['gflops']:.0f} | {p['best']:.0f} |")
        x = results.get("b10_s100_t1", {}).get("xfc")
        run_peak = next((p["gflops"] for p in peaks if p["label"] == "as run"), None)
        if x and "error" not in x and run_peak:
            gf = flops("b10_s100") / (x["median_ms"] * 1e-3) / 1e9
            best_peak = max(p["gflops"] for p in peaks)
            L.append(f"\nxfc at batch 10 × seq 100, 1 thread: {gf:.0f} GFLOP/s = {100 * gf / run_peak:.0f}% of "
                     f"this run's sgemm peak ({run_peak:.0f}), {100 * gf / best_peak:.0f}% of the best "
                     f"({best_peak:.0f}).")
        if fma and x and "error" not in x:
            gf = flops("b10_s100") / (x["median_ms"] * 1e-3) / 1e9
            floor = flops("b10_s100") / (fma["gflops"] * 1e9) * 1e3
            L.append(f"\nOne core's FP32 FMA peak (bench/fma_peak.c, {fma['bits']}-bit, CPU time): "
                     f"{fma['gflops']:.0f} GFLOP/s.  The batch 10 × seq 100 products at that peak take "
                     f"{floor:.1f} ms, and nothing else (softmax, LayerNorm) is free; xfc's whole forward "
                     f"runs at {100 * gf / fma['gflops']:.0f}% of it.")
            peers = [results.get("b10_s100_t1", {}).get(n) for n in ("torch", "ort")]
            best = min((p["median_ms"] for p in peers if p and "error" not in p), default=None)
            nw = results.get("instr_b10_s100_t1", {}).get("torch")
            for goal, label, ms_ in ((1.2, "the best peer", best),
                                     (2.0, "PyTorch's need_weights", nw and "error" not in nw and nw["median_ms"])):
                if ms_:
                    L.append(f"{goal:g}× {label} ({ms_:.1f} ms) needs ≤ {ms_ / goal:.1f} ms, i.e. "
                             f"{100 * floor / (ms_ / goal):.0f}% of the FMA peak sustained over the whole forward.")
        L.append("\nModel FLOPs (matrix products only, 2·multiply-adds): "
                 + ", ".join(f"{s.replace('_', ' ')} {flops(s) / 1e9:.2f} GFLOP" for s in SHAPES) + ".")
        L.append("")

    # checks
    L.append("Output checks against PyTorch (reference.npy, fast path, same weights), tolerance "
             f"{TOL:g}:\n")
    for case, n, diff, why, ok in checks:
        L.append(f"- {case} {n}: " + (why if why else f"max abs diff {diff:.2e}") + ("" if ok else "  **FAIL**"))
    for case, res in results.items():
        for n, r in res.items():
            if "attention_calls" in r:
                L.append(f"- {case} {n}: attention callback called {r['attention_calls']} times, "
                         f"Σ matrix rel. error {r['attention_sum_rel_err']:.1e}")
            if r.get("note"):
                L.append(f"- {case} {n}: note: {r['note']}")
    if bad:
        L.append("\n**xfc FAILED:**\n")
        L.extend(f"- {b}" for b in bad)
    L.append("")
    # per-round detail
    L.append("<details><summary>per-process medians (ms)</summary>\n")
    for case, res in results.items():
        for n, r in res.items():
            L.append(f"- {case} {n}: " + (r["error"] if "error" in r else
                                          f"{r['round_medians']} (min {r['min_ms']:.3f}, {r['runs']} runs)"))
    L.append("\n</details>\n")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
