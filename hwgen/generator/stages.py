"""Small stream stages around the datapath: the embedding input and the argmax output.

Both are one register stage: a beat is taken whenever the output register is free or leaving
(``ready = ~o.valid | o.ready``), so they add one cycle of latency and never limit throughput.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..fixedpoint import Fmt
from ..ir import EmbeddingInput
from .recurrent import vector_layout
from .shapes import fmt_shape


def index_layout(n: int) -> data.StructLayout:
    return data.StructLayout({"data": unsigned(max(1, (n - 1).bit_length())), "first": 1})


def _pipe(m: Module, i, o) -> Signal:
    """The register-stage handshake; returns the 'take' strobe."""
    take = Signal(name="take")
    first = Signal(name="first_out")
    m.d.comb += [i.ready.eq(~o.valid | o.ready), take.eq(i.valid & i.ready), o.payload.first.eq(first)]
    with m.If(take):
        m.d.sync += [o.valid.eq(1), first.eq(i.payload.first)]
    with m.Elif(o.ready):
        m.d.sync += o.valid.eq(0)
    return take


class EmbeddingStage(wiring.Component):
    """Token id in, its embedding row out (a ROM read, so the table maps to block RAM)."""

    interval = latency = 1

    def __init__(self, stage: EmbeddingInput):
        self.stage = stage
        super().__init__({
            "i": In(stream.Signature(index_layout(stage.vocab_size))),
            "o": Out(stream.Signature(vector_layout(fmt_shape(stage.fmt), stage.out_size))),
        })

    def elaborate(self, platform):
        m = Module()
        s = self.stage
        w = s.fmt.width
        rows = [sum((int(v) & ((1 << w) - 1)) << (j * w) for j, v in enumerate(row)) for row in s.table.tolist()]
        m.submodules.table = table = Memory(shape=unsigned(w * s.out_size), depth=s.vocab_size, init=rows)
        port = table.read_port()
        take = _pipe(m, self.i, self.o)
        m.d.comb += [port.addr.eq(self.i.payload.data), port.en.eq(take), self.o.payload.data.eq(port.data)]
        return m


class ArgmaxStage(wiring.Component):
    """Vector in, the index of its largest word out (lowest index on ties): a comparator tree."""

    interval = latency = 1

    def __init__(self, fmt: Fmt, n: int):
        self.fmt, self.n = fmt, n
        super().__init__({
            "i": In(stream.Signature(vector_layout(fmt_shape(fmt), n))),
            "o": Out(stream.Signature(index_layout(n))),
        })

    def elaborate(self, platform):
        m = Module()
        take = _pipe(m, self.i, self.o)
        nodes = [(self.i.payload.data[j], j) for j in range(self.n)]
        level = 0
        while len(nodes) > 1:
            nxt = []
            for k in range(0, len(nodes), 2):
                if k + 1 == len(nodes):
                    nxt.append(nodes[k])
                    continue
                (va, ia), (vb, ib) = nodes[k], nodes[k + 1]
                left = va >= vb  # ties keep the left (lower) index
                v = Signal(fmt_shape(self.fmt), name=f"max{level}_{k // 2}")
                i = Signal(self.o.payload.data.shape(), name=f"arg{level}_{k // 2}")
                m.d.comb += [v.eq(Mux(left, va, vb)), i.eq(Mux(left, ia, ib))]
                nxt.append((v, i))
            nodes, level = nxt, level + 1
        result = Signal(self.o.payload.data.shape(), name="argmax")
        with m.If(take):
            m.d.sync += result.eq(nodes[0][1])
        m.d.comb += self.o.payload.data.eq(result)
        return m
