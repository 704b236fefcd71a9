"""The dense output layer ``y = RQ(W h + b -> Y)`` as a stage (same datapaths as a layer).

Pipeline: T0 issue, T1 lanes and accumulator, T2 scale + bias + requantize into the buffer that is
not published; the swap publishes it. Folded: ``y`` in block RAM, P words wide, read by the next
stage a chunk at a time. Unrolled: the input is read into registers first and ``y`` is held in
registers.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..fixedpoint import Fmt
from ..ir import DenseLayer
from .control import step_control
from .exact import register_for
from .loader import code_port
from .matvec import FoldedRows, Source, UnrolledRows, tree_ranks
from .plan import chunks
from .rows import affine, row_constants
from .shapes import fmt_shape
from .vectors import BankedVector, published_buffer, read_chunk, gather, serve_registers, vector_link


class DenseStage(wiring.Component):
    """``i``: the last layer's state vector; ``o``: the logits."""


    def __init__(self, dense: DenseLayer, in_fmt: Fmt, *, style: str, lanes: int,
                 baseline_width: int | None = None, out_lanes: int | None = None, loaded: bool = False):
        self.dense, self.in_fmt, self.style, self.lanes = dense, in_fmt, style, lanes
        self.out_lanes = out_lanes or lanes
        self.baseline_width = baseline_width
        n_in, n_out = dense.w.shape[1], dense.out_size
        members = {
            "i": In(vector_link(fmt_shape(in_fmt), n_in, lanes)),
            "o": Out(vector_link(fmt_shape(dense.out), n_out, self.out_lanes)),
        }
        self.rows = FoldedRows([dense.w], list(range(n_out)), 1, lanes, baseline_width) if style == "folded" else None
        if loaded:  # the codes come through ``codes`` (hwgen.generator.loader)
            assert self.rows is not None, "loaded weight codes need the folded datapath"
            members["codes"] = In(code_port(self.rows.issues, self.rows.width))
        super().__init__(members)

    @staticmethod
    def step(dense: DenseLayer, style: str, lanes: int) -> int:
        """Cycles per step with ``lanes`` lanes (IDLE + issues + drain)."""
        n_in = dense.w.shape[1]
        if style == "unrolled":  # read the input into registers, then one issue
            return 1 + chunks(n_in, lanes) + 1 + 3
        # the tree's ranks, the accumulator, scale and bias, the requantize into the buffer
        return 1 + dense.out_size * chunks(n_in, lanes) + tree_ranks(lanes) + 4

    @property
    def drain(self) -> int:
        return 3 if self.style == "unrolled" else tree_ranks(self.lanes) + 4

    @property
    def issues(self) -> int:
        return self.interval - 1 - self.drain

    @property
    def interval(self) -> int:
        return self.step(self.dense, self.style, self.lanes)

    latency = interval

    def elaborate(self, platform):
        m = Module()
        steps = step_control(m, self.i, self.o, self.issues, self.drain)
        (self._folded if self.style == "folded" else self._unrolled)(m, steps)
        return m

    def _folded(self, m, steps):
        d, f = self.dense, self.in_fmt
        pub = published_buffer(m, steps.swap)
        y_chunks = BankedVector(m, fmt_shape(d.out), d.out_size, self.out_lanes, reads=1, name="y_chunks")
        m.d.comb += self.o.data.eq(y_chunks.read(m, 0, self.o.addr, pub))
        x = Source(f.min_int, f.max_int, f.frac, read=lambda m, k: read_chunk(m, self.i, k))
        order = self.rows.order
        t1, t2, (acc,) = self.rows.build(m, steps.issue, [x], "mv", getattr(self, "codes", None))
        y = affine(acc, d.w, row_constants(m, d.w, d.b, order, t1["p"], "out")).wire(m, "y_affine")
        y_sig, y3 = register_for(y.fx, "y_affine3")  # scale and bias, then the requantize
        v3, p3 = Signal(name="y_v3"), Signal.like(t2["p"], name="y_p3")
        m.d.sync += [y_sig.eq(y.value), v3.eq(t2["v"]), p3.eq(t2["p"])]
        y_chunks.write(m, v3, p3, y3.requantize(m, d.out, "y_q").value, ~pub, "y_write")

    def _unrolled(self, m, steps):
        d, f = self.dense, self.in_fmt
        n_in, n_out = d.w.shape[1], d.out_size
        x_regs = Signal(data.ArrayLayout(fmt_shape(f), n_in), name="x")
        gather(m, self.i, steps.issue, steps.count, x_regs, n_in, self.lanes, "x_in")
        issue = steps.issue & (steps.count == self.issues - 1)
        layout = data.ArrayLayout(fmt_shape(d.out), n_out)
        y_old, y_new = Signal(layout, name="y"), Signal(layout, name="y_next")
        with m.If(steps.swap):
            m.d.sync += y_old.eq(y_new)
        serve_registers(m, self.o, [y_old[j] for j in range(n_out)], self.out_lanes)
        x = Source(f.min_int, f.max_int, f.frac, words=tuple(x_regs[c] for c in range(n_in)))
        order = list(range(n_out))
        v2, accs = UnrolledRows([d.w], [x], order).build(m, issue, "mv")
        for p in order:
            y = affine(accs[p][0], d.w, row_constants(m, d.w, d.b, order, None, "out", row=p))
            with m.If(v2):
                m.d.sync += y_new[p].eq(y.requantize(m, d.out, f"y{p}_q").value)
