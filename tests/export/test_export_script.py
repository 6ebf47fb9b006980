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
import json
import math
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


def expect(name, rc, msg, code, *words, absent=()):
    """rc is `code` and msg holds every word (and none of `absent`)."""
    print(f"{name}: {msg.strip()}")
    if rc != code:
        failures.append(f"{name}: exit status {rc}, expected {code}: {msg}")
    failures.extend(f"{name}: message lacks {w!r}: {msg}" for w in words if w not in msg)
    failures.extend(f"{name}: message has {w!r}: {msg}" for w in absent if w in msg)


MAIN_SCRIPT = """
import sys, torch, torch.nn as nn
class MyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 1)
if __name__ == "__main__":
    torch.save(MyModel(), sys.argv[1])
    print("trained")
"""


def first_hour(enc, x):
    """Issue 15: what the exporter says about what it read, assumed, skipped and could not read."""
    d = os.path.join(WORK, "first_hour")
    os.makedirs(d, exist_ok=True)
    out = lambda n: ["--weights", f"{d}/{n}.safetensors", "--spec", f"{d}/{n}.xf", "--xfc", XFC]  # noqa: E731
    torch.save(enc, f"{d}/enc.pt")
    torch.save(enc.state_dict(), f"{d}/enc_sd.pt")
    # a module: every setting read from it and printed, the mask assumption said
    expect("module_settings", *export(f"{d}/enc.pt", *out("m")), 0, "activation gelu", "normalization pre",
           "read from the module", "assumed: causal false", "xfc check")
    # a gelu / pre-norm state_dict: the flags it cannot infer are required, not assumed
    expect("state_dict_needs_activation", *export(f"{d}/enc_sd.pt", "--nhead", "4", *out("s")), 1, "--activation")
    expect("state_dict_needs_norm_placement", *export(f"{d}/enc_sd.pt", "--nhead", "4", "--activation", "gelu",
                                                       *out("s")), 1, "--norm-first", "--post-norm")
    expect("state_dict_assumed", *export(f"{d}/enc_sd.pt", "--nhead", "4", "--activation", "gelu", "--norm-first",
                                         *out("s")), 0, "assumed: layer_norm_eps 1e-05", "activation gelu",
           "normalization pre")
    # batch_first=False: a warning about the layout
    seq_first = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64), 1).eval()
    torch.save(seq_first, f"{d}/seq_first.pt")
    expect("batch_first_false", *export(f"{d}/seq_first.pt", *out("b")), 0, "batch_first=False", "transpose")
    expect("batch_first_true", *export(f"{d}/enc.pt", *out("m")), 0, absent=("batch_first=False",))
    # --name and --listen checked (xfc check) before anything is written
    for bad in ("int", "9lives", "xf_model"):
        rc, msg = 0, ""
        try:
            rc, msg = export(f"{d}/enc.pt", "--name", bad, *out("n"))
        except SystemExit as e:     # argparse's error()
            rc = e.code
        expect(f"name_{bad}", rc, msg, 2)
    rc, msg = export(f"{d}/enc.pt", "--name", "lst", "--listen", "Foo -> stats", *out("l"))
    expect("bad_listen", rc, msg, 1, "xfc check refuses", "unknown event class 'Foo'", "l.xf:")
    if os.path.exists(f"{d}/l.xf") or os.path.exists(f"{d}/l.safetensors"):
        failures.append("bad_listen: files written although xfc check refused")
    # every tensor left out is named
    torch.save(Wrapper().eval(), f"{d}/wrapped.pt")
    expect("names_left_out", *export(f"{d}/wrapped.pt", *out("w")), 0, "not exported (1 tensors", "embed.weight")
    # files that are not torch.save files
    np.save(f"{d}/x.npy", np.zeros(3, np.float32))
    expect("npy_input", *export(f"{d}/x.npy", *out("x")), 1, "NumPy .npy")
    with open(f"{d}/w.safetensors", "wb") as f:
        f.write(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    expect("safetensors_input", *export(f"{d}/w.safetensors", *out("y")), 1, "safetensors file")
    open(f"{d}/empty.pt", "w").close()
    expect("empty_input", *export(f"{d}/empty.pt", *out("e")), 1, "is empty")
    expect("missing_input", *export(f"{d}/nope.pt", *out("e")), 1, "no such file")
    # a class defined in the training script's __main__: --import loads it (its main block does not run)
    with open(f"{d}/train_main.py", "w") as f:
        f.write(MAIN_SCRIPT)
    subprocess.run([sys.executable, f"{d}/train_main.py", f"{d}/mine.pt"], check=True, capture_output=True)
    script = os.path.join(os.path.dirname(export_torch.__file__), "export_torch.py")
    p = subprocess.run([sys.executable, script, f"{d}/mine.pt", *out("mm")], capture_output=True, text=True)
    expect("class_in_main", p.returncode, p.stderr, 1, "MyModel", "--import")
    p = subprocess.run([sys.executable, script, f"{d}/mine.pt", "--import", f"{d}/train_main.py", *out("mm")],
                       capture_output=True, text=True)
    expect("class_in_main_imported", p.returncode, p.stdout + p.stderr, 0, "wrote", absent=("trained",))
    if not os.access(script, os.X_OK):
        failures.append(f"{script} is not executable")


class LM(nn.Module):
    """torch's tutorial LM: tokens × sqrt(d) + sinusoidal buffer, causal encoder, head."""

    def __init__(self, tied=False, learned=False, scale=True, extra_norm=False):
        super().__init__()
        self.tok = nn.Embedding(20, 32)
        self.scale, self.learned = scale, learned
        if learned:
            self.pos_emb = nn.Embedding(24, 32)
        else:
            self.register_buffer("pe", export_torch.sinusoidal_table(50, 32)[:, None, :], persistent=False)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 48, dropout=0.0, batch_first=True),
                                             2, norm=nn.LayerNorm(32), enable_nested_tensor=False)
        self.head = nn.Linear(32, 20, bias=not tied)
        if tied:
            self.head.weight = self.tok.weight
        self.extra = nn.LayerNorm(32) if extra_norm else None

    def forward(self, ids):
        x = self.tok(ids) * (math.sqrt(32) if self.scale else 1.0)
        x = x + (self.pos_emb(torch.arange(ids.shape[1]))[None] if self.learned else self.pe[:ids.shape[1], 0][None])
        if self.extra is not None:
            x = self.extra(x)
        return self.head(self.encoder(x, mask=causal(ids.shape[1])))


