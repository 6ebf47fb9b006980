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
import os
import re
import struct
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


def _common_settings(args, d_model, n_layers, ff, final_norm):
    nhead = args.nhead
    if d_model % nhead:
        raise Refused(f"d_model {d_model} is not divisible by --nhead {nhead}")
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
    st = _common_settings(args, d_model, n, ff, "norm.weight" in sd)
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


# ---- tensors xfc loads --------------------------------------------------------

def xfc_tensor_names(layout, kind, configs):
    """Exactly the tensor names the generated model asks for (anything else in
    the file is an error at load time)."""
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


# ---- the spec -------------------------------------------------------------------

_ORDER = ["n_layers", "n_heads", "query_dimensions", "value_dimensions", "feed_forward_dimensions",
          "attention_type", "local_context", "topk", "causal", "activation", "normalization", "final_normalization", "layer_norm_eps"]


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


def make_spec(name, kind, layout, configs, source, weights_file, listeners=(), spec_file=None):
    spec_file = spec_file or name + ".xf"
    lines = [f"# {spec_file} — written by scripts/export_torch.py from {source}",
             f"# weights: {weights_file} ({layout} names)",
             f"#   xfc build {spec_file} -o {name} && ./{name} --weights {weights_file} "
             + ("--source SRC.npy --input TGT.npy" if kind == "Transformer" else
                "--input X.npy --memory M.npy" if kind == "TransformerDecoder" else "--input X.npy")
             + " --output Y.npy",
             f"model {name} : {kind} {{"]
    if layout != "torch":
        lines.append(f"    weights = {layout}")
    sets = {k: _spec_settings(v) for k, v in configs.items()}
    if kind == "Transformer":
        common = {k: v for k, v in sets["enc"].items() if sets["dec"].get(k) == v}
        for k in _ORDER:
            if k in common:
                lines.append(f"    {k} = {_fmt(common[k])}")
        for block, key in (("encoder", "enc"), ("decoder", "dec")):
            own = [k for k in _ORDER if k in sets[key] and k not in common]
            if own:
                lines.append(f"    {block} {{")
                lines += [f"        {k} = {_fmt(sets[key][k])}" for k in own]
                lines.append("    }")
    else:
        (only,) = sets.values()
        lines += [f"    {k} = {_fmt(only[k])}" for k in _ORDER if k in only]
    lines.append("}")
    if listeners:
        lines.append("")
        lines += [f"listen {l}" for l in listeners]
    return "\n".join(lines) + "\n"


# ---- export -----------------------------------------------------------------------

def export_module(module, name, weights_path, spec_path, causal=False, causal_encoder=False,
                  listeners=(), dtype="f32", source="<module>", prefix=""):
    """Exports a torch transformer module (Python API; examples/trained/train.py
    uses it).  Returns (kind, configs, bytes written, state_dict keys not exported)."""
    kind, configs = module_config(module)
    sd = module.state_dict()
    return _finish("torch", kind, configs, sd, name, weights_path, spec_path, causal, causal_encoder,
                   listeners, dtype, source)


