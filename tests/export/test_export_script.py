#!/usr/bin/env python3
"""test_export_script.py XFC WORK — scripts/export_torch.py, end to end.

For each kind of input the script accepts (pickled nn.TransformerEncoder /
nn.TransformerDecoder / nn.Transformer, a module wrapping one, a torch
state_dict + hyper-parameters, a fast-transformers state_dict), exports it,
builds the spec with xfc, runs the binary and compares with PyTorch (1e-4;
bf16 weights: 2e-2).  Then every refusal: exit status 1, a message naming the
problem, no file written.  Run by ctest as export.script (tests/export/script.sh).
"""
import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import torch
import torch.nn as nn

XFC, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import export_torch  # noqa: E402

failures = []


def export(saved, *args):
    """Runs the script's main() in this process (classes defined here unpickle)."""
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        rc = export_torch.main([saved, *args])
    return rc, out.getvalue() + err.getvalue()


def mask(lengths, seq):
    return torch.arange(seq)[None, :] >= torch.tensor(lengths)[:, None]


def causal(n):
    return nn.Transformer.generate_square_subsequent_mask(n)


def end_to_end(name, obj, args, inputs, reference, tol=1e-4, lengths=None):
    d = os.path.join(WORK, name)
    os.makedirs(d, exist_ok=True)
    saved = os.path.join(d, "saved.pt")
    torch.save(obj, saved)
    rc, msg = export(saved, "--name", name, "--weights", f"{d}/w.safetensors", "--spec", f"{d}/m.xf", *args)
    if rc:
        failures.append(f"{name}: export failed: {msg}")
        return
    run = [f"{d}/model", "--weights", f"{d}/w.safetensors", "--output", f"{d}/y.npy"]
    for flag, t in inputs:
        np.save(f"{d}/{flag}.npy", t.numpy().astype(np.float32))
        run += [f"--{flag}", f"{d}/{flag}.npy"]
    for flag, ls in (lengths or {}).items():
        run += [f"--{flag}", ",".join(map(str, ls))]
    for cmd in ([XFC, "build", f"{d}/m.xf", "-o", f"{d}/model"], run):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            failures.append(f"{name}: {' '.join(cmd)}: {p.stdout}{p.stderr}")
            return
    y, ref = np.load(f"{d}/y.npy"), reference.detach().numpy()
    valid = np.ones(ref.shape[:2], bool)
    if lengths and "lengths" in lengths:
        valid = ~mask(lengths["lengths"], ref.shape[1]).numpy()
    err = float(np.abs(y - ref)[valid].max())
    print(f"{name}: max |xfc - torch| = {err:.2e}")
    if not err <= tol:
        failures.append(f"{name}: max error {err} > {tol}")


def refused(name, obj, args, *words):
    d = os.path.join(WORK, "refused", name)
    os.makedirs(d, exist_ok=True)
    saved = os.path.join(d, "saved.pt")
    torch.save(obj, saved)
    rc, msg = export(saved, "--weights", f"{d}/w.safetensors", "--spec", f"{d}/m.xf", *args)
    print(f"{name}: {msg.strip()}")
    if rc != 1:
        failures.append(f"{name}: exit status {rc}, expected 1")
    for w in words:
        if w not in msg:
            failures.append(f"{name}: message lacks {w!r}: {msg}")
    if msg.count("\n") != 1:
        failures.append(f"{name}: expected one line: {msg!r}")
    leftovers = sorted(set(os.listdir(d)) - {"saved.pt"})
    if leftovers:
        failures.append(f"{name}: wrote {leftovers} although refused")


class Wrapper(nn.Module):
    def __init__(self, two=False):
        super().__init__()
        self.embed = nn.Embedding(10, 32)
        self.core = nn.Transformer(32, 4, 1, 2, 40, dropout=0.0, batch_first=True)
        if two:
            self.other = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 40), 1)


class PatchedLayer(nn.TransformerEncoderLayer):
    def _sa_block(self, x, attn_mask, key_padding_mask):
        return 2 * super()._sa_block(x, attn_mask, key_padding_mask)


