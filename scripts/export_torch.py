#!/usr/bin/env python3
"""export_torch.py — a PyTorch transformer to what xfc reads: W.safetensors + NAME.xf.

Takes a saved torch ``nn.TransformerEncoder`` / ``nn.TransformerDecoder`` /
``nn.Transformer`` (the whole module pickled with ``torch.save(module, f)``, a
module containing exactly one of them, or a ``state_dict`` plus the
hyper-parameters a state_dict does not record), or a fast-transformers
``TransformerEncoder`` / ``TransformerDecoder`` state_dict, and writes

  * ``NAME.safetensors``: exactly the tensors the xfc model loads, under the
    names it loads them by (float32 by default), written by hand (a JSON header
    and the raw bytes: no safetensors package needed);
  * ``NAME.xf``: the matching spec, every setting read from the module.

Then ``xfc build NAME.xf -o NAME`` and ``./NAME --weights NAME.safetensors …``.

What xfc cannot express is refused with a one-line reason (exit status 1):
custom activations, layers that differ from each other within a stack,
bias=False, add_bias_kv / add_zero_attn, kdim/vdim != d_model, LayerNorms
without affine parameters or with different eps, a final norm that is not a
LayerNorm, layer classes that override forward…

Masks are arguments of a torch forward call, not part of the module: pass
``--causal`` when the model is called with a square subsequent mask on its
(decoder) self-attention (``tgt_mask`` of ``nn.Transformer``, ``mask`` /
``is_causal`` of ``nn.TransformerEncoder``), ``--causal-encoder`` for
``src_mask`` of an ``nn.Transformer``.  Padding masks (``*_key_padding_mask``)
become the binary's ``--lengths`` / ``--source-lengths`` / ``--memory-lengths``.
batch_first does not matter: xfc's tensors are always [batch, seq, d_model].

Requires python3 with torch (and nothing else).  Examples:

  # a whole pickled module
  python3 scripts/export_torch.py model.pt --name mymodel --causal
  # a state_dict of nn.TransformerEncoder(…, norm_first=True, activation="gelu")
  python3 scripts/export_torch.py enc_state.pt --nhead 8 --norm-first --activation gelu
  # a fast-transformers state_dict (TransformerEncoderBuilder, 8 heads, linear attention)
  python3 scripts/export_torch.py ft.pt --nhead 8 --attention-type linear
"""

import argparse
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    sys.exit("export_torch.py: error: needs PyTorch (Debian: apt-get install python3-torch)")


class Refused(Exception):
    """Something xfc cannot express: the message says what and where."""


# ---- safetensors, by hand -------------------------------------------------

_DTYPES = {"f32": ("F32", torch.float32), "f16": ("F16", torch.float16), "bf16": ("BF16", torch.bfloat16)}


