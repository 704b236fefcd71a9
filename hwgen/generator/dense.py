"""The dense output layer ``y = RQ(W h + b -> Y)`` as a stream stage (same datapaths as a layer).

Pipeline: T0 issue, T1 lanes and accumulator, T2 scale + bias + requantize into the second bank;
the swap publishes the bank as the output payload.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..fixedpoint import Fmt
from ..ir import DenseLayer
from .control import step_control
from .matvec import FoldedRows, Source, UnrolledRows
from .plan import chunks
from .recurrent import vector_layout
from .rows import affine, row_constants
from .shapes import fmt_shape


class DenseStage(wiring.Component):
    """``i``: the last layer's state vector; ``o``: the logits."""

    drain = 3

    def __init__(self, dense: DenseLayer, in_fmt: Fmt, *, style: str, lanes: int,
                 baseline_width: int | None = None):
        self.dense, self.in_fmt, self.style, self.lanes = dense, in_fmt, style, lanes
        self.baseline_width = baseline_width
        n_in, n_out = dense.w.shape[1], dense.out_size
        super().__init__({
            "i": In(stream.Signature(vector_layout(fmt_shape(in_fmt), n_in))),
            "o": Out(stream.Signature(vector_layout(fmt_shape(dense.out), n_out))),
        })

    @property
    def issues(self) -> int:
        return 1 if self.style == "unrolled" else self.dense.out_size * chunks(self.dense.w.shape[1], self.lanes)

    @property
    def interval(self) -> int:
        return 1 + self.issues + self.drain

    latency = interval

    def elaborate(self, platform):
        m = Module()
        d, n_out = self.dense, self.dense.out_size
        steps = step_control(m, self.i, self.o, self.issues, self.drain)
        layout = data.ArrayLayout(fmt_shape(d.out), n_out)
        y_old, y_new = Signal(layout, name="y"), Signal(layout, name="y_next")
        m.d.comb += self.o.payload.data.eq(y_old)
        with m.If(steps.swap):
            m.d.sync += y_old.eq(y_new)
        x = Source(tuple(self.i.payload.data[c] for c in range(d.w.shape[1])),
                   self.in_fmt.min_int, self.in_fmt.max_int, self.in_fmt.frac)
        order = list(range(n_out))
        if self.style == "folded":
            t1, t2, (acc,) = FoldedRows([d.w], [x], order, 1, self.lanes, self.baseline_width).build(
                m, steps.issue, "mv")
            y = affine(acc, d.w, row_constants(m, d.w, d.b, order, t1["p"], "out")).requantize(m, d.out, "y_q")
            with m.If(t2["v"]):
                with m.Switch(t2["p"]):
                    for j in range(n_out):
                        with m.Case(j):
                            m.d.sync += y_new[j].eq(y.value)
        else:
            v2, accs = UnrolledRows([d.w], [x], order).build(m, steps.issue, "mv")
            for p in order:
                y = affine(accs[p][0], d.w, row_constants(m, d.w, d.b, order, None, "out", row=p))
                with m.If(v2):
                    m.d.sync += y_new[p].eq(y.requantize(m, d.out, f"y{p}_q").value)
        return m
