"""Matrix-vector products of the layers: folded (codes in block RAM, P lanes) or unrolled (weights
as wiring). Both end in registered, exact per-row accumulators, two cycles after the issue cycle:

* T0: the controller issues (folded: one (row, chunk) memory address per cycle);
* T1: the code word and the inputs' chunk arrive and the lanes apply the codes; folded, a register
  rank follows the lanes and each level of the adder tree (``tree_ranks(P)`` cycles, so every
  path holds one adder at most), then the row's accumulator for that matrix takes the sum;
  unrolled, every row is summed at once;
* T2 (folded: T1 + ranks + 1): ``valid`` is high while the accumulators hold a complete row (or
  all rows).

The accumulators are as wide as the row's range (:func:`plan.row_sum_bound`); a partial sum of a
row never exceeds it, so nothing wraps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal, Value

from ..spec.ir import WeightCodes
from .exact import Exact, fx_range
from .lanes import lane_sum, tree, tree_ranks
from .loader import read_codes
from .code_memory import chunks, code_format, memory_image, row_sum_bound
from .requantize import Bounded
from .shapes import shape_for


@dataclass(frozen=True)
class Source:
    """A vector a matrix multiplies: its integer range and binary point, and how to get at it:
    ``words`` (element values held in registers, for unrolled rows) or ``read`` (``read(m, k)``:
    chunk ``k``'s P words one cycle later, for folded rows) or ``gather`` (``gather(m, [e_0, ...])``:
    word ``e_j`` in lane ``j`` one cycle later, for zero-skipping rows). While ``zero`` is high the
    vector reads as all zeros (a sequence start for the state)."""

    lo: int
    hi: int
    frac: int
    words: tuple | None = None
    read: Callable[[Module, Value], Value] | None = None
    zero: Value | None = None
    gather: Callable[[Module, list[Value]], Value] | None = None


def masked(src: Source, value: Value) -> Value:
    """``value`` (a word or a sum of products of ``src``), 0 while ``src.zero``."""
    return value if src.zero is None else Mux(src.zero, 0, value)


def acc_exact(w: WeightCodes, src: Source, name: str) -> tuple[Signal, Exact]:
    """The accumulator register of ``W src`` (unscaled), at binary point ``src.frac - w.exp``."""
    bound = row_sum_bound(w, src.lo, src.hi)
    sig = Signal(shape_for(-bound, bound), name=name)
    return sig, Exact(sig, fx_range(src.frac - w.exp, -bound, bound))


class FoldedRows:
    """P lanes over chunks of each row; the codes of all matrices in one memory.

    ``baseline`` stores plain ``baseline``-bit integers and multiplies instead (the cost reference).
    ``build(..., load=port)`` keeps the codes in a memory without initial contents, written
    through ``port`` (:mod:`hwgen.generator.loader`) before the first step.
    """

    def __init__(self, ws: list[WeightCodes], order: list[int], gates: int, lanes: int,
                 baseline: int | None = None, hot: bool = False):
        self.ws, self.order, self.gates, self.lanes, self.hot = ws, order, gates, lanes, hot
        self.fmt = code_format(ws, baseline)
        self.k_counts = [chunks(w.shape[1], lanes) for w in ws]
        self.k_per_row = sum(self.k_counts)  # chunks of a row in memory
        # (matrix, chunks read) in the order a row visits them; ``hot``: the first matrix's one
        # hot chunk (hwgen.generator.hot_column) is read last, when its index is surely known.
        self.visits = ([(i, n) for i, n in enumerate(self.k_counts)] if not hot else
                       [(i, n) for i, n in enumerate(self.k_counts) if i > 0] + [(0, 1)])
        self.reads_per_row = sum(n for _, n in self.visits)

    @property
    def issues(self) -> int:
        """Issue cycles per time step: rows times chunks read per row."""
        return len(self.order) * self.reads_per_row

    @property
    def depth(self) -> int:
        """Words of the code memory: every chunk of every row."""
        return len(self.order) * self.k_per_row

    @property
    def width(self) -> int:
        """Bits of a code memory word (``lanes`` codes)."""
        return self.fmt.width * self.lanes

    def image(self) -> list[int]:
        """The code memory's words, in address order."""
        return memory_image(self.ws, self.order, self.lanes, self.fmt)

    def build(self, m: Module, issue: Value, sources: list[Source], name: str, load=None,
              hot_chunk: Value | None = None, dsp: bool = False):
        """Counters, memory, lanes and accumulators for ``W_i sources[i]``; returns the T1/T2
        tokens and the accumulators. ``hot_chunk``: with ``hot``, the chunk of the first matrix
        to read (held for the whole step)."""
        assert (hot_chunk is not None) == self.hot
        self.dsp = dsp  # the lanes' products on hard multipliers (lanes.takes_dsp)
        self.sources = sources
        n_rows, K = len(self.order), self.reads_per_row
        # At least one bit each: zero-width signals become [-1:0] vectors in Verilog.
        addr = Signal(range(max(2, self.depth)), name=f"{name}_addr", init=self._first_address)
        codes = read_codes(m, addr, self.depth, self.width, self.image(), load, name)
        k = Signal(range(max(2, K)), name=f"{name}_k")
        g = Signal(range(max(2, self.gates)), name=f"{name}_g")
        u = Signal(range(max(2, n_rows // self.gates)), name=f"{name}_u")
        p = Signal(range(max(2, n_rows)), name=f"{name}_p")
        with m.If(issue):
            self._advance(m, addr, k, p, hot_chunk, name)
            m.d.sync += k.eq(wrap_inc(k, K))
            with m.If(k == K - 1):
                m.d.sync += [p.eq(wrap_inc(p, n_rows)), g.eq(wrap_inc(g, self.gates))]
                with m.If(g == self.gates - 1):
                    m.d.sync += u.eq(wrap_inc(u, n_rows // self.gates))
        t1 = {"v": Signal(name=f"{name}_v1"), "k": Signal.like(k, name=f"{name}_k1"),
              "p": Signal.like(p, name=f"{name}_p1"), "u": Signal.like(u, name=f"{name}_u1"),
              "g": Signal.like(g, name=f"{name}_g1")}
        m.d.sync += [t1["v"].eq(issue), t1["k"].eq(k), t1["p"].eq(p), t1["u"].eq(u), t1["g"].eq(g)]
        chunk_data = [None] * len(self.ws)
        for i, start, _ in self._visit_ranges():  # addressed at T0, like the codes
            chunk_data[i] = self.sources[i].read(m, hot_chunk if self.hot and i == 0 else (k - start if start else k))
        is_first = Signal(name=f"{name}_x1")  # which matrix a chunk is of, known a cycle ahead
        m.d.sync += is_first.eq(k == K - 1 if self.hot else k < self.k_counts[0])
        psum = self._lanes(m, codes, chunk_data, is_first, name)
        for rank in range(tree_ranks(self.lanes)):  # tokens travel beside the sum
            nxt = {key: Signal.like(t1[key], name=f"{name}_{key}1_{rank}") for key in t1}
            m.d.sync += [nxt[key].eq(t1[key]) for key in t1]
            t1 = nxt
        accs = [None] * len(self.ws)
        for i, start, n_k in self._visit_ranges():
            w, src = self.ws[i], self.sources[i]
            sig, ex = acc_exact(w, src, f"{name}_acc{i}")
            with m.If(self._visiting(t1["v"], t1["k"], start, n_k)):
                if n_k == 1:  # one chunk a row (a hot input's): a register, no adder to leave unused
                    m.d.sync += sig.eq(psum)
                else:
                    with m.If(t1["k"] == start):
                        m.d.sync += sig.eq(psum)
                    with m.Else():
                        m.d.sync += sig.eq(sig + psum)
            accs[i] = ex
        t2 = {key: Signal.like(t1[key], name=f"{name}_{key}2") for key in ("v", "p", "u", "g")}
        m.d.sync += [t2["v"].eq(t1["v"] & (t1["k"] == K - 1))]
        m.d.sync += [t2[key].eq(t1[key]) for key in ("p", "u", "g")]
        return t1, t2, accs

    def _visit_ranges(self) -> list[tuple[int, int, int]]:
        """``(matrix, first visit index, visits)`` in a row's visiting order."""
        out, start = [], 0
        for i, n in self.visits:
            out.append((i, start, n))
            start += n
        return out

    def _visiting(self, valid: Value, k: Value, start: int, n: int) -> Value:
        """``valid`` and ``start <= k < start + n`` (a visit to one matrix), without needless compares."""
        if start > 0:
            valid &= k >= start
        if start + n < self.reads_per_row:
            valid &= k < start + n
        return valid

    @property
    def _first_address(self) -> int:
        """A step's first code address: row 0's first visited chunk."""
        return self.k_counts[0] if self.hot else 0

    def _advance(self, m: Module, addr: Signal, k: Value, p: Value, hot_chunk: Value | None, name: str):
        """The next code address, in an issue cycle. Dense: the next word. Hot: the other
        matrices' chunks in turn, then the row's hot chunk (``base + hot_chunk``), then the next
        row's first chunk; ``base`` is the row's first address, so no adder sits before the memory."""
        if not self.hot:
            m.d.sync += addr.eq(wrap_inc(addr, self.depth))
            return
        K, n_rows, row = self.reads_per_row, len(self.order), self.k_per_row
        base = Signal(range(max(2, self.depth)), name=f"{name}_base")
        with m.If(k == K - 2):
            m.d.sync += addr.eq(base + hot_chunk)
        with m.Elif(k == K - 1):
            with m.If(p == n_rows - 1):
                m.d.sync += [base.eq(0), addr.eq(self._first_address)]
            with m.Else():
                m.d.sync += [base.eq(base + row), addr.eq(base + row + self._first_address)]
        with m.Else():
            m.d.sync += addr.eq(addr + 1)

    def _lanes(self, m: Module, word: Value, chunk_data: list[Value], is_first: Value, name: str) -> Value:
        lo = min(s.lo for s in self.sources)
        hi = max(s.hi for s in self.sources)
        assert len(self.sources) <= 2

        def lane_input(j: int) -> Signal:
            x = Signal(shape_for(lo, hi), name=f"{name}_x{j}")
            # A masked source reads as zero at the lane's input: with the two sources' multiplexer
            # that is one LUT4, where a mask on the sum would sit in the accumulator's path.
            words = [masked(src, d[j]) for src, d in zip(self.sources, chunk_data)]
            m.d.comb += x.eq(words[-1] if len(words) == 1 else Mux(is_first, words[0], words[1]))
            return x
        return lane_sum(m, self.fmt, word, self.lanes, lane_input, lo, hi, name, self.dsp).value


def wrap_inc(sig: Signal, n: int) -> Value:
    """``sig + 1`` wrapping to 0 after ``n - 1``."""
    return Mux(sig == n - 1, 0, sig + 1)


def naf(q: int) -> list[tuple[int, int]]:
    """Non-adjacent form: ``q = sum(d * 2**i)`` with digits ``d`` in {-1, +1}, fewest nonzero."""
    digits, i = [], 0
    while q:
        if q & 1:
            d = 2 - (q & 3)
            digits.append((d, i))
            q -= d
        q >>= 1
        i += 1
    return digits


def const_row(row, src: Source) -> Bounded:
    """``sum_c row[c] * x[c]`` as shifted adds and subtracts of the inputs; zeros vanish."""
    terms = []
    for q, x in zip(row.tolist(), src.words):
        for d, i in naf(int(q)):
            lo, hi = src.lo << i, src.hi << i
            terms.append(Bounded(x << i, lo, hi) if d > 0 else Bounded(-(x << i), -hi, -lo))
    return tree(terms)


class UnrolledRows:
    """Every row of every matrix at once, the weights as constant shifts (one issue per step)."""

    issues = 1

    def __init__(self, ws: list[WeightCodes], sources: list[Source], order: list[int]):
        self.ws, self.sources, self.order = ws, sources, order

    def build(self, m: Module, issue: Value, name: str):
        """Returns ``(v2, accs)``: ``accs[p][i]`` is row ``order[p]`` of matrix ``i``."""
        v1, v2 = Signal(name=f"{name}_v1"), Signal(name=f"{name}_v2")
        m.d.sync += [v1.eq(issue), v2.eq(v1)]
        accs = []
        for p, r in enumerate(self.order):
            row = []
            for i, (w, src) in enumerate(zip(self.ws, self.sources)):
                sig, ex = acc_exact(w, src, f"{name}_acc{i}_r{p}")
                with m.If(v1):
                    m.d.sync += sig.eq(masked(src, const_row(w.q[r], src).value))
                row.append(ex)
            accs.append(row)
        return v2, accs
