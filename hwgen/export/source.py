"""Reading the model to export: an hwgen model.pt, or a plain torch.nn checkpoint.

Both become a :class:`Source`: a ``train.model.RecurrentModel`` in evaluation mode (plain torch
models get the ``--quantize`` quantizer, i.e. post-training quantization) plus what export needs to
know about it. Accepted plain checkpoints are described in docs/export.md.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..files import TORCH_MAGIC
from .floatnet import FloatLayer, FloatNet


class ExportError(Exception):
    """Bad input to export or eval: one line naming what is wrong and how to fix it."""


@dataclass
class Source:
    path: Path
    kind: str  # "hwgen-model" | "torch"
    model: Any  # train.model.RecurrentModel, eval mode
    sha256: str
    task: str  # lm | classify | unknown
    vocab: tuple[str, ...] | None
    dataset: str | None
    has_output: bool = True
    quantize: str | None = None  # plain torch: the --quantize setting

    @property
    def config(self) -> dict:
        return self.model.config


QUANTIZE_CHOICES = ("ternary", "pow2-ternary", "exponential", "fixed:I.F")
PTQ_EXP_WINDOW = (-8, 1)  # plain torch --quantize exponential: exponents kept


def quantizer_spec(text: str, window: tuple[int, int] | None = None) -> dict:
    """``--quantize`` text to a train quantizer spec."""
    if text == "ternary":
        return {"name": "ternary"}
    if text == "pow2-ternary":
        return {"name": "pow2_ternary", "i": 0, "f": 1}
    if text == "exponential":
        lo, hi = window or PTQ_EXP_WINDOW
        # post-training: exact zeros (and weights nearer zero than 2^lo) stay 0, unlike training
        return {"name": "exponential", "k_min": lo, "k_max": hi, "zero": True}
    m = re.fullmatch(r"fixed:(\d+)\.(\d+)", text or "")
    if m and int(m.group(1)) + int(m.group(2)) >= 1 and int(m.group(1)) + int(m.group(2)) <= 16:
        return {"name": "pow2_ternary", "i": int(m.group(1)), "f": int(m.group(2))}
    raise ExportError(f"--quantize {text!r}: expected one of {', '.join(QUANTIZE_CHOICES)} "
                      f"(I integer and F fraction bits, 1 <= I + F <= 16, e.g. fixed:1.6)")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _torch_load(path: Path):
    if not path.exists():
        raise ExportError(f"{path}: no such file")
    if path.is_dir():
        raise ExportError(f"{path}: is a directory, not a model file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Weights only load failed" in str(e):
            raise ExportError(f"{path}: refused: loading it needs Python code, which torch.load("
                              f"weights_only=True) does not run; save a state_dict (tensors and plain "
                              f"values), see docs/export.md") from None
        raise ExportError(f"{path}: not a torch checkpoint ({type(e).__name__})") from None
    except Exception as e:  # torch raises many kinds for a file that is not its format
        head = path.read_bytes()[:64]
        if head.lstrip().startswith(b"{"):
            raise ExportError(f"{path}: is JSON text, not a torch checkpoint (a QModel file goes to "
                              f"`hwgen build`, `hwgen sim` or `hwgen inspect` as it is)") from None
        if head and not head.startswith(TORCH_MAGIC):
            raise ExportError(f"{path}: is not a torch checkpoint (it does not start like one; a "
                              f"model.pt from `hwgen train` or `torch.save` is expected)") from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExportError(f"{path}: not a torch checkpoint ({type(e).__name__}: {first[:120]})") from None


def load_source(path, quantize: str | None = None, exp_window: tuple[int, int] | None = None) -> Source:
    """Read ``path``: an hwgen model.pt, or a plain torch checkpoint (then ``quantize`` is required)."""
    path = Path(path)
    obj = _torch_load(path)
    if isinstance(obj, dict) and obj.get("format") == "hwgen-model":
        if quantize is not None:
            raise ExportError(f"{path}: --quantize is for plain torch models; this hwgen model was "
                              f"trained with its own quantizer (drop --quantize)")
        return _hwgen_source(path)
    from .plain_torch import plain_source

    return plain_source(path, obj, quantize, exp_window, _sha256(path))


def _hwgen_source(path: Path) -> Source:
    from train.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint

    try:
        ckpt = load_checkpoint(path)
        model = model_from_checkpoint(ckpt, path)
    except CheckpointError as e:
        raise ExportError(str(e)) from None
    stored = ckpt.get("quantized")
    if stored is not None and stored != model.quantized_tensors():
        raise ExportError(f"{path}: its 'quantized' entry disagrees with the quantizers its config "
                          f"builds; the file was edited or written by another hwgen (re-train or "
                          f"re-save it with this hwgen)")
    vocab = tuple(ckpt["vocab"]) if ckpt.get("vocab") else None
    dataset = (ckpt.get("dataset") or {}).get("name")
    return Source(path, "hwgen-model", model, _sha256(path), ckpt["task"], vocab, dataset)


# ------------------------------------------------------------------------------------------------
# RecurrentModel -> FloatNet (batch norm folded exactly, in float)


def _np(t) -> np.ndarray:
    return t.detach().to(torch.float64).numpy().copy()


def bn_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode BatchNorm1d as ``y = a * x + b``."""
    a = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
    return a, _np(bn.bias) - a * _np(bn.running_mean)


def float_net(src: Source, quantized: bool) -> FloatNet:
    """The source model in float64: its trained quantized weights, or the full-precision ones."""
    model = src.model
    layers, table, affine = [], None, None
    for i, cell in enumerate(model.stack.layers):
        p = cell.effective_parameters(training=False) if quantized else dict(cell.named_parameters())
        w_ih, b_ih = _np(p["weight_ih"]), _np(p["bias_ih"])
        if cell.batch_norm == "input_product":
            a, b = bn_affine(cell.bn)
            w_ih, b_ih = w_ih * a[:, None], b_ih + b
        elif cell.batch_norm == "input":
            a, b = bn_affine(cell.bn)
            if i == 0:
                affine = (a, b)
            else:  # exact in float; export refuses it for codes (see codes.fold_batch_norm)
                w_ih, b_ih = w_ih * a[None, :], b_ih + w_ih @ b
        layers.append(FloatLayer(cell.kind, w_ih, _np(p["weight_hh"]), b_ih, _np(p["bias_hh"]),
                                 cell.activation, getattr(cell, "nonlinearity", "tanh")))
    if model.is_token_model:
        table = _np(model.embedding.weight) if model.embedding is not None else np.eye(model.vocab_size)
        if affine is not None:
            table, affine = table * affine[0] + affine[1], None
    out = model.output.effective_parameters(training=False) if quantized else dict(model.output.named_parameters())
    net = FloatNet(layers, table, affine)
    if src.has_output:
        net.out_w, net.out_b = _np(out["weight"]), _np(out["bias"])
    return net
