"""The model to export: a :class:`Source` is a ``train.model.RecurrentModel`` in evaluation mode
(plain torch models get the ``--quantize`` quantizer, i.e. post-training quantization) plus what
export needs to know about it; :func:`float_net` folds it into a float network. Reading the file
is :mod:`hwgen.export.load`; accepted plain checkpoints are described in docs/export.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

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
