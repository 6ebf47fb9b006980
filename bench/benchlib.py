"""Shared pieces of the xfc benchmark: a tiny safetensors reader/writer, the
torch model of a case, the analytic FLOP count.  Run with /usr/bin/python3
(Debian's python3-torch + numpy); there is no safetensors package here."""
import json
import os
import re
import struct
import subprocess
import sys

import numpy as np

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd, env=None, timeout=3600):
    """-> (returncode, stdout, stderr); never raises on failure."""
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except FileNotFoundError as e:
        return 127, "", str(e)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout} s"


def link_emitted(xfc, spec, name, gen, sources, out, env, defines=()):
    """`xfc emit --release` the spec into gen/, then cc gen/NAME.c + sources into out, linked as
    xfc links a model (the runtime of `xfc --print-runtime` and the libraries in its build
    tree's xfc_config.h).  -> None, or a one-line error."""
    cfg = os.path.join(os.path.dirname(os.path.dirname(xfc)), "compiler", "xfc_config.h")
    if not os.path.isfile(cfg):
        return f"needs xfc's build tree ({cfg} missing)"
    rc, so, se = sh([xfc, "emit", spec, "-o", gen, "--release"], env)
    rc2, rt, _ = sh([xfc, "--print-runtime"], env)
    inc, lib = re.search(r"^include\s+(\S+)", rt, re.M), re.search(r"^library\s+(\S+)", rt, re.M)
    libs = re.search(r"#define XFC_LINK_LIBS (.*)", open(cfg).read())
    if rc or rc2 or not (inc and lib and libs):
        return "xfc emit / --print-runtime failed: " + " ".join((se or rt).strip().splitlines()[:2])
    rc, so, se = sh(["cc", "-O2", *defines, "-I", gen, "-I", inc.group(1), os.path.join(gen, name + ".c"), *sources,
                     lib.group(1)] + re.findall(r'"([^"]+)"', libs.group(1)) + ["-o", out], env)
    if rc:
        return "cc failed: " + " ".join(se.strip().splitlines()[:3])
    return None


# ---- safetensors: 8-byte little-endian header length, JSON header, raw bytes --

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "F64": np.float64,
           "I64": np.int64, "I32": np.int32}


def st_write(path, tensors):
    """tensors: dict name -> numpy array (written as F32, C order, sorted names)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # pad so the data starts 8-aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def st_read(path):
    """-> dict name -> float32 numpy array (F32, F16, BF16 accepted)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        buf = raw[base + s:base + e]
        dt = info["dtype"]
        if dt == "BF16":
            u = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            a = u.view(np.float32)
        else:
            a = np.frombuffer(buf, dtype=np.dtype(_DTYPES[dt]).newbyteorder("<")).astype(np.float32)
        out[name] = a.reshape(info["shape"]).copy()
    return out


# ---- the model ----------------------------------------------------------------

# The getting-started model (fast-transformers' builder defaults, torch layout).
GS = dict(n_layers=4, n_heads=4, head_dim=64, ff=1024, activation="relu",
          norm_first=False, final_norm=True, eps=1e-5)


def d_model(cfg):
    return cfg["n_heads"] * cfg["head_dim"]


def build_torch(cfg, weights=None):
    """nn.TransformerEncoder (batch_first, eval) with state_dict names
    layers.i.self_attn.in_proj_weight … norm.weight; loads `weights` if given."""
    import torch
    from torch import nn
    D = d_model(cfg)
    layer = nn.TransformerEncoderLayer(D, cfg["n_heads"], dim_feedforward=cfg["ff"], dropout=0.0,
                                       activation=cfg["activation"], layer_norm_eps=cfg["eps"],
                                       batch_first=True, norm_first=cfg["norm_first"])
    norm = nn.LayerNorm(D, eps=cfg["eps"]) if cfg["final_norm"] else None
    m = nn.TransformerEncoder(layer, cfg["n_layers"], norm=norm)
    if weights is not None:
        sd = {k: torch.from_numpy(v) for k, v in weights.items()}
        m.load_state_dict(sd, strict=True)
    return m.eval()


def model_flops(cfg, batch, seq):
    """Multiply-adds × 2 of the matrix products of one forward (projections,
    QKᵀ, A·V, out projection, both FF linears); softmax/LayerNorm/activation
    (O(N·L·D) and O(N·H·L²) elementwise) are left out."""
    D, F, NL = d_model(cfg), cfg["ff"], batch * seq
    per_layer = 2 * NL * (3 * D * D + D * D + 2 * D * F) + 2 * 2 * batch * seq * seq * D
    return cfg["n_layers"] * per_layer
