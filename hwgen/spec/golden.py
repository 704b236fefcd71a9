"""The golden model: the specification the RTL must match bit for bit (docs/arithmetic.md).

Integers only, vectorized over a batch of sequences. Every value is an :class:`Fx`, so the same
code yields both the values (:func:`run`) and each signal's worst-case width
(:func:`signal_bounds`); :func:`check_bounds` refuses a model whose signals could overflow int64.

Speed: a weight matrix's integer products are summed with float64 BLAS when the bound
``max|x| * max_row sum|q| < 2**53`` proves every partial sum exact (checked per matrix, with an
int64 fallback otherwise); the input projections of a layer are computed for all time steps in
one product, and for embedding inputs once per vocabulary entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .activation import evaluate
from .fixedpoint import FLOAT64_EXACT_BITS, BoundError, Fmt, Fx
from .ir import EmbeddingInput, FixedArray, QModel, QModelError, RecurrentLayer, WeightCodes

Recorder = Callable[[str, Fx], None]


@dataclass(frozen=True)
class GoldenResult:
    """Outputs ``(batch, steps, out_size)`` in ``fmt``; ``trace`` maps signal names (such as
    ``L0.h`` or ``L1.n_pre``) to ``(batch, steps, ...)`` integer arrays when asked for."""

    outputs: np.ndarray
    fmt: Fmt
    trace: dict[str, np.ndarray] | None = None

    def argmax(self) -> np.ndarray:
        """Index of the largest output per step; ties go to the lowest index (as in hardware)."""
        return np.argmax(self.outputs, axis=-1)


def matvec(w: WeightCodes, x: Fx) -> Fx:
    """Exact ``W x`` over the last axis of ``x``, per-row scale included; no rounding."""
    p = _prepared(w)
    if (x.bound * p.abs_rowsum).bit_length() <= FLOAT64_EXACT_BITS:
        v = (x.v.astype(np.float64) @ p.q_t).astype(np.int64)
    else:
        v = x.v @ w.q.T
    lo, hi = p.range_of(x.lo, x.hi)
    if w.scale is None:
        return Fx(v, x.frac - w.exp, lo, hi)
    return Fx(v * w.scale.values, x.frac - w.exp + w.scale.frac, lo, hi)


@dataclass(frozen=True)
class _Prepared:
    q_t: np.ndarray  # q transposed, float64, for BLAS
    abs_rowsum: int  # largest row sum of |q| (float64 exactness test)
    pos: tuple[int, ...]  # per row: sum of positive codes
    neg: tuple[int, ...]  # per row: sum of negative codes
    scale: tuple[int, ...]  # per row scale integer (1 without scale)
    ranges: dict = field(default_factory=dict, compare=False)  # (x.lo, x.hi) -> output range

    def range_of(self, lo: int, hi: int) -> tuple[int, int]:
        """The range of ``W x`` for ``x`` in ``[lo, hi]``: row r ranges over
        [pos_r * lo + neg_r * hi, pos_r * hi + neg_r * lo] (pos/neg: sums of its positive/negative
        codes), times its scale. Exact Python integers; remembered, as a layer sees the same input
        range every step."""
        found = self.ranges.get((lo, hi))
        if found is None:
            rows = tuple(zip(self.pos, self.neg, self.scale))
            found = self.ranges[(lo, hi)] = (min(((a * lo + b * hi) * s for a, b, s in rows), default=0),
                                             max(((a * hi + b * lo) * s for a, b, s in rows), default=0))
        return found


def _prepared(w: WeightCodes) -> _Prepared:
    """Per-matrix constants, computed once (WeightCodes are immutable)."""
    cached = w.__dict__.get("_golden_prepared")
    if cached is None:
        q = w.q
        scale = w.scale.values.tolist() if w.scale is not None else [1] * q.shape[0]
        cached = _Prepared(
            np.ascontiguousarray(q.T, dtype=np.float64),
            int(np.abs(q).sum(axis=1).max()) if q.size else 0,
            tuple(np.where(q > 0, q, 0).sum(axis=1).tolist()),
            tuple(np.where(q < 0, q, 0).sum(axis=1).tolist()),
            tuple(scale),
        )
        object.__setattr__(w, "_golden_prepared", cached)
    return cached


def fixed(a: FixedArray) -> Fx:
    return Fx.const(a.values, a.frac)


def rnn_step(layer: RecurrentLayer, xi: Fx, h: Fx, c: Fx | None, rec: Recorder):
    f = layer.formats
    acc = xi + matvec(layer.w_hh, h) + fixed(layer.b_hh)
    rec("acc", acc)
    a = rec("a", acc.requantize(f.preact))
    return rec("h", evaluate(layer.cand_act, a)), None


def gru_step(layer: RecurrentLayer, xi: Fx, h: Fx, c: Fx | None, rec: Recorder):
    f, n_h = layer.formats, layer.hidden_size
    gates = slice(0, 2 * n_h)
    cand = slice(2 * n_h, 3 * n_h)
    ah = matvec(layer.w_hh, h) + fixed(layer.b_hh)
    rz_acc = rec("acc_rz", xi[..., gates] + ah[..., gates])
    rz_pre = rec("rz_pre", rz_acc.requantize(f.preact))
    rz = rec("rz", evaluate(layer.gate_act, rz_pre))
    r, z = rz[..., :n_h], rz[..., n_h:]
    ghn = rec("ghn", rec("acc_hn", ah[..., cand]).requantize(f.preact))
    n_acc = rec("acc_n", xi[..., cand] + r * ghn)
    n = rec("n", evaluate(layer.cand_act, rec("n_pre", n_acc.requantize(f.preact))))
    h_new = rec("acc_h", n + z * (h - n))  # == (1 - z) * n + z * h, exactly
    return rec("h", h_new.requantize(f.state)), None


def lstm_step(layer: RecurrentLayer, xi: Fx, h: Fx, c: Fx, rec: Recorder):
    f, n_h = layer.formats, layer.hidden_size
    acc = rec("acc", xi + matvec(layer.w_hh, h) + fixed(layer.b_hh))
    pre = rec("pre", acc.requantize(f.preact))
    ifo = np.r_[0:2 * n_h, 3 * n_h:4 * n_h]
    sig = evaluate(layer.gate_act, pre[..., ifo])
    i, fg, o = sig[..., :n_h], sig[..., n_h:2 * n_h], sig[..., 2 * n_h:]
    g = rec("g", evaluate(layer.cand_act, pre[..., 2 * n_h:3 * n_h]))
    rec("ifo", sig)
    c_new = rec("c", rec("acc_c", fg * c + i * g).requantize(f.cell))
    tc = rec("tanh_c", evaluate(layer.cell_act, c_new))
    return rec("h", rec("acc_h", o * tc).requantize(f.state)), c_new


STEPS = {"rnn": rnn_step, "gru": gru_step, "lstm": lstm_step}


def run_layer(layer: RecurrentLayer, xi: Fx, start: np.ndarray, rec: Recorder) -> Fx:
    """Run one layer over all steps, given its input projection ``xi`` = W_ih x + b_ih."""
    batch, steps = xi.v.shape[:2]
    f, step = layer.formats, STEPS[layer.kind]
    h = Fx.of(np.zeros((batch, layer.hidden_size), np.int64), f.state)
    c = Fx.of(np.zeros((batch, layer.hidden_size), np.int64), f.cell) if f.cell else None
    out = np.empty((batch, steps, layer.hidden_size), np.int64)
    for t in range(steps):
        reset = start[:, t]
        if t and reset.any():
            h = Fx(np.where(reset[:, None], 0, h.v), h.frac, h.lo, h.hi)
            if c is not None:
                c = Fx(np.where(reset[:, None], 0, c.v), c.frac, c.lo, c.hi)
        h_new, c_new = step(layer, xi[:, t], h, c, rec)
        # State registers keep their format's full range, so bounds do not depend on the step.
        h = Fx.of(h_new.v, f.state)
        c = Fx.of(c_new.v, f.cell) if c is not None else None
        out[:, t] = h.v
    return Fx(out, h.frac, h.lo, h.hi)


def input_projection(qmodel: QModel, inputs: np.ndarray) -> Fx:
    """W_ih x + b_ih of the first layer for every (sequence, step)."""
    layer = qmodel.layers[0]
    stage = qmodel.input
    bias = fixed(layer.b_ih)
    if isinstance(stage, EmbeddingInput):
        per_token = matvec(layer.w_ih, Fx.const(stage.table, stage.fmt.frac)) + bias
        return Fx(per_token.v[inputs], per_token.frac, per_token.lo, per_token.hi)
    return matvec(layer.w_ih, Fx.of(inputs, stage.fmt)) + bias


class _Tracer:
    """Collects per-step signals into ``(batch, steps, ...)`` arrays (or keeps Fx for bounds)."""

    def __init__(self, steps: int, keep_fx: bool = False):
        self.steps, self.keep_fx = steps, keep_fx
        self.prefix, self.t = "", 0
        self.arrays: dict[str, np.ndarray] = {}
        self.fx: dict[str, Fx] = {}

    def __call__(self, name: str, x: Fx) -> Fx:
        key = self.prefix + name
        if self.keep_fx:
            self.fx[key] = x
        elif not key.split(".")[-1].startswith("acc"):
            arr = self.arrays.get(key)
            if arr is None:
                arr = self.arrays[key] = np.empty((x.v.shape[0], self.steps) + x.v.shape[1:], np.int64)
                self._counts[key] = 0
            arr[:, self._counts[key]] = x.v
            self._counts[key] += 1
        return x

    _counts: dict[str, int]

    def layer(self, name: str):
        self.prefix = name + "."
        self._counts = {}


def _ignore(name: str, x: Fx) -> Fx:
    return x


def check_inputs(qmodel: QModel, inputs, start=None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a batch of inputs; returns (inputs, start) as arrays."""
    stage = qmodel.input
    x = np.asarray(inputs)
    if x.dtype.kind not in "iu":
        raise ValueError(f"inputs must be integers (fixed-point values in {getattr(stage, 'fmt', '')}), got {x.dtype}")
    x = x.astype(np.int64)
    if isinstance(stage, EmbeddingInput):
        if x.ndim != 2:
            raise ValueError(f"token inputs must have shape (batch, steps), got {x.shape}")
        if x.size and (x.min() < 0 or x.max() >= stage.vocab_size):
            raise ValueError(f"token ids must lie in [0, {stage.vocab_size})")
    else:
        if x.ndim != 3 or x.shape[2] != stage.size:
            raise ValueError(f"feature inputs must have shape (batch, steps, {stage.size}), got {x.shape}")
        if not stage.fmt.contains(x):
            raise ValueError(f"feature inputs lie outside the input format {stage.fmt}")
    s = np.zeros(x.shape[:2], bool) if start is None else np.asarray(start, bool)
    if s.shape != x.shape[:2]:
        raise ValueError(f"start flags must have shape {x.shape[:2]}, got {s.shape}")
    return x, s


