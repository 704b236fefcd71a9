"""Stages at the design's edges, between its stream ports and the stages' vector links
(:mod:`hwgen.generator.vectors`).

* :class:`EmbeddingStage`: token id in; publishes its embedding row, read a chunk at a time
  straight from the table (a ROM, so block RAM). One cycle.
* :class:`VectorInputStage`: the input vector payload, published where it stands (the stream
  rules hold it until the beat is taken). No cycles.
* :class:`ArgmaxStage`: reads the logits a chunk at a time and keeps the running maximum; the
  index of the largest word leaves on the output stream (lowest index on ties).
* :class:`VectorOutputStage`: reads the published vector into the output payload.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.fixedpoint import Fmt
from ..spec.ir import EmbeddingInput
from .code_memory import chunks
from .control import step_control
from .hot_column import HotSplit, hot_chunks
from .interface import index_format, vector_format
from .plan import StagePlan
from .shapes import fmt_shape, shape_for
from .vectors import field, gather, index_bits, read_in_turn, serve_registers, vector_link

#: Cycles after the last chunk read: the chunk arrives, then the result is published.
READ_DRAIN = 2


class EmbeddingStage(wiring.Component):
    """Token id in; its embedding row published, chunk ``k`` of token ``t`` at ROM address ``(k, t)``."""

    @classmethod
    def plan(cls, index: int, lanes: int, hot: bool = False) -> StagePlan:
        """One cycle: the token's row is read a chunk of ``lanes`` words per address. ``hot``:
        the row's one-hot part is published, with the chunk that holds its non-zero."""
        return StagePlan(index, "embedding", lanes, interval=1, latency=1, hot=hot)

    def __init__(self, stage: EmbeddingInput, plan: StagePlan, split: HotSplit | None = None):
        """``split``: the table's split (hwgen.generator.hot_column), for a plan with ``hot``."""
        if plan.hot != (split is not None):
            raise ValueError("an embedding stage that publishes hot columns needs the table's split, and only it")
        self.stage, self.lanes, self.interval, self.latency = stage, plan.lanes, plan.interval, plan.latency
        self.split = split
        self.table = stage.table if split is None else split.hot
        super().__init__({
            "i": In(stream.Signature(index_format(stage.vocab_size).layout)),
            "o": Out(vector_link(fmt_shape(stage.fmt), stage.out_size, self.lanes, hot=plan.hot)),
        })

    @property
    def storage(self) -> tuple[int, Shape]:
        """``(t, shape)``: every entry is ``stored << t`` with ``stored`` in ``shape``, the fewest
        bits that hold the table (a one-hot table stores one bit per entry)."""
        table = [int(v) for v in self.table.ravel().tolist()]
        t = min(((v & -v).bit_length() - 1 for v in table if v), default=0)
        lo, hi = min(table) >> t, max(table) >> t
        return t, (shape_for(lo, hi) if lo < 0 else unsigned(max(1, hi.bit_length())))

    def rom_image(self) -> list[list[int]]:
        s, P = self.stage, self.lanes
        K = chunks(s.out_size, P)
        kbits = index_bits(K)
        t = self.storage[0]
        rows = []
        for row in self.table.tolist():
            padded = [int(v) >> t for v in row] + [0] * (K * P - len(row))
            words = [padded[k * P:(k + 1) * P] for k in range(K)]
            rows += words + [[0] * P] * ((1 << kbits) - K)
        return rows

    def elaborate(self, platform):
        m = Module()
        s = self.stage
        kbits = index_bits(chunks(s.out_size, self.lanes))
        t, stored = self.storage
        m.submodules.table = table = Memory(shape=data.ArrayLayout(stored, self.lanes),
                                            depth=s.vocab_size << kbits, init=self.rom_image())
        port = table.read_port()
        token = Signal.like(self.i.payload.data, name="token")
        take = Signal(name="take")
        m.d.comb += [self.i.ready.eq(~self.o.valid | self.o.ready), take.eq(self.i.valid & self.i.ready)]
        with m.If(take):
            m.d.sync += [self.o.valid.eq(1), self.o.first.eq(self.i.payload.first), token.eq(self.i.payload.data)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.comb += port.addr.eq(Cat(field(self.o.addr, kbits), token))
        m.d.comb += [self.o.data[j].eq(port.data[j] << t) for j in range(self.lanes)]
        if self.split is not None:  # a register, taken with the token: no lookup in the reader's path
            k = self.o.hot.shape()
            hot = Signal(k, name="hot_chunk")
            with m.If(take):
                m.d.sync += hot.eq(Array(Const(c, k) for c in hot_chunks(self.split, self.lanes))[self.i.payload.data])
            m.d.comb += self.o.hot.eq(hot)
        return m


class VectorInputStage(wiring.Component):
    """The input stream's vector payload, published as it stands (no register, no cycle)."""

    @classmethod
    def plan(cls, index: int, lanes: int) -> StagePlan:
        """No cycles of its own: the payload is published as it stands."""
        return StagePlan(index, "vectorinput", lanes, interval=1, latency=0)

    def __init__(self, fmt: Fmt, n: int, plan: StagePlan):
        self.fmt, self.n, self.lanes, self.interval, self.latency = fmt, n, plan.lanes, plan.interval, plan.latency
        super().__init__({
            "i": In(stream.Signature(vector_format(fmt, n).layout)),
            "o": Out(vector_link(fmt_shape(fmt), n, self.lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        m.d.comb += [o.valid.eq(i.valid), i.ready.eq(o.ready), o.first.eq(i.payload.first)]
        serve_registers(m, o, [i.payload.data[j] for j in range(self.n)], self.lanes)
        return m


class ChunkReader(wiring.Component):
    """A stage that reads its input vector a chunk per cycle, then publishes one output beat."""

    kind = "chunkreader"  # a subclass's name in a plan

    @classmethod
    def plan(cls, index: int, n: int, lanes: int) -> StagePlan:
        """A step reading ``n`` words ``lanes`` at a time: IDLE, a read per chunk, the drain."""
        reads = chunks(n, lanes)
        return StagePlan(index, cls.kind, lanes, interval=1 + reads + READ_DRAIN,
                         latency=1 + reads + READ_DRAIN, issues=reads, drain=READ_DRAIN)

    def __init__(self, fmt: Fmt, n: int, plan: StagePlan, out_layout):
        self.fmt, self.n, self.lanes, self.interval, self.latency = fmt, n, plan.lanes, plan.interval, plan.latency
        super().__init__({
            "i": In(vector_link(fmt_shape(fmt), n, self.lanes)),
            "o": Out(stream.Signature(out_layout)),
        })


class VectorOutputStage(ChunkReader):
    """The published vector, read into the output stream's payload (``n`` words)."""

    kind = "vectoroutput"

    def __init__(self, fmt: Fmt, n: int, plan: StagePlan):
        super().__init__(fmt, n, plan, vector_format(fmt, n).layout)

    def elaborate(self, platform):
        m = Module()
        # The chunks land in the payload itself, so a step starts only as the last beat leaves.
        steps = step_control(m, self.i, self.o, chunks(self.n, self.lanes), READ_DRAIN, wait_output=True)
        gather(m, self.i, steps.issue, steps.count, self.o.payload.data, self.n, self.lanes, "out")
        return m


class ArgmaxStage(ChunkReader):
    """The published vector in, the index of its largest word out (lowest index on ties)."""

    kind = "argmax"

    def __init__(self, fmt: Fmt, n: int, plan: StagePlan):
        super().__init__(fmt, n, plan, index_format(n).layout)

    def elaborate(self, platform):
        m = Module()
        P, K, n = self.lanes, chunks(self.n, self.lanes), self.n
        steps = step_control(m, self.i, self.o, K, READ_DRAIN)
        arrive, k1 = read_in_turn(m, self.i, steps.issue, steps.count, K, "chunk")
        index_shape = self.o.payload.data.shape()
        last = n - (K - 1) * P  # lanes holding words in the last chunk
        nodes = [(self.i.data[j], Const(j, range(max(2, P))), (k1 != K - 1) | Const(int(j < last), 1)) for j in range(P)]
        level = 0
        while len(nodes) > 1:  # ties keep the left (lower) index; lanes past the end never win
            nxt = []
            for a in range(0, len(nodes), 2):
                if a + 1 == len(nodes):
                    nxt.append(nodes[a])
                    continue
                (va, ia, oka), (vb, ib, okb) = nodes[a], nodes[a + 1]
                left = oka & (~okb | (va >= vb))
                v = Signal(fmt_shape(self.fmt), name=f"max{level}_{a // 2}")
                i = Signal(range(max(2, P)), name=f"arg{level}_{a // 2}")
                ok = Signal(name=f"ok{level}_{a // 2}")
                m.d.comb += [v.eq(Mux(left, va, vb)), i.eq(Mux(left, ia, ib)), ok.eq(oka | okb)]
                nxt.append((v, i, ok))
            nodes, level = nxt, level + 1
        chunk_max, chunk_arg = nodes[0][0], k1 * P + nodes[0][1]
        best, best_arg = Signal(fmt_shape(self.fmt), name="best"), Signal(index_shape, name="best_arg")
        with m.If(arrive & ((k1 == 0) | (chunk_max > best))):  # an equal later word does not win
            m.d.sync += [best.eq(chunk_max), best_arg.eq(chunk_arg)]
        result = Signal(index_shape, name="argmax")
        with m.If(steps.swap):
            m.d.sync += result.eq(best_arg)
        m.d.comb += self.o.payload.data.eq(result)
        return m
