"""Plain PyTorch checkpoints: a torch.nn.RNN / GRU / LSTM state_dict (+ Embedding, + Linear).

Accepted (docs/export.md): ``{"state_dict": {...}, "config": {...}}`` or a bare state_dict. The
recurrent module's keys end in ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}`` under one prefix; an ``nn.Embedding`` is a prefix with a 2-D ``weight`` and no
bias, an ``nn.Linear`` one with a 2-D ``weight`` and a ``bias``. The model becomes a
``RecurrentModel`` whose quantizer is ``--quantize`` (post-training quantization), or the
quantizer the config declares for weights that are already quantized (then every weight must be
one of its levels).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from .source import ExportError, Source, quantizer_spec

GATES = {1: "rnn", 3: "gru", 4: "lstm"}
_RNN_KEY = re.compile(r"^(.*?)(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")
CONFIG_KEYS = {"cell", "nonlinearity", "activation", "input", "vocab", "task", "quantizer", "dataset"}


def _split(path: Path, obj) -> tuple[dict, dict]:
    """(state_dict, config) of a plain checkpoint, or a clear refusal."""
    if isinstance(obj, dict) and "state_dict" in obj:
        sd, config = obj["state_dict"], obj.get("config") or {}
        if not isinstance(config, dict):
            raise ExportError(f"{path}: 'config' must be a dict (see docs/export.md), not {type(config).__name__}")
    else:
        sd, config = obj, {}
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        what = type(obj).__name__ if not isinstance(obj, dict) else f"a dict with keys {sorted(map(str, obj))[:6]}"
        raise ExportError(f"{path}: not a model checkpoint hwgen reads: it holds {what}; expected an hwgen "
                          f"model.pt (`hwgen train`) or a torch.nn.RNN/GRU/LSTM state_dict, bare or as "
                          f"{{'state_dict': ..., 'config': ...}} (docs/export.md)")
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise ExportError(f"{path}: unknown config keys {unknown}; known: {sorted(CONFIG_KEYS)}")
    return sd, config


def _recurrent_keys(path: Path, sd: dict) -> tuple[str, int]:
    prefixes, layers = set(), set()
    for k in sd:
        m = _RNN_KEY.match(k)
        if m:
            if m.group(4):
                raise ExportError(f"{path}: {k}: bidirectional layers are not supported (hardware runs "
                                  f"forward in time); export a unidirectional model")
            prefixes.add(m.group(1))
            layers.add(int(m.group(3)))
    if not prefixes:
        raise ExportError(f"{path}: no torch.nn.RNN/GRU/LSTM weights found (no key ends in "
                          f"'weight_ih_l0'); keys: {sorted(sd)[:8]}")
    if len(prefixes) > 1:
        raise ExportError(f"{path}: several recurrent modules ({sorted(prefixes)}); hwgen exports one "
                          f"stack: save a model with a single nn.RNN/GRU/LSTM")
    n = max(layers) + 1
    if sorted(layers) != list(range(n)):
        raise ExportError(f"{path}: recurrent layers {sorted(layers)} are not numbered 0..{n - 1}")
    return prefixes.pop(), n


def _tensor(path: Path, sd: dict, key: str, shape: tuple | None = None) -> torch.Tensor:
    if key not in sd:
        raise ExportError(f"{path}: missing key {key!r} (a torch.nn recurrent layer has weight_ih, "
                          f"weight_hh, bias_ih and bias_hh per layer)")
    t = sd[key]
    if shape is not None and tuple(t.shape) != shape:
        raise ExportError(f"{path}: {key} has shape {tuple(t.shape)}, but the model's sizes need {shape}")
    if not t.is_floating_point():
        raise ExportError(f"{path}: {key} is not a float tensor ({t.dtype})")
    if not torch.isfinite(t).all():
        raise ExportError(f"{path}: weight tensor {key!r} holds NaN or infinite values; export a "
                          f"model with finite weights")
    return t.detach().to(torch.float32)


def _extras(path: Path, sd: dict, prefix: str) -> tuple[torch.Tensor | None, tuple | None]:
    """The nn.Embedding weight and the nn.Linear (weight, bias), if present."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in sd.items():
        if _RNN_KEY.match(k):
            continue
        base, _, leaf = k.rpartition(".")
        groups.setdefault(base, {})[leaf] = v
    emb = lin = None
    for base, g in groups.items():
        where = base or "(top level)"
        if set(g) == {"weight"} and g["weight"].dim() == 2 and emb is None:
            emb = _tensor(path, sd, f"{base}.weight" if base else "weight")
        elif set(g) == {"weight", "bias"} and g["weight"].dim() == 2 and lin is None:
            pre = f"{base}." if base else ""
            lin = (_tensor(path, sd, pre + "weight"), _tensor(path, sd, pre + "bias"))
        else:
            raise ExportError(f"{path}: unexpected tensors {sorted(g)} under {where!r}; hwgen reads one "
                              f"nn.Embedding, one nn.RNN/GRU/LSTM and one nn.Linear (docs/export.md)")
    return emb, lin