class Seq2Seq(nn.Module):
    """torch's translation tutorial: source/target embeddings, sinusoidal buffer, nn.Transformer, generator."""

    def __init__(self):
        super().__init__()
        self.src_tok, self.tgt_tok = nn.Embedding(18, 32), nn.Embedding(18, 32)
        self.register_buffer("pos_encoding", export_torch.sinusoidal_table(40, 32))
        self.transformer = nn.Transformer(32, 2, 1, 2, 40, dropout=0.0, batch_first=True)
        self.generator = nn.Linear(32, 18)

    def forward(self, src, tgt):
        s = self.src_tok(src) * math.sqrt(32) + self.pos_encoding[:src.shape[1]]
        t = self.tgt_tok(tgt) * math.sqrt(32) + self.pos_encoding[:tgt.shape[1]]
        return self.generator(self.transformer(s, t, tgt_mask=causal(tgt.shape[1])))


class NeedsLengths(LM):
    def forward(self, ids, lengths):
        return super().forward(ids)


def whole_models():
    """Modules with embedding + transformer + head export as token models (embedding { } / head { })."""
    d = os.path.join(WORK, "whole")
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(1)

    def run(name, model, *args):
        torch.save(model.eval(), f"{d}/{name}.pt")
        rc, msg = export(f"{d}/{name}.pt", "--weights", f"{d}/{name}.safetensors", "--spec", f"{d}/{name}.xf",
                         "--xfc", XFC, *args)
        spec = open(f"{d}/{name}.xf").read() if rc == 0 else ""
        names = set(export_torch_names(f"{d}/{name}.safetensors")) if rc == 0 else set()
        return rc, msg + spec, names

    rc, text, names = run("lm", LM())
    expect("whole_lm", rc, text, 0, 'weights_prefix = "encoder."', 'weight = "tok.weight"', "scale = sqrt_d_model",
           "positions = sinusoidal", "max_positions = 50", 'weight = "head.weight"', 'bias = "head.bias"',
           "causal = true", "found by running the module's forward")
    if not {"tok.weight", "head.weight", "head.bias", "encoder.layers.1.linear2.bias"} <= names or "pe" in names:
        failures.append(f"whole_lm: tensors {sorted(names)}")
    rc, text, names = run("lm_tied", LM(tied=True, learned=True, scale=False))
    expect("whole_lm_tied", rc, text, 0, "weight = embedding", 'positions = learned("pos_emb.weight")',
           "max_positions = 24", "head tied to the embedding", absent=("scale = sqrt_d_model", "bias ="))
    if "head.weight" in names or "pos_emb.weight" not in names:
        failures.append(f"whole_lm_tied: tensors {sorted(names)}")
    rc, text, names = run("seq2seq", Seq2Seq())
    expect("whole_seq2seq", rc, text, 0, 'weights_prefix = "transformer."', 'weight = "src_tok.weight"',
           'weight = "tgt_tok.weight"', 'weight = "generator.weight"', "causal = true")
    for name, model in (("lm", LM()), ("lm_tied", LM(tied=True, learned=True, scale=False)), ("seq2seq", Seq2Seq())):
        token_model_runs(d, name, model)
    rc, text, _ = run("extra_norm", LM(extra_norm=True))
    expect("whole_unexpressible", rc, text, 1, "not embedding → transformer → head", "--stack-only")
    rc, text, _ = run("extra_norm_stack", LM(extra_norm=True), "--stack-only", "--causal")
    expect("whole_stack_only", rc, text, 0, "not exported", "tok.weight", absent=("embedding {",))
    rc, text, _ = run("needs_lengths", NeedsLengths())
    expect("whole_forward_not_runnable", rc, text, 1, "--scale")
    rc, text, _ = run("needs_lengths_flags", NeedsLengths(), "--scale", "sqrt_d_model", "--causal")
    expect("whole_from_flags", rc, text, 0, "scale = sqrt_d_model", "from the flags")