def write_safetensors(path, tensors, dtype="f32", metadata=None):
    """tensors: {name: torch.Tensor}, written in name order.  Header: 8-byte
    little-endian length, JSON padded with spaces to a multiple of 8, then the
    tensors' bytes back to back (data_offsets relative to the end of the header).
    Written to a temporary name and renamed: no partial file on failure."""
    st_name, torch_dtype = _DTYPES[dtype]
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous().to(torch_dtype)
        # bytes without numpy: bfloat16 has no numpy dtype, so go through int16/int32 views
        view = t.view(torch.int16) if t.element_size() == 2 else t.view(torch.int32)
        raw = view.numpy().astype("<i2" if t.element_size() == 2 else "<i4", copy=False).tobytes()
        header[name] = {"dtype": st_name, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".tmp.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for raw in blobs:
                f.write(raw)
        _publish(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return offset


def _publish(tmp, path):
    """mkstemp makes 0600 files: give the result the usual umask-based mode."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def write_text(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".tmp.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        _publish(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ---- reading a torch module -------------------------------------------------

def _activation(act, where):
    """relu / gelu (exact erf form), or Refused."""
    if act is F.relu or isinstance(act, nn.ReLU) or act == "relu":
        return "relu"
    if act is F.gelu or act == "gelu":
        return "gelu"
    if isinstance(act, nn.GELU):
        if getattr(act, "approximate", "none") != "none":
            raise Refused(f"{where}: activation GELU(approximate='{act.approximate}'): "
                          "xfc has the exact (erf) gelu only")
        return "gelu"
    name = getattr(act, "__name__", None) or type(act).__name__
    raise Refused(f"{where}: custom activation {name!r}: xfc expresses relu and gelu only")


def _overrides(obj, base, methods):
    """Methods of base that type(obj) replaces (a subclass with its own forward…)."""
    return [m for m in methods if getattr(type(obj), m, None) is not getattr(base, m, None)]


def _layernorm(norm, where, d_model):
    if not isinstance(norm, nn.LayerNorm):
        raise Refused(f"{where}: {type(norm).__name__} is not an nn.LayerNorm")
    if not norm.elementwise_affine or norm.weight is None or norm.bias is None:
        raise Refused(f"{where}: LayerNorm without weight and bias (elementwise_affine=False / bias=False)")
    if tuple(norm.normalized_shape) != (d_model,):
        raise Refused(f"{where}: LayerNorm over {tuple(norm.normalized_shape)}, expected ({d_model},)")
    return float(norm.eps)


def _mha(attn, where):
    """(d_model, nhead) of a stock nn.MultiheadAttention, or Refused."""
    if not isinstance(attn, nn.MultiheadAttention):
        raise Refused(f"{where}: {type(attn).__name__} is not an nn.MultiheadAttention")
    if not getattr(attn, "_qkv_same_embed_dim", True) or attn.in_proj_weight is None:
        raise Refused(f"{where}: kdim/vdim differ from embed_dim: xfc's torch layout needs the packed in_proj")
    if attn.in_proj_bias is None or attn.out_proj.bias is None:
        raise Refused(f"{where}: bias=False: xfc's attention has projection biases")
    if attn.bias_k is not None or attn.bias_v is not None:
        raise Refused(f"{where}: add_bias_kv=True is not expressible in xfc")
    if attn.add_zero_attn:
        raise Refused(f"{where}: add_zero_attn=True is not expressible in xfc")
    return attn.embed_dim, attn.num_heads


def _linear(lin, where):
    if not isinstance(lin, nn.Linear):
        raise Refused(f"{where}: {type(lin).__name__} is not an nn.Linear")
    if lin.bias is None:
        raise Refused(f"{where}: bias=False: xfc's feed-forward has biases")
    return lin.in_features, lin.out_features


def _layer_settings(layer, where, decoder):
    """Settings of one stock TransformerEncoderLayer / TransformerDecoderLayer."""
    base = nn.TransformerDecoderLayer if decoder else nn.TransformerEncoderLayer
    if not isinstance(layer, base):
        raise Refused(f"{where}: {type(layer).__name__} is not an nn.{base.__name__}")
    changed = _overrides(layer, base, ["forward", "_sa_block", "_mha_block", "_ff_block"])
    if changed:
        raise Refused(f"{where}: {type(layer).__name__} overrides {', '.join(changed)}: "
                      f"xfc expresses the stock nn.{base.__name__} only")
    d_model, nhead = _mha(layer.self_attn, where + ".self_attn")
    if decoder:
        d2, h2 = _mha(layer.multihead_attn, where + ".multihead_attn")
        if (d2, h2) != (d_model, nhead):
            raise Refused(f"{where}: multihead_attn has {h2} heads × d_model {d2}, self_attn {nhead} × {d_model}: "
                          "xfc uses one head count per layer")
    d_in, ff = _linear(layer.linear1, where + ".linear1")
    d_in2, d_out = _linear(layer.linear2, where + ".linear2")
    if d_in != d_model or d_out != d_model or d_in2 != ff:
        raise Refused(f"{where}: linear1/linear2 shapes do not match d_model {d_model}")
    eps = {_layernorm(getattr(layer, n), f"{where}.{n}", d_model)
           for n in (["norm1", "norm2", "norm3"] if decoder else ["norm1", "norm2"])}
    if len(eps) > 1:
        raise Refused(f"{where}: its LayerNorms have different eps {sorted(eps)}: xfc has one layer_norm_eps per stack")
    return {
        "d_model": d_model,
        "n_heads": nhead,
        "feed_forward_dimensions": ff,
        "activation": _activation(layer.activation, where + ".activation"),
        "normalization": "pre" if getattr(layer, "norm_first", False) else "post",
        "layer_norm_eps": eps.pop(),
    }


def _stack_settings(stack, where, decoder):
    """Settings of an nn.TransformerEncoder / nn.TransformerDecoder: every layer
    must agree (xfc has one configuration per stack)."""
    base = nn.TransformerDecoder if decoder else nn.TransformerEncoder
    if not isinstance(stack, base):
        raise Refused(f"{where or 'the module'}: {type(stack).__name__} is not an nn.{base.__name__}")
    changed = _overrides(stack, base, ["forward"])
    if changed:
        raise Refused(f"{where or 'the module'}: {type(stack).__name__} overrides forward: xfc expresses the stock nn.{base.__name__} only")
    layers = list(stack.layers)
    if not layers:
        raise Refused(f"{where or 'the module'}: no layers")
    first = _layer_settings(layers[0], _join(where, "layers.0"), decoder)
    for i, layer in enumerate(layers[1:], 1):
        s = _layer_settings(layer, _join(where, f"layers.{i}"), decoder)
        diff = [f"{k} {s[k]} (layer 0: {first[k]})" for k in first if s[k] != first[k]]
        if diff:
            raise Refused(f"{_join(where, f'layers.{i}')}: differs from layer 0 in {', '.join(diff)}: "
                          "xfc needs the layers of a stack to share one configuration")
    st = dict(first)
    st["n_layers"] = len(layers)
    st["final_normalization"] = stack.norm is not None
    if stack.norm is not None:
        eps = _layernorm(stack.norm, _join(where, "norm"), st["d_model"])
        if eps != st["layer_norm_eps"]:
            raise Refused(f"{_join(where, 'norm')}: eps {eps} differs from the layers' {st['layer_norm_eps']}: "
                          "xfc has one layer_norm_eps per stack")
    return st


_KINDS = {nn.Transformer: "Transformer", nn.TransformerEncoder: "TransformerEncoder",
          nn.TransformerDecoder: "TransformerDecoder"}


def _kind_of(module):
    for cls, kind in _KINDS.items():
        if isinstance(module, cls):
            return kind
    return None


def find_transformer(module, path=None):
    """The module to export: `path` inside `module`, the module itself when it is
    a transformer, or the one transformer it contains (outermost)."""
    if path:
        try:
            sub = module.get_submodule(path)
        except AttributeError as e:
            raise Refused(f"--module {path}: {e}")
        if _kind_of(sub) is None:
            raise Refused(f"--module {path}: {type(sub).__name__} is not an nn.Transformer, "
                          "nn.TransformerEncoder or nn.TransformerDecoder")
        return sub, path + "."
    if _kind_of(module):
        return module, ""
    found = []
    for name, sub in module.named_modules():
        if _kind_of(sub) and not any(name.startswith(f + ".") for f, _ in found):
            found.append((name, sub))
    if not found:
        raise Refused(f"{type(module).__name__} contains no nn.Transformer, nn.TransformerEncoder or "
                      "nn.TransformerDecoder")
    if len(found) > 1:
        raise Refused(f"{type(module).__name__} contains several transformers "
                      f"({', '.join(n for n, _ in found)}): choose one with --module")
    return found[0][1], found[0][0] + "."


def module_config(module):
    """(kind, {"enc": settings, "dec": settings}) of a torch transformer module."""
    kind = _kind_of(module)
    if kind == "Transformer":
        if type(module).forward is not nn.Transformer.forward:
            raise Refused(f"{type(module).__name__} overrides forward: xfc expresses the stock nn.Transformer only")
        enc = _stack_settings(module.encoder, "encoder", False)
        dec = _stack_settings(module.decoder, "decoder", True)
        if enc["d_model"] != dec["d_model"]:
            raise Refused(f"encoder d_model {enc['d_model']} != decoder d_model {dec['d_model']}")
        return kind, {"enc": enc, "dec": dec}
    if kind == "TransformerEncoder":
        return kind, {"enc": _stack_settings(module, "", False)}
    return kind, {"dec": _stack_settings(module, "", True)}


def _join(where, name):
    return f"{where}.{name}" if where else name


# ---- reading a state_dict ---------------------------------------------------

_TORCH_LAYER = re.compile(r"^(?P<pre>.*?)(?P<stack>(?:encoder\.|decoder\.)?)layers\.(?P<i>\d+)\."
                          r"(?P<mod>self_attn|multihead_attn)\.in_proj_weight$")
_FT_LAYER = re.compile(r"^(?P<pre>.*?)layers\.(?P<i>\d+)\.(?P<mod>attention|self_attention|cross_attention)"
                       r"\.query_projection\.weight$")


def _strip_prefix(sd, prefix):
    if not prefix:
        return dict(sd)
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def state_dict_config(sd, args):
    """(layout, kind, configs, prefix) of a state_dict; hyper-parameters that a
    state_dict does not record come from args."""
    torch_hits = [m for m in map(_TORCH_LAYER.match, sd) if m]
    ft_hits = [m for m in map(_FT_LAYER.match, sd) if m]
    if torch_hits and ft_hits:
        raise Refused("the state_dict mixes torch (self_attn.in_proj_weight) and fast-transformers "
                      "(query_projection) names")
    if not torch_hits and not ft_hits:
        if any(k.endswith("self_attn.q_proj_weight") for k in sd):
            raise Refused("self_attn.q_proj_weight: kdim/vdim differ from embed_dim: xfc's torch layout "
                          "needs the packed in_proj")
        raise Refused("no transformer layers found (expected 'layers.0.self_attn.in_proj_weight' (torch) or "
                      "'layers.0.attention.query_projection.weight' (fast-transformers))")
    hits = torch_hits or ft_hits
    prefixes = {m.group("pre") for m in hits}
    if args.prefix is not None:
        prefixes = {args.prefix}
    elif len(prefixes) > 1:
        raise Refused(f"several transformers in the state_dict (prefixes {sorted(prefixes)}): choose one with --prefix")
    prefix = prefixes.pop()
    sd = _strip_prefix(sd, prefix)
    if not sd:
        raise Refused(f"--prefix {prefix!r}: no tensor name starts with it")
    if args.nhead is None:
        raise Refused("a state_dict does not record the number of heads: pass --nhead")
    if torch_hits:
        stacks = {m.group("stack") for m in torch_hits if m.group("pre") == prefix}
        if stacks == {"encoder.", "decoder."}:
            kind = "Transformer"
        elif stacks == {""}:
            kind = "TransformerDecoder" if any(".multihead_attn." in k for k in sd) else "TransformerEncoder"
        else:
            raise Refused(f"cannot tell the model kind from the layer names (stacks {sorted(stacks)})")
        configs = {}
        for key, stack_pre, decoder in (("enc", "encoder." if kind == "Transformer" else "", False),
                                        ("dec", "decoder." if kind == "Transformer" else "", True)):
            if (key == "enc" and kind == "TransformerDecoder") or (key == "dec" and kind == "TransformerEncoder"):
                continue
            configs[key] = _torch_sd_stack(sd, stack_pre, decoder, args)
        return "torch", kind, configs, prefix, sd
    kind = "TransformerDecoder" if any(".cross_attention." in k for k in sd) else "TransformerEncoder"
    key = "dec" if kind == "TransformerDecoder" else "enc"
    return "fast_transformers", kind, {key: _ft_sd_stack(sd, kind == "TransformerDecoder", args)}, prefix, sd


def _shape(sd, name):
    if name not in sd:
        raise Refused(f"missing tensor {name}")
    return tuple(sd[name].shape)


def _n_layers(sd, stack_pre):
    idx = {int(m.group(1)) for m in (re.match(re.escape(stack_pre) + r"layers\.(\d+)\.", k) for k in sd) if m}
    if not idx or idx != set(range(max(idx) + 1)):
        raise Refused(f"{stack_pre}layers: indexes {sorted(idx)} are not 0..n-1")
    return max(idx) + 1


def _common_settings(args, d_model, n_layers, ff, final_norm, layout="torch"):
    """Settings of a state_dict stack.  What a state_dict does not record (activation, norm
    placement) must come from flags: nothing is assumed silently."""
    nhead = args.nhead
    if d_model % nhead:
        raise Refused(f"d_model {d_model} is not divisible by --nhead {nhead}")
    if args.activation is None:
        raise Refused("a state_dict does not record the activation: pass --activation relu or --activation gelu "
                      "(or save the whole module: torch.save(model, f))")
    if layout == "torch" and args.norm_first is None:
        raise Refused("a state_dict does not record where the LayerNorms sit: pass --norm-first (torch "
                      "norm_first=True) or --post-norm (the default of nn.TransformerEncoderLayer)")
    return {
        "d_model": d_model, "n_heads": nhead, "n_layers": n_layers, "feed_forward_dimensions": ff,
        "activation": args.activation, "normalization": "pre" if args.norm_first else "post",
        "layer_norm_eps": args.layer_norm_eps, "final_normalization": final_norm,
    }


def _torch_sd_stack(sd, pre, decoder, args):
    n = _n_layers(sd, pre)
    d_model = _shape(sd, f"{pre}layers.0.self_attn.in_proj_weight")[1]
    ff = _shape(sd, f"{pre}layers.0.linear1.weight")[0]
    for i in range(n):
        lp = f"{pre}layers.{i}."
        mods = ["self_attn"] + (["multihead_attn"] if decoder else [])
        for mod in mods:
            if _shape(sd, lp + mod + ".in_proj_weight") != (3 * d_model, d_model):
                raise Refused(f"{lp}{mod}.in_proj_weight: shape {_shape(sd, lp + mod + '.in_proj_weight')}, "
                              f"expected {(3 * d_model, d_model)}")
            for b in (".in_proj_bias", ".out_proj.bias"):
                if lp + mod + b not in sd:
                    raise Refused(f"{lp}{mod}{b} missing: bias=False is not expressible in xfc")
            if lp + mod + ".bias_k" in sd:
                raise Refused(f"{lp}{mod}.bias_k: add_bias_kv=True is not expressible in xfc")
        for lin in ("linear1", "linear2"):
            if lp + lin + ".bias" not in sd:
                raise Refused(f"{lp}{lin}.bias missing: bias=False is not expressible in xfc")
        if _shape(sd, lp + "linear1.weight") != (ff, d_model):
            raise Refused(f"{lp}linear1.weight: shape {_shape(sd, lp + 'linear1.weight')}, layer 0 has "
                          f"{(ff, d_model)}: xfc needs the layers of a stack to share one configuration")
        for k in range(1, 4 if decoder else 3):
            if lp + f"norm{k}.weight" not in sd or lp + f"norm{k}.bias" not in sd:
                raise Refused(f"{lp}norm{k}: LayerNorm without weight and bias is not expressible in xfc")
    return _common_settings(args, d_model, n, ff, f"{pre}norm.weight" in sd)


def _ft_sd_stack(sd, decoder, args):
    n = _n_layers(sd, "")
    self_name = "self_attention" if decoder else "attention"
    he, d_model = _shape(sd, f"layers.0.{self_name}.query_projection.weight")
    hdv = _shape(sd, f"layers.0.{self_name}.value_projection.weight")[0]
    ff = _shape(sd, "layers.0.linear1.weight")[0]
    if args.norm_first:
        raise Refused("fast-transformers layers are post-norm only: drop --norm-first")
    st = _common_settings(args, d_model, n, ff, "norm.weight" in sd, "fast_transformers")
    if args.norm_first:
        raise Refused("fast-transformers layers are post-norm only: drop --norm-first")
    if he % args.nhead or hdv % args.nhead:
        raise Refused(f"query/value projections ({he}, {hdv}) are not divisible by --nhead {args.nhead}")
    st["query_dimensions"] = he // args.nhead
    st["value_dimensions"] = hdv // args.nhead
    if st["value_dimensions"] * args.nhead != d_model:
        raise Refused(f"d_model {d_model} != n_heads × value_dimensions ({args.nhead} × {st['value_dimensions']}): "
                      "xfc needs d_model = n_heads * value_dimensions")
    for i in range(n):
        for mod in [self_name] + (["cross_attention"] if decoder else []):
            for p in ("query", "key", "value", "out"):
                for t in ("weight", "bias"):
                    if f"layers.{i}.{mod}.{p}_projection.{t}" not in sd:
                        raise Refused(f"layers.{i}.{mod}.{p}_projection.{t} missing")
        if _shape(sd, f"layers.{i}.linear1.weight") != (ff, d_model):
            raise Refused(f"layers.{i}.linear1.weight differs from layer 0: xfc needs the layers of a stack "
                          "to share one configuration")
    return st


# ---- whole token models: embedding, positions, head ------------------------------------------
#
# A module that holds, besides its transformer, an nn.Embedding and an nn.Linear head (the
# layout of torch's tutorials) is exported whole: spec `embedding { }` / `head { }` blocks and
# `weights_prefix`, tensors under the module's own names.  The module's structure shows the
# embedding, learned positions (an nn.Embedding named *pos*), a sinusoidal table (a buffer
# equal to torch's tutorial table) and a tied head (head.weight *is* the embedding's weight);
# the forward's arithmetic — × sqrt(d_model) or not, a causal mask or not — is code, so it is
# found by running the module's forward on random ids and comparing with each arrangement xfc
# expresses, or, when the forward cannot be run that way, taken from --scale / --positions /
# --causal and printed as assumed.


def sinusoidal_table(n, d):
    """torch's tutorial table (xfc's `positions = sinusoidal`): pe[p, 2i] = sin(p / 10000^(2i/d))."""
    pe = torch.zeros(n, d)
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


def _sinusoidal_buffers(module, d_model, outside):
    """[(name, max_positions)] of the buffers outside the transformer that hold the sinusoidal
    table ([M, d], [M, 1, d] or [1, M, d]); a position-like buffer with other values is refused."""
    found = []
    for name, buf in module.named_buffers():
        if not outside(name) or not torch.is_floating_point(buf) or buf.shape[-1] != d_model:
            continue
        t = buf.detach().float()
        if t.dim() == 3 and 1 in tuple(t.shape[:2]):
            t = t.reshape(-1, d_model)
        if t.dim() != 2:
            continue
        if torch.allclose(t, sinusoidal_table(t.shape[0], d_model), atol=1e-5):
            found.append((name, t.shape[0]))
        elif "pe" in name.split(".")[-1] or "pos" in name:
            raise Refused(f"buffer {name} {tuple(buf.shape)} is not torch's sinusoidal table "
                          "(sin(p / 10000^(2i/d)), cos(…)): xfc cannot express these positions")
    return found


def _pick(cands, want, what, flag):
    """The one module of cands (name, module) for a role; `want` (a --flag value) chooses."""
    if want is not None:
        for n, m in cands:
            if n == want:
                return n, m
        raise Refused(f"{flag} {want}: no such {what} (have: {', '.join(n for n, _ in cands) or 'none'})")
    if len(cands) > 1:
        raise Refused(f"several {what}s ({', '.join(n for n, _ in cands)}): choose one with {flag} NAME")
    return cands[0] if cands else (None, None)


def token_parts(module, tprefix, kind, d_model, args):
    """The embedding / positions / head of a whole model, or None when the module holds none.
    Returns {"enc": side, "dec": side} (a Transformer) or {"enc": side} (an LM), each side
    {"emb": name, "vocab", "pos": ("learned", name, M) | ("sinusoidal", buffer, M) | None,
    "head": name | None, "tied", "head_bias"}."""
    stacks = [n for n, m in module.named_modules() if n and _kind_of(m)]

    def outside(name):
        """Not a transformer (the exported one or another), not inside one, not an ancestor of one."""
        return not any(name == t or name.startswith(t + ".") or t.startswith(name + ".") for t in stacks)

    mods = [(n, m) for n, m in module.named_modules() if n and outside(n)]
    embs = [(n, m) for n, m in mods if isinstance(m, nn.Embedding)]
    lins = [(n, m) for n, m in mods if isinstance(m, nn.Linear)]
    heads = [(n, m) for n, m in lins if m.in_features == d_model]
    if not embs or not heads:
        if embs:
            note(f"{', '.join(n for n, _ in embs)}: an nn.Embedding but no nn.Linear head of width {d_model}: "
                 "exporting the transformer alone")
        return None
    if kind == "TransformerDecoder":
        raise Refused("a whole model around an nn.TransformerDecoder takes a memory: xfc's token models are an "
                      "nn.TransformerEncoder (decoder-only LM) or an nn.Transformer; use --stack-only")
    for n, m in embs:
        if m.embedding_dim != d_model:
            raise Refused(f"{n}: nn.Embedding of width {m.embedding_dim}, the transformer's d_model is {d_model}")
        if m.max_norm is not None:
            raise Refused(f"{n}: nn.Embedding(max_norm=…) renormalizes at run time: not expressible in xfc")
    pos = [(n, m) for n, m in embs if "pos" in n.split(".")[-1].lower()]
    tok = [(n, m) for n, m in embs if (n, m) not in pos]
    head_name, head = _pick(heads, args.head, "nn.Linear head", "--head")
    sines = _sinusoidal_buffers(module, d_model, outside)
    sides = {}
    for key in (("enc", "dec") if kind == "Transformer" else ("enc",)):
        words = {"enc": ("src", "enc", "source"), "dec": ("tgt", "trg", "dec", "target")}[key]
        mine = lambda c: [x for x in c if any(w in x[0].lower() for w in words)] or c  # noqa: E731
        if kind != "Transformer":
            mine = lambda c: c  # noqa: E731
        ename, emb = _pick(mine(tok), args.embedding, "token embedding", "--embedding")
        if emb is None:
            raise Refused(f"no token embedding found (nn.Embeddings: {', '.join(n for n, _ in embs)})")
        pname, pemb = _pick(mine(pos), None, "position embedding", "--stack-only")
        if pemb is not None:
            p = ("learned", pname + ".weight", pemb.num_embeddings)
        elif sines:
            p = ("sinusoidal", sines[0][0], sines[0][1])
        else:
            p = None
        tied = head is not None and head.weight is emb.weight
        sides[key] = {"emb": ename + ".weight", "vocab": emb.num_embeddings, "pos": p,
                      "head": None, "tied": False, "head_bias": None}
        if head is not None and (key == "dec" or kind != "Transformer"):
            if head.out_features != emb.num_embeddings and not tied:
                note(f"head {head_name} has {head.out_features} outputs, the embedding {ename} "
                     f"{emb.num_embeddings} tokens")
            sides[key].update(head=head_name + ".weight", tied=tied,
                              head_bias=head_name + ".bias" if head.bias is not None else None)
    return sides


def _reference(module, kind, sides, d_model, settings, ids, src):
    """What xfc computes for a whole model under one arrangement: embed (× scale) + positions,
    the module's own transformer, head.  ids/src [N, L] batch-first; returns [N, L, V]."""
    stack = module.get_submodule(settings["tprefix"].rstrip("."))
    params = dict(module.named_parameters())
    buffers = dict(module.named_buffers())
    batch_first = settings["batch_first"]

    def embed(side, t):
        x = F.embedding(t, params[side["emb"]])
        if settings["scale"]:
            x = x * math.sqrt(d_model)
        p = side["pos"] if settings["positions"] else None
        if p and p[0] == "learned":
            x = x + params[p[1]][: t.shape[1]][None]
        elif p:
            x = x + buffers[p[1]].reshape(-1, d_model)[: t.shape[1]][None]
        return x if batch_first else x.transpose(0, 1)

    if kind == "Transformer":
        T = ids.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(T) if settings["causal"] else None
        y = stack(embed(sides["enc"], src), embed(sides["dec"], ids), tgt_mask=mask)
        side = sides["dec"]
    else:
        mask = nn.Transformer.generate_square_subsequent_mask(ids.shape[1]) if settings["causal"] else None
        y = stack(embed(sides["enc"], ids), mask=mask)
        side = sides["enc"]
    y = y if batch_first else y.transpose(0, 1)
    if side["head"] is None:
        return y
    w = params[side["emb"]] if side["tied"] else params[side["head"]]
    b = params[side["head_bias"]] if side["head_bias"] and not side["tied"] else None
    if side["tied"] and side["head_bias"]:
        b = params[side["head_bias"]]
    return F.linear(y, w, b)


def _run_forward(module, kind, ids, src):
    """The module's own forward on ids (and src), batch-first [N, L, V] — or None when it
    cannot be called as forward(ids) / forward(src, tgt) with either layout."""
    for seq_first in (False, True):
        a = ids.t() if seq_first else ids
        b = src.t() if (seq_first and src is not None) else src
        try:
            with torch.no_grad():
                out = module(b, a) if kind == "Transformer" else module(a)
        except Exception:  # noqa: BLE001 - any failure: the forward has another signature
            continue
        if isinstance(out, (tuple, list)) and out and torch.is_tensor(out[0]):
            out = out[0]
        if torch.is_tensor(out) and out.dim() == 3:
            return out.transpose(0, 1) if seq_first else out
    return None


def infer_arrangement(module, kind, sides, d_model, tprefix, batch_first, args):
    """Settings of the forward's arithmetic: scale, causal (decoder side), positions used.
    Returns (settings, how) where how says whether they were found by running the forward."""
    base = {"tprefix": tprefix, "batch_first": batch_first}
    vocab = min(s["vocab"] for s in sides.values())
    g = torch.Generator().manual_seed(0)
    lo = min(4, vocab - 1)     # ids ≥ 4: special tokens (often a pad id) are usually 0-3
    ids = torch.randint(lo, vocab, (2, 7), generator=g)
    src = torch.randint(lo, vocab, (2, 9), generator=g) if kind == "Transformer" else None
    out = _run_forward(module, kind, ids, src)
    scales = [args.scale == "sqrt_d_model"] if args.scale else [False, True]
    causals = [True] if args.causal else [True, False]
    has_pos = any(s["pos"] for s in sides.values())
    positions = [args.positions != "none"] if args.positions else ([True, False] if has_pos else [False])
    if out is not None:
        tried = []
        for sc in scales:
            for ca in causals:
                for po in positions:
                    st = dict(base, scale=sc, causal=ca, positions=po)
                    with torch.no_grad():
                        ref = _reference(module, kind, sides, d_model, st, ids, src)
                    tried.append(f"scale {'sqrt_d_model' if sc else 1}, causal {str(ca).lower()}, "
                                 f"positions {'yes' if po else 'none'}")
                    if ref.shape == out.shape and torch.allclose(ref, out, atol=1e-4, rtol=1e-4):
                        return st, "found by running the module's forward on random ids"
        raise Refused("the module's forward is not embedding → transformer → head in any arrangement xfc "
                      f"expresses (tried {'; '.join(tried)}): export the transformer alone with --stack-only")
    missing = [f for f, v in (("--scale 1|sqrt_d_model", args.scale),) if v is None]
    if has_pos is False and args.positions is None:
        missing.append("--positions none|sinusoidal|learned")
    if missing:
        raise Refused("the module's forward cannot be run as forward(ids)" + (" / forward(src, tgt)" if
                      kind == "Transformer" else "") + " to see its arithmetic: pass " + " and ".join(missing))
    st = dict(base, scale=args.scale == "sqrt_d_model", causal=bool(args.causal),
              positions=(args.positions or "yes") != "none")
    return st, "from the flags (the forward could not be run)"


# ---- tensors xfc loads --------------------------------------------------------

def xfc_tensor_names(layout, kind, configs):
    """Exactly the tensor names the generated stack asks for (anything else in the file is an
    error at load time), without weights_prefix."""
    names = []
    stacks = []
    if "enc" in configs:
        stacks.append(("encoder." if kind == "Transformer" else "", configs["enc"], False))
    if "dec" in configs:
        stacks.append(("decoder." if kind == "Transformer" else "", configs["dec"], True))
    for pre, st, decoder in stacks:
        for i in range(st["n_layers"]):
            lp = f"{pre}layers.{i}."
            if layout == "torch":
                mods = ["self_attn"] + (["multihead_attn"] if decoder else [])
                for mod in mods:
                    names += [lp + mod + s for s in (".in_proj_weight", ".in_proj_bias",
                                                     ".out_proj.weight", ".out_proj.bias")]
            else:
                mods = ["self_attention", "cross_attention"] if decoder else ["attention"]
                for mod in mods:
                    names += [f"{lp}{mod}.{p}_projection.{t}" for p in ("query", "key", "value", "out")
                              for t in ("weight", "bias")]
            names += [lp + s for s in ("linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias")]
            names += [f"{lp}norm{k}.{t}" for k in range(1, 4 if decoder else 3) for t in ("weight", "bias")]
        if st["final_normalization"]:
            names += [pre + "norm.weight", pre + "norm.bias"]
    return names


def token_tensor_names(sides):
    names = []
    for side in sides.values():
        names.append(side["emb"])
        if side["pos"] and side["pos"][0] == "learned":
            names.append(side["pos"][1])
        if side["head"] and not side["tied"]:
            names.append(side["head"])
        if side["head_bias"]:
            names.append(side["head_bias"])
    return list(dict.fromkeys(names))


# ---- the spec -------------------------------------------------------------------

_ORDER = ["n_layers", "n_heads", "query_dimensions", "value_dimensions", "feed_forward_dimensions",
          "attention_type", "local_context", "topk", "causal", "activation", "normalization", "final_normalization",
          "layer_norm_eps"]


def _spec_settings(st):
    out = {
        "n_layers": st["n_layers"],
        "n_heads": st["n_heads"],
        "query_dimensions": st.get("query_dimensions", st["d_model"] // st["n_heads"]),
        "value_dimensions": st.get("value_dimensions", st["d_model"] // st["n_heads"]),
        "feed_forward_dimensions": st["feed_forward_dimensions"],
        "activation": st["activation"],
        "normalization": st["normalization"],
        "final_normalization": st["final_normalization"],
        "layer_norm_eps": st["layer_norm_eps"],
        "causal": st.get("causal", False),
    }
    if st.get("attention_type", "full") != "full":
        out["attention_type"] = st["attention_type"]
    if st.get("attention_type") == "local" and st.get("local_context") is not None:
        out["local_context"] = st["local_context"]
    if st.get("attention_type") == "exact_topk" and st.get("topk") is not None:
        out["topk"] = st["topk"]
    return out


def _fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        r = repr(v)
        return r if ("." in r or "e" in r) else r + ".0"
    return str(v)


def _token_blocks(side, arr, indent):
    """embedding { } and head { } lines of one side of a whole model."""
    i = " " * indent
    lines = [f"{i}embedding {{", f"{i}    vocab = {side['vocab']}", f'{i}    weight = "{side["emb"]}"']
    if arr["scale"]:
        lines.append(f"{i}    scale = sqrt_d_model")
    p = side["pos"] if arr["positions"] else None
    if p and p[0] == "learned":
        lines.append(f'{i}    positions = learned("{p[1]}")')
    elif p:
        lines.append(f"{i}    positions = sinusoidal")
    else:
        lines.append(f"{i}    positions = none")
    if p:
        lines.append(f"{i}    max_positions = {p[2]}")
    elif arr.get("max_positions"):
        lines.append(f"{i}    max_positions = {arr['max_positions']}")
    lines.append(f"{i}}}")
    if side["head"]:
        lines += [f"{i}head {{", f"{i}    weight = " + ("embedding" if side["tied"] else f'"{side["head"]}"')]
        if side["head_bias"]:
            lines.append(f'{i}    bias = "{side["head_bias"]}"')
        lines.append(f"{i}}}")
    return lines


def _usage(name, kind, weights_file, whole):
    if whole:
        how = "--source SRC_IDS.npy --input IDS.npy" if kind == "Transformer" else "--input IDS.npy"
        return f"./{name} --weights {weights_file} {how} --generate 20 --output OUT.npy"
    how = ("--source SRC.npy --input TGT.npy" if kind == "Transformer" else
           "--input X.npy --memory M.npy" if kind == "TransformerDecoder" else "--input X.npy")
    return f"./{name} --weights {weights_file} {how} --output Y.npy"


def make_spec(name, kind, layout, configs, source, weights_file, listeners=(), spec_file=None, token=None):
    """token: None, or (sides, arrangement, weights_prefix) of a whole model."""
    spec_file = spec_file or name + ".xf"
    lines = [f"# {spec_file} — written by scripts/export_torch.py from {source}",
             f"# weights: {weights_file} ({layout} names)",
             f"#   xfc build {spec_file} -o {name} && {_usage(name, kind, weights_file, token is not None)}",
             f"model {name} : {kind} {{"]
    if layout != "torch":
        lines.append(f"    weights = {layout}")
    sets = {k: _spec_settings(v) for k, v in configs.items()}
    if kind == "Transformer":
        common = {k: v for k, v in sets["enc"].items() if sets["dec"].get(k) == v}
        for k in _ORDER:
            if k in common:
                lines.append(f"    {k} = {_fmt(common[k])}")
        if token:
            lines.append(f'    weights_prefix = "{token[2]}"')
        for block, key in (("encoder", "enc"), ("decoder", "dec")):
            own = [k for k in _ORDER if k in sets[key] and k not in common]
            body = [f"        {k} = {_fmt(sets[key][k])}" for k in own]
            if token:
                body += _token_blocks(token[0][key], token[1], 8)
            if body:
                lines += [f"    {block} {{"] + body + ["    }"]
    else:
        (only,) = sets.values()
        lines += [f"    {k} = {_fmt(only[k])}" for k in _ORDER if k in only]
        if token:
            lines.append(f'    weights_prefix = "{token[2]}"')
            lines += _token_blocks(token[0]["enc"], token[1], 4)
    lines.append("}")
    if listeners:
        lines.append("")
        lines += [f"listen {l}" for l in listeners]
    return "\n".join(lines) + "\n"


# ---- export -----------------------------------------------------------------------

def note(msg):
    """A line for the user on stderr (what was assumed, skipped, or worth knowing)."""
    print(f"export_torch.py: {msg}", file=sys.stderr)


def _describe(st):
    keys = ["n_layers", "n_heads", "d_model", "feed_forward_dimensions", "activation", "normalization",
            "layer_norm_eps", "final_normalization", "causal"]
    return ", ".join(f"{k} {_fmt(st[k])}" for k in keys if k in st)


def plan_module(obj, args):
    """What to write for a pickled module: {layout, kind, configs, tensors, token, origin, source names}."""
    for flag in ("nhead", "prefix", "activation", "norm_first"):
        if getattr(args, flag) is not None:
            raise Refused(f"--{flag.replace('_', '-')} is for state_dicts: a module records its own settings")
    stack, tprefix = find_transformer(obj, args.module)
    kind, configs = module_config(stack)
    first = next(iter(configs.values()))
    layer0 = (stack.encoder if kind == "Transformer" else stack).layers[0]
    batch_first = bool(getattr(layer0.self_attn, "batch_first", False))
    sides = None
    if obj is not stack and not args.stack_only:
        sides = token_parts(obj, tprefix, kind, first["d_model"], args)
    plan = {"layout": "torch", "kind": kind, "configs": configs, "token": None, "batch_first": batch_first,
            "origin": "read from the module", "input_names": list(obj.state_dict()), "assumed": []}
    stack_sd = stack.state_dict()
    dec_key = "dec" if kind != "TransformerEncoder" else "enc"
    if sides is None:
        _mark_causal(plan, args)
        plan["tensors"] = {n: stack_sd[n] for n in _checked_names(plan, stack_sd)}
        plan["exported_as"] = {tprefix + n: n for n in plan["tensors"]}
        return plan
    arr, how = infer_arrangement(obj, kind, sides, first["d_model"], tprefix, batch_first, args)
    arr["max_positions"] = args.max_positions
    configs[dec_key]["causal"] = arr["causal"]
    if kind == "Transformer":
        configs["enc"]["causal"] = bool(args.causal_encoder)
    plan["token"] = (sides, arr, tprefix)
    plan["token_how"] = how
    full = dict(obj.named_parameters())
    full.update(dict(obj.named_buffers()))
    plan["tensors"] = {tprefix + n: stack_sd[n] for n in _checked_names(plan, stack_sd)}
    plan["tensors"].update({n: full[n] for n in token_tensor_names(sides)})
    plan["exported_as"] = {n: n for n in plan["tensors"]}
    for side in sides.values():
        if side["tied"]:
            plan["exported_as"][side["head"]] = f"(tied: head {{ weight = embedding }} reads {side['emb']})"
        if side["pos"] and side["pos"][0] == "sinusoidal":
            plan["exported_as"][side["pos"][1]] = "(sinusoidal: xfc computes the table)"
    return plan


def _mark_causal(plan, args):
    kind, configs = plan["kind"], plan["configs"]
    if args.causal_encoder and kind != "Transformer":
        raise Refused("--causal-encoder is for nn.Transformer (its src_mask); use --causal")
    key = "enc" if kind == "TransformerEncoder" else "dec"
    configs[key]["causal"] = bool(args.causal)
    if "enc" in configs and key == "dec":
        configs["enc"]["causal"] = bool(args.causal_encoder)
    if not args.causal:
        plan["assumed"].append("causal false (a mask is an argument of the forward call, not part of the module: "
                               "pass --causal when it is called with a causal mask)")


def _checked_names(plan, sd):
    names = xfc_tensor_names(plan["layout"], plan["kind"], plan["configs"])
    missing = [n for n in names if n not in sd]
    if missing:
        raise Refused(f"missing tensor {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return names


def plan_state_dict(obj, args):
    if isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise Refused(f"{type(obj).__name__} is neither an nn.Module nor a state_dict")
    if args.module:
        raise Refused("--module is for pickled modules; for a state_dict use --prefix")
    full = {k: v for k, v in obj.items() if torch.is_tensor(v)}
    layout, kind, configs, prefix, sd = state_dict_config(full, args)
    if layout == "fast_transformers":
        st = configs[next(iter(configs))]
        st["attention_type"] = args.attention_type
        st["local_context"], st["topk"] = args.local_context, args.topk
    elif args.attention_type != "full":
        raise Refused("--attention-type is for fast-transformers state_dicts (torch attention is full)")
    plan = {"layout": layout, "kind": kind, "configs": configs, "token": None, "batch_first": True,
            "origin": "shapes from the state_dict, n_heads / activation / normalization from the flags",
            "input_names": list(full), "assumed": []}
    if args.layer_norm_eps == 1e-5:
        plan["assumed"].append("layer_norm_eps 1e-05 (torch's default; a state_dict does not record it: "
                               "--layer-norm-eps)")
    _mark_causal(plan, args)
    if layout == "fast_transformers":
        st = configs[next(iter(configs))]
        at = st.get("attention_type", "full")
        if at == "linear" and st["causal"]:
            raise Refused("--causal with linear attention is fast-transformers' causal-linear: "
                          "use --attention-type causal_linear")
        if at == "causal_linear":
            st["causal"] = True
    plan["tensors"] = {n: sd[n] for n in _checked_names(plan, sd)}
    plan["exported_as"] = {prefix + n: n for n in plan["tensors"]}
    plan["input_names"] = list(full)
    plan["prefix"] = prefix
    return plan


def find_xfc(explicit=None):
    """The xfc binary that checks what is written: --xfc, $XFC, xfc on PATH, this checkout's build."""
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (explicit, os.environ.get("XFC"), shutil.which("xfc"),
                 os.path.join(here, "..", "build", "compiler", "xfc"), os.path.join(here, "..", "build", "xfc")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    if explicit:
        raise Refused(f"--xfc {explicit}: not an executable file")
    return None


def xfc_check(xfc, spec_text, spec_path):
    """Runs `xfc check` on the spec before anything is written; returns xfc's complaint or None."""
    with tempfile.TemporaryDirectory(prefix="export_torch.") as d:
        tmp = os.path.join(d, os.path.basename(spec_path))
        with open(tmp, "w") as f:
            f.write(spec_text)
        p = subprocess.run([xfc, "check", tmp], capture_output=True, text=True)
        if p.returncode == 0:
            return None
        return (p.stderr + p.stdout).replace(tmp, spec_path).rstrip()


def write_export(plan, name, weights_path, spec_path, listeners=(), dtype="f32", source="<module>", xfc=None):
    """The spec (checked by xfc when one is found), then the weights and the spec, or nothing."""
    spec = make_spec(name, plan["kind"], plan["layout"], plan["configs"], source, os.path.basename(weights_path),
                     listeners, os.path.basename(spec_path), plan["token"])
    if xfc:
        complaint = xfc_check(xfc, spec, spec_path)
        if complaint:
            raise Refused("xfc check refuses the spec (nothing written):\n" + complaint)
    nbytes = write_safetensors(weights_path, plan["tensors"], dtype,
                               {"format": "pt", "producer": "xfc scripts/export_torch.py", "xfc_model": name})
    write_text(spec_path, spec)
    return nbytes


def export_module(module, name, weights_path, spec_path, causal=False, causal_encoder=False,
                  listeners=(), dtype="f32", source="<module>", prefix="", whole=False):
    """Exports a torch module (Python API; examples/trained/train.py uses it): the transformer
    alone, or with whole=True its embedding and head too.  Returns (kind, configs, bytes, plan)."""
    args = argparse.Namespace(nhead=None, prefix=None, activation=None, norm_first=None, module=None,
                              stack_only=not whole, causal=causal, causal_encoder=causal_encoder, scale=None,
                              positions=None, embedding=None, head=None, max_positions=None)
    plan = plan_module(module, args)
    nbytes = write_export(plan, name, weights_path, spec_path, listeners, dtype, source)
    return plan["kind"], plan["configs"], nbytes, plan


# ---- reading the input file ---------------------------------------------------------

def _sniff(path):
    """A clear word for files torch.load cannot read: .npy, safetensors, text…, or None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\x93NUMPY"):
        return "is a NumPy .npy array, not a torch.save file (export_torch.py reads a saved module or state_dict)"
    if len(head) >= 10 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < 100_000_000:
        return ("is a safetensors file: xfc reads it directly (write its spec, docs/DSL.md); export_torch.py "
                "reads the torch.save checkpoint it came from")
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return None     # torch's zip format or a legacy pickle
    if not head:
        return "is empty"
    return f"is not a torch.save file (it starts with {head[:8]!r})"


def load_input(path, imports=()):
    """torch.load with messages a user can act on."""
    if not os.path.isfile(path):
        raise Refused("no such file")
    bad = _sniff(path)
    if bad:
        raise Refused(bad)
    for script in imports:
        import runpy
        main = sys.modules["__main__"]
        for k, v in runpy.run_path(script, run_name="__export_torch_import__").items():
            if isinstance(v, type):
                setattr(main, k, v)
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except TypeError:   # torch < 1.13 has no weights_only
            return torch.load(path, map_location="cpu")
    except AttributeError as e:
        m = re.search(r"Can't get attribute '(\w+)' on <module '([\w.]+)'", str(e))
        if m and m.group(2) == "__main__":
            raise Refused(f"cannot unpickle: its class {m.group(1)} was defined in the script that saved it "
                          f"(its __main__): pass --import THAT_SCRIPT.py (its definitions are loaded, its "
                          f"`if __name__ == \"__main__\"` part does not run), or save a state_dict instead")
        raise Refused(f"cannot unpickle: {e} (pass --import FILE.py with the class's definition, or save a "
                      "state_dict)")
    except ModuleNotFoundError as e:
        raise Refused(f"cannot unpickle: {e}: the module's classes live there: put its directory on PYTHONPATH, "
                      "pass --import FILE.py, or save a state_dict")
    except Exception as e:  # noqa: BLE001 - any unpickling failure is the user's file
        raise Refused(f"not a file torch.load can read: {type(e).__name__}: {e}")


_C_KEYWORDS = set("auto break case char const continue default do double else enum extern float for goto if "
                  "inline int long register restrict return short signed sizeof static struct switch typedef "
                  "union unsigned void volatile while main".split())


def check_name(name):
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return f"--name {name!r} must be a C identifier (letters, digits, _; not starting with a digit)"
    if name.startswith(("xf_", "XF_")) or name in _C_KEYWORDS or name.startswith("_"):
        return f"--name {name!r} cannot be used: a C keyword or a reserved name (xf_…, leading _)"
    return None


def report(plan, name, weights, spec, nbytes, xfc, args):
    """What the user should know: the settings and where they came from, what was assumed,
    every tensor left out, the input layout, whether xfc checked the spec."""
    for key, st in plan["configs"].items():
        label = {"enc": "encoder", "dec": "decoder"}[key] if plan["kind"] == "Transformer" else "model"
        note(f"{label} settings ({plan['origin']}): {_describe(st)}")
    if plan["token"]:
        sides, arr, _ = plan["token"]
        for key, side in sides.items():
            p = side["pos"] if arr["positions"] else None
            pos = "none" if not p else f"{p[0]} ({p[1]}, {p[2]} positions)"
            head = ("tied to the embedding" if side["tied"] else side["head"]) if side["head"] else "none"
            note(f"{'source' if key == 'enc' and plan['kind'] == 'Transformer' else 'target' if key == 'dec' else 'tokens'}: "
                 f"embedding {side['emb']} (vocab {side['vocab']}), scale {'sqrt_d_model' if arr['scale'] else 1}, "
                 f"positions {pos}, head {head}")
        note(f"scale, positions and causal {plan['token_how']}")
    for a in plan["assumed"]:
        note(f"assumed: {a}")
    if not plan["batch_first"] and not plan["token"]:
        note("warning: the module is batch_first=False: PyTorch feeds it [seq, batch, d_model]; xfc's inputs and "
             "outputs are always [batch, seq, d_model]: transpose them (x.transpose(0, 1))")
    left = [n for n in plan["input_names"] if n not in plan["exported_as"]]
    shown = [f"{n} {plan['exported_as'][n]}" for n in plan["input_names"]
             if n in plan["exported_as"] and plan["exported_as"][n].startswith("(")]
    if left:
        note(f"not exported ({len(left)} tensors, outside what xfc runs): {', '.join(left)}")
    for s in shown:
        note(f"not exported: {s}")
    if xfc:
        note(f"xfc check {spec}: ok ({xfc})")
    elif not args.no_check:
        note("no xfc found (--xfc PATH, $XFC, PATH): the spec was not checked; run `xfc check " + spec + "`")
    print(f"wrote {weights} ({nbytes / 2**20:.1f} MiB, {plan['layout']} names) and {spec} "
          f"(model {name} : {plan['kind']}{', whole token model' if plan['token'] else ''})")


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="export_torch.py",
        description="Export a PyTorch model (pickled module or state_dict) or a fast-transformers state_dict to "
                    "NAME.safetensors + NAME.xf for xfc: nn.TransformerEncoder / TransformerDecoder / Transformer, "
                    "alone or with its nn.Embedding and nn.Linear head (a whole token model).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="A module is read for every setting; a state_dict needs --nhead, --activation and --norm-first / "
               "--post-norm.  Every setting is printed with where it came from.  See docs/EXPORT.md.")
    ap.add_argument("input", help="torch.save'd module or state_dict (.pt/.pth)")
    ap.add_argument("--name", default=None, help="model name in the spec and C API (default: from the input file name)")
    ap.add_argument("--weights", default=None, help="output safetensors (default: NAME.safetensors)")
    ap.add_argument("--spec", default=None, help="output spec (default: NAME.xf)")
    ap.add_argument("--dtype", choices=sorted(_DTYPES), default="f32", help="stored dtype (xfc computes in float32)")
    ap.add_argument("--xfc", default=None, help="the xfc that checks the spec (default: $XFC, PATH, ./build)")
    ap.add_argument("--no-check", action="store_true", help="do not run xfc check on the spec")
    ap.add_argument("--import", dest="imports", action="append", default=[], metavar="FILE.py",
                    help="load the class definitions of FILE.py before unpickling (its main block does not run)")
    ap.add_argument("--module", default=None, help="pickled module: the submodule to export (e.g. 'transformer')")
    ap.add_argument("--prefix", default=None, help="state_dict: key prefix of the transformer (e.g. 'transformer.')")
    ap.add_argument("--causal", action="store_true",
                    help="the (decoder) self-attention is called with a causal mask (tgt_mask / is_causal)")
    ap.add_argument("--causal-encoder", action="store_true", help="nn.Transformer called with a causal src_mask")
    ap.add_argument("--listen", action="append", default=[], metavar="'FILTER -> HANDLER'",
                    help="append a listener to the spec (repeatable)")
    t = ap.add_argument_group("whole token models (a module with nn.Embedding + transformer + nn.Linear head)")
    t.add_argument("--stack-only", action="store_true", help="export the transformer alone, without embedding/head")
    t.add_argument("--embedding", default=None, metavar="NAME", help="the token nn.Embedding, when several")
    t.add_argument("--head", default=None, metavar="NAME", help="the nn.Linear head, when several")
    t.add_argument("--scale", choices=["1", "sqrt_d_model"], default=None,
                   help="embedding scale, when the forward cannot be run to find it")
    t.add_argument("--positions", choices=["none", "sinusoidal", "learned"], default=None,
                   help="positions, when the forward cannot be run to find them")
    t.add_argument("--max-positions", type=int, default=None, help="max_positions for positions = none")
    g = ap.add_argument_group("hyper-parameters a state_dict does not record")
    g.add_argument("--nhead", "--n-heads", type=int, default=None, help="number of heads")
    g.add_argument("--activation", choices=["relu", "gelu"], default=None, help="required for a state_dict")
    nf = g.add_mutually_exclusive_group()
    nf.add_argument("--norm-first", dest="norm_first", action="store_const", const=True, default=None,
                    help="torch norm_first=True (pre-norm)")
    nf.add_argument("--post-norm", dest="norm_first", action="store_const", const=False,
                    help="torch norm_first=False (the default of nn.TransformerEncoderLayer)")
    g.add_argument("--layer-norm-eps", type=float, default=1e-5)
    g.add_argument("--attention-type", choices=["full", "linear", "causal_linear", "local", "exact_topk"],
                   default="full", help="fast-transformers: the builder's attention_type")
    g.add_argument("--local-context", type=int, default=None, help="fast-transformers local attention's local_context")
    g.add_argument("--topk", type=int, default=None, help="fast-transformers exact_topk attention's topk")
    return ap, ap.parse_args(argv)


def main(argv=None):
    ap, args = parse_args(argv)
    name = args.name or re.sub(r"\W", "_", os.path.splitext(os.path.basename(args.input))[0])
    bad = check_name(name)
    if bad:
        print(f"export_torch.py: error: {bad}", file=sys.stderr)
        return 2
    weights = args.weights or name + ".safetensors"
    spec = args.spec or name + ".xf"
    try:
        xfc = None if args.no_check else find_xfc(args.xfc)
        obj = load_input(args.input, args.imports)
        plan = plan_module(obj, args) if isinstance(obj, nn.Module) else plan_state_dict(obj, args)
        nbytes = write_export(plan, name, weights, spec, args.listen, args.dtype, os.path.basename(args.input), xfc)
    except Refused as e:
        print(f"export_torch.py: error: {args.input}: {e}", file=sys.stderr)
        return 1
    report(plan, name, weights, spec, nbytes, xfc, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
