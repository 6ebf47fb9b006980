#!/usr/bin/python3
"""Write one benchmark case: bench/work/<case>/{weights.safetensors, input.npy,
trivial.npy, reference.npy, model.onnx, case.json}.

Weights are deterministic (seeded) random weights of the getting-started model
in torch nn.TransformerEncoder state_dict names, F32; biases and LayerNorm
parameters are randomized too, so a layout mistake cannot hide behind zeros.
reference.npy is PyTorch's output (eval, no_grad) on input.npy.  trivial.npy is a
[1,1,D] input used to measure each runtime's load cost (peak RSS).

usage: make_case.py DIR --batch N --seq L [--seed S] [--force]
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    cfg = bl.GS
    meta = {"model": "getting_started", "config": cfg, "batch": a.batch, "seq": a.seq,
            "seed": a.seed, "d_model": bl.d_model(cfg), "flops": bl.model_flops(cfg, a.batch, a.seq),
            "torch_version": torch.__version__}
    os.makedirs(a.dir, exist_ok=True)
    files = ["weights.safetensors", "input.npy", "trivial.npy", "reference.npy", "model.onnx"]
    cj = os.path.join(a.dir, "case.json")
    if not a.force and os.path.exists(cj) and all(os.path.exists(os.path.join(a.dir, f)) for f in files):
        with open(cj) as f:
            if json.load(f) == json.loads(json.dumps(meta)):
                print(f"make_case: {a.dir} up to date")
                return
    torch.manual_seed(a.seed)
    m = bl.build_torch(cfg)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            elif "norm" in name:                       # LayerNorm gains
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
    weights = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    bl.st_write(os.path.join(a.dir, "weights.safetensors"), weights)
    # reload what was written: the reference comes from the file, as every runner's does
    m = bl.build_torch(cfg, bl.st_read(os.path.join(a.dir, "weights.safetensors")))
    g = torch.Generator().manual_seed(a.seed + 1)
    D = bl.d_model(cfg)
    x = torch.randn(a.batch, a.seq, D, generator=g)
    np.save(os.path.join(a.dir, "input.npy"), x.numpy().astype("<f4"))
    np.save(os.path.join(a.dir, "trivial.npy"), x[:1, :1].numpy().astype("<f4"))
    with torch.no_grad():
        y = m(x)
    np.save(os.path.join(a.dir, "reference.npy"), y.numpy().astype("<f4"))
    # ONNX: the same module, opset 14, dynamic batch and sequence axes
    onnx_path = os.path.join(a.dir, "model.onnx")
    # outside no_grad: with grad enabled torch takes the unfused path, which exports
    # (the fused _transformer_encoder_layer_fwd of the eval fast path has no ONNX form)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x[:2, :8].contiguous(),), onnx_path + ".tmp", opset_version=14,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}})
    os.replace(onnx_path + ".tmp", onnx_path)
    with open(cj, "w") as f:
        json.dump(meta, f, indent=1)
    print(f"make_case: wrote {a.dir} (batch {a.batch}, seq {a.seq}, {meta['flops'] / 1e9:.2f} GFLOP/forward)")


if __name__ == "__main__":
    main()