def token_model_runs(d, name, model):
    """The exported whole model, built by xfc: its forward's logits equal the module's (1e-4) and
    --generate continues the prompt as greedy decoding with the module does."""
    model = torch.load(f"{d}/{name}.pt").eval()
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 18, (2, 5), generator=g)
    src = torch.randint(0, 18, (2, 7), generator=g)
    np.save(f"{d}/{name}.ids.npy", ids.numpy().astype(np.int32))
    np.save(f"{d}/{name}.src.npy", src.numpy().astype(np.int32))
    two = name == "seq2seq"
    call = (lambda t: model(src, t)) if two else model  # noqa: E731
    extra = ["--source", f"{d}/{name}.src.npy"] if two else []
    base = [f"{d}/{name}.bin", "--weights", f"{d}/{name}.safetensors", "--input", f"{d}/{name}.ids.npy"] + extra
    for cmd in ([XFC, "build", f"{d}/{name}.xf", "-o", f"{d}/{name}.bin"],
                base + ["--output", f"{d}/{name}.logits.npy"],
                base + ["--generate", "6", "--output", f"{d}/{name}.gen.npy"]):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            failures.append(f"whole {name}: {' '.join(cmd)}: {p.stdout}{p.stderr}")
            return
    with torch.no_grad():
        err = float(np.abs(np.load(f"{d}/{name}.logits.npy") - call(ids).numpy()).max())
        seq, margin = ids, float("inf")
        for _ in range(6):
            last = call(seq)[:, -1]
            top = last.topk(2, -1).values
            margin = min(margin, float((top[:, 0] - top[:, 1]).min()))
            seq = torch.cat([seq, last.argmax(-1, keepdim=True)], 1)
    same = np.array_equal(np.load(f"{d}/{name}.gen.npy"), seq.numpy())
    print(f"whole {name}: forward max |xfc - torch| = {err:.2e}; greedy ids {'equal' if same else 'DIFFER'} "
          f"(smallest margin {margin:.2e})")
    if not err <= 1e-4:
        failures.append(f"whole {name}: forward logits differ by {err}")
    if not same and margin > 1e-3:
        failures.append(f"whole {name}: greedy ids differ from PyTorch's")


def export_torch_names(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return [k for k in json.loads(f.read(n)) if k != "__metadata__"]


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
        end_to_end("transformer_state_dict", {"model": w.state_dict()},
                   ["--nhead", "4", "--activation", "relu", "--post-norm"],
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
        end_to_end("fast_transformers_encoder", sd, ["--nhead", "4", "--activation", "relu"], [("input", x)], ft_enc(x))

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
    refused("ft_linear_causal", sd, ["--nhead", "4", "--activation", "relu", "--attention-type", "linear", "--causal"], "causal_linear")
    refused("ft_norm_first", sd, ["--nhead", "4", "--activation", "relu", "--norm-first"], "post-norm only")
    refused("prefix_matches_nothing", enc.state_dict(), ["--nhead", "4", "--post-norm", "--prefix", "foo."], "--prefix 'foo.'")
    refused("nhead_does_not_divide", enc.state_dict(), ["--nhead", "5", "--activation", "gelu", "--norm-first"], "not divisible by --nhead 5")

    first_hour(enc, x)
    whole_models()

    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print("export_torch.py: every export matches PyTorch, every refusal is clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
