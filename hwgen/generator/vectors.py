"""Vectors between stages: published where they are stored, read one chunk at a time.

A stage does not hand the next one its output vector as a stream payload (a flip-flop per bit,
and a multiplexer per bit in front of every lane that reads it). It *publishes* the vector on a
link: ``valid`` says a vector is there and ``first`` whether it starts a sequence; the consumer
puts a chunk index ``k`` on ``addr`` and finds chunk ``k`` (elements ``k·P … k·P+P-1``, zeros past
the end) on ``data`` one cycle later, exactly like a block-RAM read, which is what it usually is.
The consumer takes the vector (``ready``) after its last read; until then the producer keeps it
unchanged. So a vector lives once, in a memory P words wide that the consumer's P lanes read
directly, and a chunk read costs no multiplexer.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .code_memory import chunks


def vector_link(shape: Shape, n: int, lanes: int, hot: bool = False) -> wiring.Signature:
    """A published vector of ``n`` words of ``shape``, read ``lanes`` words at a time. ``hot``:
    a vector with at most one non-zero word, and ``hot``, the chunk that holds it
    (hwgen.generator.hot_column)."""
    k = range(max(2, chunks(n, lanes)))
    return wiring.Signature({
        "valid": Out(1), "ready": In(1), "first": Out(1), "addr": In(k),
        "data": Out(data.ArrayLayout(shape, lanes)), **({"hot": Out(k)} if hot else {}),
    })


def index_bits(n: int) -> int:
    """Address bits for ``n`` entries (at least one: zero-width signals make poor Verilog)."""
    return max(1, (n - 1).bit_length())


def field(v: Value, bits: int) -> Value:
    """``v`` as exactly ``bits`` unsigned bits (truncated or zero-extended)."""
    v = Value.cast(v).as_unsigned()
    return v[:bits] if len(v) >= bits else Cat(v, Const(0, bits - len(v)))


class BankedVector:
    """A double-buffered vector of ``n`` words in one memory ``lanes`` words wide: chunk ``k`` of
    buffer ``b`` at address ``(k, b)``. One word is written per cycle; each read port reads a chunk
    per cycle (one cycle latency). Unwritten lanes past the end read as zero."""

    def __init__(self, m: Module, shape: Shape, n: int, lanes: int, reads: int, name: str):
        self.shape, self.n, self.lanes = shape, n, lanes
        self.kbits = index_bits(chunks(n, lanes))
        mem = Memory(shape=data.ArrayLayout(shape, lanes), depth=2 << self.kbits, init=[])
        m.submodules[name] = mem
        self.write_port = mem.write_port(granularity=1)
        self.read_ports = [mem.read_port() for _ in range(reads)]

    def read(self, m: Module, port: int, chunk: Value, buf: Value) -> Value:
        """Chunk ``chunk`` of buffer ``buf`` through read port ``port``, one cycle later."""
        p = self.read_ports[port]
        m.d.comb += p.addr.eq(Cat(field(chunk, self.kbits), buf))
        return p.data

    def write(self, m: Module, enable: Value, index: Value, value: Value, buf: Value, name: str):
        """Word ``index`` (element, not chunk) of buffer ``buf`` takes ``value`` where ``enable``."""
        P, wp = self.lanes, self.write_port
        word = Array(Const(e // P, self.kbits) for e in range(self.n))[index]
        lane = Array(Const(e % P, range(max(2, P))) for e in range(self.n))[index]  # 1 bit at least
        v = Signal(self.shape, name=f"{name}_value")
        m.d.comb += [v.eq(value), wp.addr.eq(Cat(word, buf)), wp.data.eq(Cat(*[v] * P))]
        with m.If(enable):
            m.d.comb += wp.en.eq(Const(1, P) << lane)


class LaneCopies:
    """A double-buffered vector of ``n`` words kept once per lane, so each of the ``lanes`` lanes
    reads any word it likes in the same cycle (zero-skipping rows, hwgen.generator.sparse_layout):
    copy ``j`` holds the whole vector, word ``e`` of buffer ``b`` at address ``(e, b)``. A write
    goes to every copy; ``reads`` read ports on each copy. The price is memory: ``lanes`` copies of
    ``2 n`` words (on the iCE40 a block RAM each up to ``n = 128`` 16-bit words, as many as a
    chunk-wide memory of ``lanes`` words takes anyway)."""

    def __init__(self, m: Module, shape: Shape, n: int, lanes: int, reads: int, name: str):
        self.shape, self.n, self.lanes = shape, n, lanes
        self.bits = index_bits(n)
        self.copies = []
        for j in range(lanes):
            mem = Memory(shape=shape, depth=2 << self.bits, init=[])
            m.submodules[f"{name}{j}"] = mem
            self.copies.append((mem.write_port(), [mem.read_port() for _ in range(reads)]))

    def read_words(self, m: Module, port: int, words: list[Value], buf: Value) -> Value:
        """Word ``words[j]`` of buffer ``buf`` in lane ``j``, through read port ``port``, one
        cycle later (an array of ``lanes`` words)."""
        out = []
        for (_, reads), e in zip(self.copies, words):
            m.d.comb += reads[port].addr.eq(Cat(field(e, self.bits), buf))
            out.append(reads[port].data)
        return data.ArrayLayout(self.shape, self.lanes)(Cat(*out))

    def read(self, m: Module, port: int, chunk: Value, buf: Value) -> Value:
        """Chunk ``chunk`` (words ``chunk·P + j``, zeros past the end) of buffer ``buf``, one cycle
        later, as :meth:`BankedVector.read` gives it: for a consumer that reads chunks."""
        P = self.lanes
        got = self.read_words(m, port, [chunk * P + j for j in range(P)], buf)
        if self.n % P == 0:
            return got
        k1 = Signal.like(Value.cast(chunk), name=f"lane_copies_k{port}")  # the chunk read, a cycle later
        m.d.sync += k1.eq(chunk)
        return data.ArrayLayout(self.shape, P)(Cat(*[Mux(k1 * P + j >= self.n, 0, got[j]) for j in range(P)]))

    def write(self, m: Module, enable: Value, index: Value, value: Value, buf: Value, name: str):
        """Word ``index`` of buffer ``buf`` takes ``value`` where ``enable``, in every copy."""
        v = Signal(self.shape, name=f"{name}_value")
        m.d.comb += v.eq(value)
        for wp, _ in self.copies:
            m.d.comb += [wp.addr.eq(Cat(field(index, self.bits), buf)), wp.data.eq(v), wp.en.eq(enable)]


class ScalarVector:
    """A double-buffered vector of ``n`` words, one word per read (the gate unit's ``h[u]``)."""

    def __init__(self, m: Module, shape: Shape, n: int, name: str):
        self.bits = index_bits(n)
        mem = Memory(shape=shape, depth=2 << self.bits, init=[])
        m.submodules[name] = mem
        self.write_port, self.read_port = mem.write_port(), mem.read_port()

    def read(self, m: Module, index: Value, buf: Value) -> Value:
        m.d.comb += self.read_port.addr.eq(Cat(field(index, self.bits), buf))
        return self.read_port.data

    def write(self, m: Module, enable: Value, index: Value, value: Value, buf: Value):
        wp = self.write_port
        m.d.comb += [wp.addr.eq(Cat(field(index, self.bits), buf)), wp.data.eq(value), wp.en.eq(enable)]


def serve_registers(m: Module, link, words: list[Value], lanes: int):
    """Answer ``link``'s chunk reads from words held in registers (or a held payload): a
    registered multiplexer, so the read has the same one-cycle latency as a memory's."""
    K = chunks(len(words), lanes)
    with m.Switch(link.addr):
        for k in range(K):
            with m.Case(k):
                for j in range(lanes):
                    e = k * lanes + j
                    m.d.sync += link.data[j].eq(words[e] if e < len(words) else 0)


def gather(m: Module, link, run: Value, count: Value, target, n: int, lanes: int, name: str):
    """Copy the vector on ``link`` into ``target`` (an array of ``n`` registers): in a cycle where
    ``run`` is high and ``count < chunks``, read chunk ``count``; it lands one cycle later."""
    K = chunks(n, lanes)
    arrive, k1 = read_in_turn(m, link, run & (count < K), count, K, name)
    with m.If(arrive):
        with m.Switch(k1):
            for k in range(K):
                with m.Case(k):
                    for j in range(lanes):
                        if k * lanes + j < n:
                            m.d.sync += target[k * lanes + j].eq(link.data[j])
    return arrive, k1


def read_in_turn(m: Module, link, run: Value, count: Value, chunks_: int, name: str) -> tuple[Signal, Signal]:
    """Read chunk ``count`` of ``link`` in each cycle ``run`` is high; returns ``(arrive, k)``:
    high, and the chunk's index, in the cycle its words are on ``link.data``."""
    arrive, k1 = Signal(name=f"{name}_arrive"), Signal(range(max(2, chunks_)), name=f"{name}_k")
    m.d.comb += link.addr.eq(count)
    m.d.sync += [arrive.eq(run), k1.eq(count)]
    return arrive, k1


def read_chunk(m: Module, link, k: Value) -> Value:
    """Chunk ``k`` of the vector on ``link`` (a consumer's read: there one cycle later)."""
    m.d.comb += link.addr.eq(k)
    return link.data


def published_buffer(m: Module, swap: Value) -> Signal:
    """Which of a double-buffered vector's two buffers is published; each swap exchanges them."""
    pub = Signal(name="published")
    with m.If(swap):
        m.d.sync += pub.eq(~pub)
    return pub


def first_of(port) -> Value:
    """The ``first`` flag of a link or of a stream port."""
    return port.first if hasattr(port, "first") else port.payload.first