def main():
    torch.manual_seed(0)
    os.makedirs(WORK, exist_ok=True)
    x, m = torch.randn(2, 7, 32), torch.randn(2, 5, 32)
    with torch.no_grad():
        enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, activation="gelu",
                                                               norm_first=True, batch_first=True),
                                    3, norm=nn.LayerNorm(32), enable_nested_tensor=False).eval()
        end_to_end("encoder_module", enc, ["--causal"], [("input", x)], enc(x, mask=causal(7)))
        end_to_end("encoder_padded", enc, [], [("input", x)],
                   enc(x, src_key_padding_mask=mask([7, 3], 7)), lengths={"lengths": [7, 3]})
        dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(32, 2, 48, dropout=0.0, activation=nn.GELU(),
                                                               batch_first=True), 2).eval()
        end_to_end("decoder_module", dec, ["--causal"], [("input", x), ("memory", m)],
                   dec(x, m, tgt_mask=causal(7), memory_key_padding_mask=mask([5, 2], 5)),
                   lengths={"memory-lengths": [5, 2]})
        tf = nn.Transformer(32, 4, 2, 1, 40, dropout=0.0, batch_first=True).eval()
        end_to_end("transformer_module", tf, ["--causal"], [("input", x), ("source", m)],
                   tf(m, x, tgt_mask=causal(7)))
        end_to_end("transformer_causal_encoder", tf, ["--causal-encoder"], [("input", x), ("source", m)],
                   tf(m, x, src_mask=causal(5)))
        w = Wrapper().eval()
        end_to_end("wrapped_module", w, ["--causal"], [("input", x), ("source", m)],
                   w.core(m, x, tgt_mask=causal(7)))
        w2 = Wrapper(two=True).eval()
        end_to_end("wrapped_module_chosen", w2, ["--module", "core"], [("input", x), ("source", m)], w2.core(m, x))
        end_to_end("transformer_state_dict", {"model": w.state_dict()}, ["--nhead", "4"],
                   [("input", x), ("source", m)], w.core(m, x))
        end_to_end("encoder_state_dict_bf16", enc.state_dict(),
                   ["--nhead", "4", "--activation", "gelu", "--norm-first", "--dtype", "bf16"],
                   [("input", x)], enc(x), tol=2e-2)
        # fast-transformers names for a post-norm relu encoder (same math as torch's)
        ft_enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 48, dropout=0.0, batch_first=True), 2,
                                       norm=nn.LayerNorm(32), enable_nested_tensor=False).eval()
        sd = {}
        for k, v in ft_enc.state_dict().items():
            if ".in_proj_" in k:
                base, kind = k.split(".self_attn.in_proj_")
                for i, p in enumerate(["query", "key", "value"]):
                    sd[f"{base}.attention.{p}_projection.{kind}"] = v[i * 32:(i + 1) * 32]
            else:
                sd[k.replace("self_attn.out_proj", "attention.out_projection")] = v
        end_to_end("fast_transformers_encoder", sd, ["--nhead", "4"], [("input", x)], ft_enc(x))

    # --listen lands in the spec and xfc accepts it
    d = os.path.join(WORK, "listen")
    os.makedirs(d, exist_ok=True)
    torch.save(enc, f"{d}/e.pt")
    rc, msg = export(f"{d}/e.pt", "--name", "e", "--spec", f"{d}/e.xf", "--weights", f"{d}/e.safetensors",
                     "--listen", 'AttentionEvent & from_layer(layers[1].attention.inner_attention) -> save("a.npy")')
    p = subprocess.run([XFC, "check", f"{d}/e.xf"], capture_output=True, text=True)
    if rc or p.returncode or "listener 0" not in p.stdout:
        failures.append(f"--listen: {msg} {p.stdout} {p.stderr}")

    # refusals
    layer = lambda **kw: nn.TransformerEncoderLayer(32, 4, 64, **kw)  # noqa: E731
    refused("custom_activation", nn.TransformerEncoder(layer(activation=torch.tanh), 2), [],
            "custom activation", "tanh")
    refused("gelu_tanh", nn.TransformerEncoder(layer(activation=nn.GELU(approximate="tanh")), 2), [],
            "approximate='tanh'")
    mixed = nn.TransformerEncoder(layer(), 2)
    mixed.layers[1] = nn.TransformerEncoderLayer(32, 4, 128)
    refused("mismatched_layers", mixed, [], "layers.1", "feed_forward_dimensions 128")
    mixed = nn.TransformerEncoder(layer(), 2)
    mixed.layers[1] = nn.TransformerEncoderLayer(32, 4, 64, norm_first=True)
    refused("mismatched_norm_first", mixed, [], "layers.1", "normalization pre")
    nobias = nn.TransformerEncoder(layer(), 2)
    nobias.layers[0].self_attn = nn.MultiheadAttention(32, 4, bias=False)
    refused("mha_bias_false", nobias, [], "layers.0.self_attn", "bias=False")
    nobias = nn.TransformerEncoder(layer(), 2)
    nobias.layers[1].linear2 = nn.Linear(64, 32, bias=False)
    refused("linear_bias_false", nobias, [], "layers.1.linear2", "bias=False")
    refused("linear_bias_false_state_dict", nobias.state_dict(), ["--nhead", "4"], "linear2.bias", "bias=False")
    odd = nn.TransformerEncoder(layer(), 2)
    odd.layers[0].self_attn = nn.MultiheadAttention(32, 4, add_bias_kv=True)
    refused("add_bias_kv", odd, [], "add_bias_kv")
    odd = nn.TransformerEncoder(layer(), 2)
    odd.layers[0].self_attn = nn.MultiheadAttention(32, 4, add_zero_attn=True)
    refused("add_zero_attn", odd, [], "add_zero_attn")
    odd = nn.TransformerEncoder(layer(), 2)
    odd.layers[0].self_attn = nn.MultiheadAttention(32, 4, kdim=16, vdim=16)
    refused("kdim_vdim", odd, [], "kdim/vdim")
    odd = nn.TransformerEncoder(layer(), 2)
    odd.layers[0].norm2 = nn.LayerNorm(32, elementwise_affine=False)
    refused("layernorm_no_affine", odd, [], "layers.0.norm2", "elementwise_affine")
    refused("eps_mismatch", nn.TransformerEncoder(layer(layer_norm_eps=1e-6), 2, norm=nn.LayerNorm(32)), [],
            "norm", "eps")
    refused("final_norm_not_layernorm", nn.TransformerEncoder(layer(), 2, norm=nn.Identity()), [], "norm",
            "Identity")
    refused("overridden_block", nn.TransformerEncoder(PatchedLayer(32, 4, 64), 2), [], "_sa_block")
    refused("state_dict_without_nhead", nn.TransformerEncoder(layer(), 2).state_dict(), [], "--nhead")
    refused("two_transformers", Wrapper(two=True), [], "several transformers", "--module")
    refused("not_a_transformer", nn.Linear(3, 3), [], "contains no nn.Transformer")
    refused("bad_module_path", Wrapper(), ["--module", "embed"], "--module embed")
    refused("nhead_with_module", nn.TransformerEncoder(layer(), 2), ["--nhead", "4"], "--nhead")
    refused("causal_encoder_on_encoder", nn.TransformerEncoder(layer(), 2), ["--causal-encoder"],
            "--causal-encoder")
    refused("ft_linear_causal", sd, ["--nhead", "4", "--attention-type", "linear", "--causal"], "causal_linear")
    refused("ft_norm_first", sd, ["--nhead", "4", "--norm-first"], "post-norm only")
    refused("prefix_matches_nothing", enc.state_dict(), ["--nhead", "4", "--prefix", "foo."], "--prefix 'foo.'")
    refused("nhead_does_not_divide", enc.state_dict(), ["--nhead", "5"], "not divisible by --nhead 5")

    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print("export_torch.py: every export matches PyTorch, every refusal is clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
