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

from ..spec.fixedpoint import Fmt
from ..spec.ir import DenseLayer
from .control import step_control
from .exact import register_for
from .loader import code_port
from .lanes import takes_dsp, tree_ranks
from .matvec import FoldedRows, Source, UnrolledRows
from .code_memory import chunks, dense_matrices
from .plan import MemoryPlan, StagePlan
from .rows import affine, constant_rows, row_constants
from .shapes import fmt_shape
from .vectors import BankedVector, published_buffer, read_chunk, gather, serve_registers, vector_link


def dense_rows(dense: DenseLayer, lanes: int, baseline_width: int | None) -> FoldedRows:
    """The folded rows of the output layer, in output order."""
    return FoldedRows(*dense_matrices(dense), lanes, baseline_width)


class DenseStage(wiring.Component):
    """``i``: the last layer's state vector; ``o``: the logits."""

    @classmethod
    def plan(cls, index: int, dense: DenseLayer, *, style: str, lanes: int, baseline_width: int | None = None,
             loaded: bool = False, dsp: bool = False, in_fmt: Fmt | None = None) -> StagePlan:
        """The layer's step with ``lanes`` lanes (IDLE + issues + drain) and, folded, its code
        memory; ``dsp``: its lanes on hard multipliers where the codes and ``in_fmt`` (its
        input's format) allow (lanes.takes_dsp)."""
        n_in = dense.w.shape[1]
        memory = None
        if style == "unrolled":  # read the input into registers, then one issue
            issues, drain = chunks(n_in, lanes) + 1, 3
            if loaded:
                raise ValueError("loaded weight codes need the folded datapath")
        else:  # the tree's ranks, the accumulator, scale and bias, the requantize into the buffer
            issues, drain = dense.out_size * chunks(n_in, lanes), tree_ranks(lanes) + 4
            rows = dense_rows(dense, lanes, baseline_width)
            memory = MemoryPlan(rows.depth, rows.width, loaded)
            dsp = dsp and in_fmt is not None and takes_dsp(rows.fmt, in_fmt.min_int, in_fmt.max_int)
        interval = 1 + issues + drain
        return StagePlan(index, "dense", lanes, interval=interval, latency=interval, issues=issues, drain=drain,
                         style=style, code_memory=memory, dsp_lanes=lanes if style == "folded" and dsp else 0)

    def __init__(self, dense: DenseLayer, in_fmt: Fmt, plan: StagePlan, baseline_width: int | None = None):
        self.dense, self.in_fmt, self.style, self.lanes = dense, in_fmt, plan.style, plan.lanes
        self.out_lanes, self.issues, self.drain = plan.out_lanes, plan.issues, plan.drain
        self.interval, self.latency = plan.interval, plan.latency
        n_in, n_out = dense.w.shape[1], dense.out_size
        members = {
            "i": In(vector_link(fmt_shape(in_fmt), n_in, self.lanes)),
            "o": Out(vector_link(fmt_shape(dense.out), n_out, self.out_lanes)),
        }
        self.rows = dense_rows(dense, self.lanes, baseline_width) if self.style == "folded" else None
        self.dsp = plan.dsp_lanes > 0
        if plan.loaded:  # the codes come through ``codes`` (hwgen.generator.loader)
            members["codes"] = In(code_port(self.rows.depth, self.rows.width))
        super().__init__(members)

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
        t1, t2, (acc,) = self.rows.build(m, steps.issue, [x], "mv", getattr(self, "codes", None), dsp=self.dsp)
        y = affine(acc, d.w, row_constants(m, [(d.w, d.b, None)], order, t1["p"], "out_consts")[0]).wire(m, "y_affine")
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
        consts = constant_rows(d.w, d.b, order)
        for p in order:
            y = affine(accs[p][0], d.w, consts[p])
            with m.If(v2):
                m.d.sync += y_new[p].eq(y.requantize(m, d.out, f"y{p}_q").value)