def _cell_kind(path: Path, config: dict, rows: int, hidden: int) -> str:
    if rows % hidden or rows // hidden not in GATES:
        raise ExportError(f"{path}: weight_hh_l0 has shape ({rows}, {hidden}): {rows} rows are not 1, 3 "
                          f"or 4 gates of {hidden} (RNN, GRU, LSTM)")
    kind = GATES[rows // hidden]
    declared = config.get("cell")
    if declared is not None and declared != kind:
        raise ExportError(f"{path}: config says cell {declared!r}, but weight_hh_l0's shape ({rows}, "
                          f"{hidden}) is a {kind} of hidden size {hidden}")
    if kind == "rnn" and config.get("nonlinearity") not in ("tanh", "relu"):
        raise ExportError(f"{path}: a vanilla RNN's state_dict does not say tanh or relu; save "
                          f"{{'state_dict': sd, 'config': {{'nonlinearity': 'tanh'}}}} (docs/export.md)")
    return kind


def _input_config(path: Path, config: dict, emb, in_size: int) -> dict:
    if emb is not None:
        if emb.shape[1] != in_size:
            raise ExportError(f"{path}: the embedding has shape {tuple(emb.shape)}, but weight_ih_l0 "
                              f"takes {in_size} inputs")
        return {"kind": "embedding", "vocab_size": int(emb.shape[0]), "dim": in_size}
    inp = config.get("input", "features")
    if inp == "onehot":
        return {"kind": "embedding", "vocab_size": in_size, "dim": 0}
    if inp != "features":
        raise ExportError(f"{path}: config 'input' must be 'features' or 'onehot', not {inp!r}")
    return {"kind": "features", "size": in_size}


def plain_source(path: Path, obj, quantize: str | None, exp_window, sha256: str) -> Source:
    from train.model import ConfigError, RecurrentModel

    sd, config = _split(path, obj)
    prefix, n_layers = _recurrent_keys(path, sd)
    w_hh0 = _tensor(path, sd, f"{prefix}weight_hh_l0")
    rows, hidden = w_hh0.shape
    kind = _cell_kind(path, config, rows, hidden)
    in_size = _tensor(path, sd, f"{prefix}weight_ih_l0").shape[1]
    emb, lin = _extras(path, sd, prefix)
    if lin is not None and lin[0].shape[1] != hidden:
        raise ExportError(f"{path}: the linear layer has shape {tuple(lin[0].shape)}, but the recurrent "
                          f"layers give {hidden} features")
    declared = config.get("quantizer")
    if quantize is not None and declared is not None:
        raise ExportError(f"{path}: the config declares its weights already quantized ({declared!r}); "
                          f"drop --quantize, or drop 'quantizer' from the config to re-quantize")
    if quantize is None and declared is None:
        raise ExportError(f"{path}: a plain torch model has float weights; choose a post-training "
                          f"quantizer with --quantize {{{','.join(q for q in ('ternary', 'pow2-ternary', 'exponential', 'fixed:I.F'))}}}")
    spec = quantizer_spec(quantize, exp_window) if quantize is not None else declared
    cfg = {"input": _input_config(path, config, emb, in_size), "cell": kind, "hidden": [hidden] * n_layers,
           "activation": config.get("activation", "smooth"), "nonlinearity": config.get("nonlinearity", "tanh"),
           "quantizer": spec, "quantize": {"output": lin is not None}, "init": "torch",
           "output_size": int(lin[0].shape[0]) if lin is not None else hidden}
    try:
        model = RecurrentModel.from_config(cfg)
    except (ConfigError, ValueError, TypeError) as e:
        raise ExportError(f"{path}: {e}") from None
    new = {}
    for k in range(n_layers):
        size = in_size if k == 0 else hidden
        for name, shape in (("weight_ih", (rows, size)), ("weight_hh", (rows, hidden)), ("bias_ih", (rows,)),
                            ("bias_hh", (rows,))):
            key = f"{prefix}{name}_l{k}"
            if name.startswith("bias") and f"{prefix}bias_ih_l0" not in sd:
                new[f"stack.layers.{k}.{name}"] = torch.zeros(rows)  # bias=False
            else:
                new[f"stack.layers.{k}.{name}"] = _tensor(path, sd, key, shape)
    if emb is not None:
        new["embedding.weight"] = emb
    w, b = lin if lin is not None else (torch.eye(hidden), torch.zeros(hidden))
    new["output.weight"], new["output.bias"] = w, b
    model.load_state_dict(new, strict=True)
    model.eval()
    if declared is not None:
        _check_declared(path, model, declared)
    vocab = config.get("vocab")
    task = config.get("task", "lm" if cfg["input"]["kind"] == "embedding" else "classify")
    return Source(path, "torch", model, sha256, task, tuple(vocab) if vocab else None,
                  config.get("dataset"), has_output=lin is not None, quantize=quantize)


def _check_declared(path: Path, model, declared) -> None:
    """Weights said to be quantized already must be exactly on the quantizer's levels."""
    with torch.no_grad():
        cells = [(f"layer {i} ", c) for i, c in enumerate(model.stack.layers)] + [("output ", model.output)]
        for where, cell in cells:
            for name, q in cell.quantizers.items():
                w = getattr(cell, name, None)
                if q is None or w is None:
                    continue
                wq = q.quantize(w, False)
                bad = (wq != w).nonzero()
                if len(bad):
                    at = tuple(bad[0].tolist())
                    raise ExportError(
                        f"{path}: {where}{name}: value {w[at].item():.6g} at {list(at)} is not one of the "
                        f"declared quantizer's levels ({declared}); export with --quantize to quantize it "
                        f"post-training, or fix the declared quantizer")
