"""A float64 network in torch.nn's equations, built from a trained model or from a QModel.

One forward pass serves three purposes, so they cannot drift apart: calibration (it records the
real value of every signal that becomes a register), the float accuracy figures of `hwgen eval`
(full-precision weights, the trained quantized weights, or a QModel's codes dequantized), and the
scale choice of export (which compares outputs of candidate weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch

from ..spec.ir import ActImpl, EmbeddingInput, QModel

F64 = torch.float64
Recorder = Callable[[str, torch.Tensor], None]


@dataclass
class FloatLayer:
    kind: str  # rnn | gru | lstm
    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    activation: str = "hard"  # hard (clamps) | smooth (sigmoid / tanh)
    nonlinearity: str = "tanh"  # vanilla RNN only


@dataclass
class FloatNet:
    """``table`` (token models: row k is token k's input vector; one-hot: the identity) or feature
    input with an optional per-feature affine ``input_affine = (a, b)`` (folded input BatchNorm)."""

    layers: list[FloatLayer]
    table: np.ndarray | None = None
    input_affine: tuple[np.ndarray, np.ndarray] | None = None
    out_w: np.ndarray | None = None
    out_b: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def tokens(self) -> bool:
        return self.table is not None

    def replace_layer(self, i: int, **changes) -> "FloatNet":
        layers = list(self.layers)
        layers[i] = replace(layers[i], **changes)
        return replace(self, layers=layers)


def _hard_sigmoid(x):
    return torch.clamp(x * 0.25 + 0.5, 0.0, 1.0)


def _hard_tanh(x):
    return torch.clamp(x, -1.0, 1.0)


ACTS = {"hard": (_hard_sigmoid, _hard_tanh), "smooth": (torch.sigmoid, torch.tanh)}

#: Beyond these pre-activation magnitudes an activation's output no longer changes (hard units),
#: or a table returns its end entry, so saturating there costs nothing (see calibration).
SATURATES = {("hard", "sigmoid"): 2.0, ("hard", "tanh"): 1.0, ("smooth", "sigmoid"): 8.0, ("smooth", "tanh"): 4.0}


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=F64)


def _ignore(name, v):
    pass


def _effective(v: torch.Tensor, act: str, func: str) -> torch.Tensor:
    """The part of a pre-activation that can change the activation's output."""
    if func == "relu":
        return torch.clamp(v, min=0.0)
    lim = SATURATES[(act, func)]
    return torch.clamp(v, -lim, lim)


def layer_step(L: FloatLayer, gi, gh, state, rec: Recorder):
    """One step of torch.nn's cell equations; records pre-activations (their useful part),
    GRU's ``W_hn h + b_hn`` and the LSTM cell."""
    sig, tanh = ACTS[L.activation]
    H = L.w_hh.shape[1]
    if L.kind == "rnn":
        z = gi + gh
        if L.nonlinearity == "relu":
            rec("preact", _effective(z, L.activation, "relu"))
            return torch.relu(z)
        rec("preact", _effective(z, L.activation, "tanh"))
        return tanh(z)
    if L.kind == "gru":
        rz = gi[:, :2 * H] + gh[:, :2 * H]
        r, z = sig(rz).chunk(2, 1)
        ghn = gh[:, 2 * H:]
        n_pre = gi[:, 2 * H:] + r * ghn
        rec("preact", torch.cat([_effective(rz, L.activation, "sigmoid"), ghn,
                                 _effective(n_pre, L.activation, "tanh")], 1))
        n = tanh(n_pre)
        return (1 - z) * n + z * state
    h, c = state
    a = gi + gh
    i, f, g, o = a.chunk(4, 1)
    rec("preact", torch.cat([_effective(torch.cat([i, f, o], 1), L.activation, "sigmoid"),
                             _effective(g, L.activation, "tanh")], 1))
    c = sig(f) * c + sig(i) * tanh(g)
    rec("cell", c)
    return sig(o) * tanh(c), c


def embed(net: FloatNet, x) -> torch.Tensor:
    """Layer-0 input vectors ``(B, T, in)`` from token ids ``(B, T)`` or features ``(B, T, F)``."""
    if net.tokens:
        return _t(net.table)[torch.as_tensor(np.asarray(x), dtype=torch.long)]
    v = _t(x)
    if net.input_affine is not None:
        a, b = net.input_affine
        v = v * _t(a) + _t(b)
    return v


def run(net: FloatNet, x, state=None, record: Recorder | None = None):
    """Logits (or the last layer's h) ``(B, T, out)`` and the final per-layer states.

    ``record(name, values)`` receives ``input`` (layer 0's input), ``L{i}.preact``, ``L{i}.state``,
    ``L{i}.cell`` and ``out`` for every step.
    """
    rec = record or _ignore
    v = embed(net, x)
    rec("input", v)
    B, T = v.shape[:2]
    finals = []
    with torch.no_grad():
        for i, L in enumerate(net.layers):
            H = L.w_hh.shape[1]
            gi = v @ _t(L.w_ih).T + _t(L.b_ih)
            w_hh_t, b_hh = _t(L.w_hh).T, _t(L.b_hh)
            s = state[i] if state is not None else None
            if s is None:
                zero = torch.zeros(B, H, dtype=F64)
                s = (zero, zero.clone()) if L.kind == "lstm" else zero
            outs = []

            def lrec(name, val, i=i):
                rec(f"L{i}.{name}", val)

            for t in range(T):
                h = s[0] if L.kind == "lstm" else s
                s = layer_step(L, gi[:, t], h @ w_hh_t + b_hh, s, lrec)
                h = s[0] if L.kind == "lstm" else s
                lrec("state", h)
                outs.append(h)
            finals.append(s)
            v = torch.stack(outs, 1) if outs else torch.zeros(B, 0, H, dtype=F64)
        if net.out_w is not None:
            v = v @ _t(net.out_w).T + _t(net.out_b)
            rec("out", v)
    return v, finals


# ------------------------------------------------------------------------------------------------
# Builders


def from_qmodel(qm: QModel) -> FloatNet:
    """The QModel's codes dequantized, in float: the "quantized float model" beside the golden one.

    Activations are the ideal functions the units implement (hard clamps, or sigmoid / tanh for
    tables); the input is read in float (features are not rounded to the input format).
    """
    layers = []
    for layer in qm.layers:
        act = "smooth" if layer.cand_act.impl is ActImpl.TABLE else "hard"
        nl = layer.cand_act.func.value if layer.kind == "rnn" else "tanh"
        layers.append(FloatLayer(layer.kind, layer.w_ih.to_float(), layer.w_hh.to_float(),
                                 layer.b_ih.to_float(), layer.b_hh.to_float(), act,
                                 "relu" if nl == "relu" else "tanh"))
    table = None
    if isinstance(qm.input, EmbeddingInput):
        table = qm.input.fmt.to_float(qm.input.table)
    affine = qm.meta.get("input_affine")
    out_w = out_b = None
    if qm.output is not None:
        out_w, out_b = qm.output.w.to_float(), qm.output.b.to_float()
    return FloatNet(layers, table,
                    None if affine is None else (np.array(affine["scale"]), np.array(affine["shift"])),
                    out_w, out_b)
