#!/usr/bin/env python3
"""make_examples.py — regenerates the committed export examples of tests/export/.

    /usr/bin/python3 tests/export/make_examples.py      # python3 + torch (1.13)

Each case directory is what a user of scripts/export_torch.py would have: the
spec and safetensors the script wrote from a saved PyTorch model, inputs, and
PyTorch's own output on them.  The ctest tests (run_case.sh) build the spec with
xfc, run it on the inputs and compare with expected.npy within 1e-4 — so the
suite checks the exporter's output without needing torch.

  <case>/model.xf, model.safetensors   written by export_torch.py (export.cmd: how)
  <case>/input.npy                     the (decoder) input
  <case>/source.npy | memory.npy       the encoder input (Transformer) / memory (TransformerDecoder)
  <case>/lengths, source_lengths, memory_lengths   --lengths values, when padded
  <case>/expected.npy                  PyTorch's output (rows past the lengths are unspecified)
"""

import os
import shlex
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import export_torch  # noqa: E402


def padding_mask(lengths, seq):
    """torch key_padding_mask: True where the position is padding."""
    return torch.arange(seq)[None, :] >= torch.tensor(lengths)[:, None]


def export(case, saved, args):
    out = os.path.join(HERE, case)
    os.makedirs(out, exist_ok=True)
    argv = [saved, "--name", case, "--weights", os.path.join(out, "model.safetensors"),
            "--spec", os.path.join(out, "model.xf")] + args
    if export_torch.main(argv) != 0:
        raise SystemExit(f"{case}: export failed")
    shown = ["python3", "scripts/export_torch.py", os.path.basename(saved), "--name", case,
             "--weights", "model.safetensors", "--spec", "model.xf"] + args
    with open(os.path.join(out, "export.cmd"), "w") as f:
        f.write(" ".join(shlex.quote(a) for a in shown) + "\n")
    return out


def save(out, name, t):
    np.save(os.path.join(out, name), np.ascontiguousarray(t.detach().numpy().astype(np.float32)))


def write(out, name, lengths):
    with open(os.path.join(out, name), "w") as f:
        f.write(",".join(map(str, lengths)) + "\n")


def main():
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp()

    # 1. a whole pickled nn.Transformer: pre-norm, gelu, 2 encoder + 1 decoder layers,
    #    causal decoder, padded source and target
    case = "torch_transformer_module"
    model = nn.Transformer(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=1,
                           dim_feedforward=48, dropout=0.0, activation="gelu", norm_first=True,
                           batch_first=True).eval()
    saved = os.path.join(tmp, "transformer.pt")
    torch.save(model, saved)
    out = export(case, saved, ["--causal"])
    src, tgt = torch.randn(2, 7, 32), torch.randn(2, 6, 32)
    src_len, tgt_len = [7, 5], [6, 4]
    with torch.no_grad():
        y = model(src, tgt, tgt_mask=nn.Transformer.generate_square_subsequent_mask(6),
                  src_key_padding_mask=padding_mask(src_len, 7), tgt_key_padding_mask=padding_mask(tgt_len, 6),
                  memory_key_padding_mask=padding_mask(src_len, 7))
    save(out, "source.npy", src)
    save(out, "input.npy", tgt)
    save(out, "expected.npy", y)
    write(out, "source_lengths", src_len)
    write(out, "lengths", tgt_len)

    # 2. a state_dict of a model holding an nn.TransformerEncoder (post-norm, relu, no
    #    final norm, 3 heads) next to other layers: --nhead given, prefix found
    case = "torch_encoder_state_dict"

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.TransformerEncoder(
                nn.TransformerEncoderLayer(24, 3, 40, dropout=0.0, batch_first=True), 2, enable_nested_tensor=False)
            self.classifier = nn.Linear(24, 5)

    model = Classifier().eval()
    saved = os.path.join(tmp, "classifier_state.pt")
    torch.save(model.state_dict(), saved)
    out = export(case, saved, ["--nhead", "3", "--activation", "relu", "--post-norm"])
    x = torch.randn(3, 9, 24)
    lengths = [9, 4, 1]
    with torch.no_grad():
        y = model.backbone(x, src_key_padding_mask=padding_mask(lengths, 9))
    save(out, "input.npy", x)
    save(out, "expected.npy", y)
    write(out, "lengths", lengths)

    # 3. a fast-transformers TransformerDecoder state_dict (post-norm, relu, final norm),
    #    stored as float16.  Made from a torch decoder with the same weights under
    #    fast-transformers' names (the layer math is the same), so PyTorch gives the reference.
    case = "fast_transformers_decoder_f16"
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0, batch_first=True), 2,
                                norm=nn.LayerNorm(16)).eval()
    for p in dec.parameters():   # weights exactly representable in float16: the reference stays exact
        p.data = p.data.half().float()
    sd = {}
    for k, v in dec.state_dict().items():
        k = k.replace("self_attn.", "self_attention.").replace("multihead_attn.", "cross_attention.")
        if k.endswith("in_proj_weight") or k.endswith("in_proj_bias"):
            base, kind = k.rsplit(".in_proj_", 1)
            for i, p in enumerate(["query", "key", "value"]):
                sd[f"{base}.{p}_projection.{kind}"] = v[i * 16:(i + 1) * 16].clone()
        else:
            sd[k.replace("out_proj.", "out_projection.")] = v
    saved = os.path.join(tmp, "ft_decoder.pt")
    torch.save(sd, saved)
    out = export(case, saved, ["--nhead", "2", "--activation", "relu", "--causal", "--dtype", "f16"])
    x, mem = torch.randn(2, 5, 16), torch.randn(2, 8, 16)
    mem_len = [8, 3]
    with torch.no_grad():
        y = dec(x, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(5),
                memory_key_padding_mask=padding_mask(mem_len, 8))
    save(out, "input.npy", x)
    save(out, "memory.npy", mem)
    save(out, "expected.npy", y)
    write(out, "memory_lengths", mem_len)
    print("wrote", ", ".join(sorted(d for d in os.listdir(HERE) if os.path.isdir(os.path.join(HERE, d)))))


if __name__ == "__main__":
    main()