def _finish(layout, kind, configs, sd, name, weights_path, spec_path, causal, causal_encoder,
            listeners, dtype, source):
    if causal_encoder and kind != "Transformer":
        raise Refused("--causal-encoder is for nn.Transformer (its src_mask); use --causal")
    if kind == "TransformerEncoder":
        configs["enc"]["causal"] = bool(causal)
    else:
        configs["dec"]["causal"] = bool(causal)
        if "enc" in configs:
            configs["enc"]["causal"] = bool(causal_encoder)
    if layout == "fast_transformers":
        st = configs[next(iter(configs))]
        at = st.get("attention_type", "full")
        if at == "linear" and st["causal"]:
            raise Refused("--causal with linear attention is fast-transformers' causal-linear: "
                          "use --attention-type causal_linear")
        if at == "causal_linear":
            st["causal"] = True
    names = xfc_tensor_names(layout, kind, configs)
    missing = [n for n in names if n not in sd]
    if missing:
        raise Refused(f"missing tensor {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    tensors = {n: sd[n] for n in names}
    ignored = sorted(set(sd) - set(names))
    nbytes = write_safetensors(weights_path, tensors, dtype,
                               {"format": "pt", "producer": "xfc scripts/export_torch.py", "xfc_model": name})
    spec = make_spec(name, kind, layout, configs, source, os.path.basename(weights_path), listeners,
                     os.path.basename(spec_path))
    write_text(spec_path, spec)
    return kind, configs, nbytes, ignored


def _load(path):
    kwargs = {"map_location": "cpu"}
    try:
        return torch.load(path, weights_only=False, **kwargs)
    except TypeError:   # torch < 1.13 has no weights_only
        return torch.load(path, **kwargs)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="export_torch.py",
        description="Export a PyTorch nn.Transformer / TransformerEncoder / TransformerDecoder (pickled module or "
                    "state_dict) or a fast-transformers state_dict to NAME.safetensors + NAME.xf for xfc.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="The module is read for every setting; a state_dict needs --nhead (and --activation, --norm-first, "
               "--layer-norm-eps when not the torch defaults).  See docs/EXPORT.md.")
    ap.add_argument("input", help="torch.save'd module or state_dict (.pt/.pth)")
    ap.add_argument("--name", default=None, help="model name in the spec and C API (default: from the input file name)")
    ap.add_argument("--weights", default=None, help="output safetensors (default: NAME.safetensors)")
    ap.add_argument("--spec", default=None, help="output spec (default: NAME.xf)")
    ap.add_argument("--dtype", choices=sorted(_DTYPES), default="f32", help="stored dtype (xfc computes in float32)")
    ap.add_argument("--module", default=None, help="pickled module: the submodule to export (e.g. 'transformer')")
    ap.add_argument("--prefix", default=None, help="state_dict: key prefix of the transformer (e.g. 'transformer.')")
    ap.add_argument("--causal", action="store_true",
                    help="the (decoder) self-attention is called with a causal mask (tgt_mask / is_causal)")
    ap.add_argument("--causal-encoder", action="store_true", help="nn.Transformer called with a causal src_mask")
    ap.add_argument("--listen", action="append", default=[], metavar="'FILTER -> HANDLER'",
                    help="append a listener to the spec (repeatable)")
    g = ap.add_argument_group("hyper-parameters a state_dict does not record")
    g.add_argument("--nhead", "--n-heads", type=int, default=None, help="number of heads")
    g.add_argument("--activation", choices=["relu", "gelu"], default="relu")
    g.add_argument("--norm-first", action="store_true", help="torch norm_first=True (pre-norm)")
    g.add_argument("--layer-norm-eps", type=float, default=1e-5)
    g.add_argument("--attention-type", choices=["full", "linear", "causal_linear", "local", "exact_topk"],
                   default="full", help="fast-transformers: the builder's attention_type")
    g.add_argument("--local-context", type=int, default=None, help="fast-transformers local attention's local_context")
    g.add_argument("--topk", type=int, default=None, help="fast-transformers exact_topk attention's topk")
    args = ap.parse_args(argv)

    name = args.name or re.sub(r"\W", "_", os.path.splitext(os.path.basename(args.input))[0])
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name.startswith(("xf_", "XF_")):
        ap.error(f"--name {name!r} must be a C identifier not starting with xf_")
    weights = args.weights or name + ".safetensors"
    spec = args.spec or name + ".xf"
    try:
        obj = _load(args.input)
    except (AttributeError, ModuleNotFoundError) as e:
        print(f"export_torch.py: error: {args.input}: cannot unpickle: {e} (a pickled module needs its class "
              "definitions importable: run with PYTHONPATH set to their code, or save a state_dict)", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - any unpickling failure is the user's file
        print(f"export_torch.py: error: {args.input}: cannot load: {e}", file=sys.stderr)
        return 1
    try:
        if isinstance(obj, nn.Module):
            for flag in ("nhead", "prefix"):
                if getattr(args, flag) is not None:
                    raise Refused(f"--{flag} is for state_dicts: a module records its own settings")
            module, prefix = find_transformer(obj, args.module)
            kind, configs = module_config(module)
            layout, sd = "torch", module.state_dict()
        else:
            if isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
                for key in ("state_dict", "model_state_dict", "model"):
                    if isinstance(obj.get(key), dict):
                        obj = obj[key]
                        break
            if not isinstance(obj, dict):
                raise Refused(f"{type(obj).__name__} is neither an nn.Module nor a state_dict")
            sd = {k: v for k, v in obj.items() if torch.is_tensor(v)}
            n_input = len(sd)
            if args.module:
                raise Refused("--module is for pickled modules; for a state_dict use --prefix")
            layout, kind, configs, prefix, sd = state_dict_config(sd, args)
            if layout == "fast_transformers":
                st = configs[next(iter(configs))]
                st["attention_type"] = args.attention_type
                st["local_context"], st["topk"] = args.local_context, args.topk
            elif args.attention_type != "full":
                raise Refused("--attention-type is for fast-transformers state_dicts (torch attention is full)")
        n_input = len(sd) if isinstance(obj, nn.Module) else n_input
        kind, configs, nbytes, ignored = _finish(layout, kind, configs, sd, name, weights, spec, args.causal,
                                                 args.causal_encoder, args.listen, args.dtype,
                                                 os.path.basename(args.input))
    except Refused as e:
        print(f"export_torch.py: error: {args.input}: {e}", file=sys.stderr)
        return 1
    if prefix:
        print(f"export_torch.py: exported '{prefix.rstrip('.')}' of {os.path.basename(args.input)}", file=sys.stderr)
    skipped = n_input - (len(sd) - len(ignored))
    if skipped:
        print(f"export_torch.py: note: {skipped} tensors outside the transformer not exported"
              + (f" (e.g. {ignored[0]})" if ignored else ""), file=sys.stderr)
    print(f"wrote {weights} ({nbytes / 2**20:.1f} MiB, {layout} names) and {spec} (model {name} : {kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
