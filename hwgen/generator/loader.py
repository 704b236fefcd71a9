"""Weight codes loaded at run time (``weights="spram"``): the recurrent layers' code memories have
no initial contents, so synthesis can put them in RAM that a bitstream cannot initialise (the
iCE40 UltraPlus's SPRAM: 1 Mbit, eight times the block RAM) and the design takes the codes
through its ``load`` stream after every reset, before any input.

The load image (:func:`hwgen.generator.code_memory.load_image`) is 16-bit words: each recurrent layer's code memory in
layer order, then the output layer's,
each memory word (``lanes`` codes, lane 0 in the lowest bits) as ``pieces`` 16-bit words, least
significant first. docs/hardware-interface.md describes the port.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, Value, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .plan import LOAD_WIDTH, pieces

#: name suffix of memories without initial contents (hwgen.generator.emit strips their init)
LOADED_SUFFIX = "_loaded"


def code_port(depth: int, width: int) -> wiring.Signature:
    """The loader's side of one code memory: a write per word, and ``busy`` until all are written."""
    return wiring.Signature({"addr": Out(range(max(2, depth))), "data": Out(width), "en": Out(1),
                             "busy": Out(1)})


def loaded_memory(m: Module, port, depth: int, width: int, read_addr: Value, name: str) -> Value:
    """A code memory written through ``port`` (a :func:`code_port`, flipped) and then read at
    ``read_addr`` with one cycle of latency. One address for both, so it maps to single-port RAM;
    the read is disabled during the load, as SPRAM's read-during-write behaviour asks."""
    mem = Memory(shape=width, depth=depth, init=[], attrs={"ram_style": "huge"})
    m.submodules[name + LOADED_SUFFIX] = mem
    wr, rd = mem.write_port(), mem.read_port()
    addr = Signal(range(max(2, depth)), name=f"{name}_ram_addr")
    m.d.comb += [addr.eq(Mux(port.busy, port.addr, read_addr)), wr.addr.eq(addr), rd.addr.eq(addr),
                 wr.data.eq(port.data), wr.en.eq(port.en & port.busy), rd.en.eq(~port.busy)]
    return rd.data


def read_codes(m: Module, addr: Value, depth: int, width: int, image: list[int], load, name: str) -> Value:
    """A stage's code memory read at ``addr``, one cycle later: a ROM holding ``image``, or with
    ``load`` (a :func:`code_port`, flipped) one without contents, filled through it
    (:func:`loaded_memory`)."""
    if load is not None:
        return loaded_memory(m, load, depth, width, addr, f"{name}_codes")
    mem = Memory(shape=unsigned(width), depth=depth, init=image)
    m.submodules[f"{name}_codes"] = mem
    port = mem.read_port()
    m.d.comb += port.addr.eq(addr)
    return port.data


class WeightLoader(wiring.Component):
    """Fills the code memories ``(depth, width)`` in turn from the ``load`` stream; ``done``
    rises after the last write and stays high until reset."""

    def __init__(self, memories: list[tuple[int, int]]):
        self.memories = memories
        super().__init__({"load": In(stream.Signature(LOAD_WIDTH)), "done": Out(1),
                          **{f"w{k}": Out(code_port(d, w)) for k, (d, w) in enumerate(memories)}})

    def elaborate(self, platform):
        m = Module()
        most = max(pieces(w) for _, w in self.memories)
        n = len(self.memories)
        word = Signal(LOAD_WIDTH * most)  # the newest piece at the top
        piece = Signal(range(max(2, most)))
        mem = Signal(range(max(2, n)))
        addr = Signal(range(max(2, max(d for d, _ in self.memories))))
        taken = Signal()  # every load word is in
        m.d.comb += self.load.ready.eq(~taken)
        m.d.sync += self.done.eq(taken)  # one cycle later: the last word has been written
        ends = Signal()  # this load word completes a memory word
        m.d.comb += ends.eq(piece == _pick(mem, [pieces(w) - 1 for _, w in self.memories]))
        accept = self.load.valid & ~taken
        write, at, into = Signal(), Signal.like(addr), Signal.like(mem)  # the write, a cycle later
        m.d.sync += write.eq(accept & ends)
        with m.If(accept):
            m.d.sync += [word.eq(Cat(word[LOAD_WIDTH:], self.load.payload)), piece.eq(piece + 1)]
            with m.If(ends):
                m.d.sync += [piece.eq(0), at.eq(addr), into.eq(mem), addr.eq(addr + 1)]
                with m.If(addr == _pick(mem, [d - 1 for d, _ in self.memories])):
                    m.d.sync += [addr.eq(0), mem.eq(mem + 1)]
                    with m.If(mem == n - 1):
                        m.d.sync += taken.eq(1)
        for k, (d, w) in enumerate(self.memories):
            port = getattr(self, f"w{k}")
            top = LOAD_WIDTH * (most - pieces(w))
            m.d.comb += [port.addr.eq(at), port.data.eq(word[top:top + w]), port.en.eq(write & (into == k)),
                         port.busy.eq(~self.done)]
        return m


def _pick(index: Value, values: list[int]) -> Value:
    """``values[index]`` as a multiplexer chain (``values`` are small constants)."""
    out = values[-1]
    for k in range(len(values) - 2, -1, -1):
        out = Mux(index == k, values[k], out)
    return out