def run(qmodel: QModel, inputs, start=None, trace: bool = False) -> GoldenResult:
    """Run ``qmodel`` on a batch of sequences.

    ``inputs``: token ids ``(batch, steps)`` for an embedding input, else integers
    ``(batch, steps, size)`` in the input format. ``start[b, t]`` true resets layer states to
    zero before step ``t`` (a new sequence begins there); step 0 always starts from zero.
    """
    x, s = check_inputs(qmodel, inputs, start)
    check_bounds(qmodel)
    tracer = _Tracer(x.shape[1]) if trace else None
    rec = tracer if trace else _ignore
    xi = input_projection(qmodel, x)
    h = None
    for i, layer in enumerate(qmodel.layers):
        if tracer:
            tracer.layer(f"L{i}")
        if i:
            xi = matvec(layer.w_ih, h) + fixed(layer.b_ih)
        h = run_layer(layer, xi, s, rec)
    out = h
    if qmodel.output is not None:
        out = (matvec(qmodel.output.w, h) + fixed(qmodel.output.b)).requantize(qmodel.output.out)
        if tracer:
            tracer.arrays["out.y"] = out.v
    return GoldenResult(out.v, qmodel.out_fmt, tracer.arrays if tracer else None)


def check_bounds(qmodel: QModel) -> QModel:
    """``qmodel``, once no signal of it can exceed int64 (:func:`signal_bounds`); QModelError
    naming the first signal that could."""
    signal_bounds(qmodel)
    return qmodel


def signal_bounds(qmodel: QModel) -> dict[str, Fx]:
    """Every signal's binary point and worst-case magnitude (``Fx.frac``, ``.bound``, ``.width``).

    Keys are ``L{i}.{signal}`` (accumulators ``acc*`` included) and ``out.acc`` / ``out.y``.
    Raises :class:`QModelError` naming the signal whose exact value could exceed int64.
    """
    tracer = _Tracer(1, keep_fx=True)
    stage = qmodel.input
    if isinstance(stage, EmbeddingInput):
        x = np.zeros((1, 1), np.int64)
    else:
        x = np.zeros((1, 1, stage.size), np.int64)
    s = np.ones((1, 1), bool)
    try:
        where = "layers[0] input projection"
        xi = input_projection(qmodel, x)
        h = None
        for i, layer in enumerate(qmodel.layers):
            where = f"layers[{i}]"
            tracer.layer(f"L{i}")
            if i:
                xi = matvec(layer.w_ih, h) + fixed(layer.b_ih)
            tracer("acc_x", xi)
            h = run_layer(layer, xi, s, tracer)
        if qmodel.output is not None:
            where = "output"
            acc = tracer.fx["out.acc"] = matvec(qmodel.output.w, h) + fixed(qmodel.output.b)
            tracer.fx["out.y"] = acc.requantize(qmodel.output.out)
    except BoundError as e:
        raise QModelError(f"{where}: {e}") from None
    return tracer.fx
