"""Folded rows that skip the zero codes of ``W_hh`` (the layout: :mod:`hwgen.generator.sparse_layout`).

The same pipeline as :class:`hwgen.generator.matvec.FoldedRows` (T0 issue, T1 codes and inputs at
the lanes, a register rank per tree level, the accumulators), so the drain and the row end are
unchanged; what differs is T0. A row is a run of state words, as many as its non-zeros need, then
its input words. The issue logic knows where a row's state words end from the flag the previous
word carries (the memory's output at T0 is the previous issue's word), addresses each lane's copy
of the state with the columns the previous word carries (a base column and each lane's offset from
it), and reads the input words as today: every chunk in turn, or the token's hot chunk (at the
address after the row's last state word plus the chunk's index).
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, Value

from ..spec.ir import WeightCodes
from .code_memory import code_format
from .lanes import lane_sum, tree_ranks
from .loader import read_codes
from .matvec import Source, acc_exact, masked, wrap_inc
from .shapes import shape_for
from .sparse_layout import SparseLayout, sparse_layout


class SparseRows:
    """A layer's rows over ``[W_ih, W_hh]`` (``order``: visiting order, ``gates`` rows per unit),
    ``W_hh`` stored without its zeros. ``build`` takes the sources ``[x, h]``; ``h`` must have
    ``gather`` (each lane reads a word of its own choosing)."""

    def __init__(self, ws: list[WeightCodes], order: list[int], gates: int, lanes: int, hot: bool = False):
        self.ws, self.order, self.gates, self.lanes, self.hot = ws, order, gates, lanes, hot
        self.fmt = code_format(ws, None)
        self.layout: SparseLayout = sparse_layout(ws[0], ws[1], order, lanes, self.fmt, hot)

    @property
    def issues(self) -> int:
        return self.layout.issues

    @property
    def depth(self) -> int:
        return self.layout.depth

    @property
    def width(self) -> int:
        return self.layout.width

    def image(self) -> list[int]:
        return list(self.layout.words)

    def build(self, m: Module, issue: Value, sources: list[Source], name: str, load=None,
              hot_chunk: Value | None = None, dsp: bool = False):
        """As :meth:`FoldedRows.build`: returns the accumulator-stage tokens (``p``), the row-end
        tokens (``v``, ``p``, ``u``, ``g``) and the accumulators of ``W_ih x`` and ``W_hh h``."""
        assert (hot_chunk is not None) == self.hot
        self.dsp = dsp  # the lanes' products on hard multipliers (lanes.takes_dsp)
        lay, P = self.layout, self.lanes
        x, h = sources
        n_rows, K = len(self.order), lay.input_chunks
        addr = Signal(range(max(2, self.depth)), name=f"{name}_addr")
        word = read_codes(m, addr, self.depth, self.width, self.image(), load, name)
        # What the previous issue's word says of this one (constants at a step's first issue).
        started = Signal(name=f"{name}_started")
        m.d.sync += started.eq(issue)
        first = issue & ~started
        c, d, top = lay.column_bits, lay.offset_bits, P * lay.code_bits
        base = word[top:top + c]
        offsets = [word[top + c + (j - 1) * d:top + c + j * d] for j in range(1, P)] if d else [Const(0)] * (P - 1)
        columns = [Mux(first, lay.first_columns[j], base if j == 0 else base + offsets[j - 1]) for j in range(P)]
        last_state = Mux(first, int(lay.first_last), word[lay.width - 1])
        # Where the issue is within its row.
        in_state = Signal(name=f"{name}_in_state", init=1)  # issuing state words (else input words)
        row_first = Signal(name=f"{name}_row_first", init=1)  # the row's first state word is next
        k = Signal(range(max(2, K)), name=f"{name}_k")  # the input chunk (dense input reads)
        row_next = Signal(range(max(2, self.depth + 1)), name=f"{name}_row_next")  # the next row's address (hot)
        p = Signal(range(max(2, n_rows)), name=f"{name}_p")
        g = Signal(range(max(2, self.gates)), name=f"{name}_g")
        u = Signal(range(max(2, n_rows // self.gates)), name=f"{name}_u")
        input_last = Const(1) if self.hot else (k == K - 1)
        row_end = ~in_state & input_last
        with m.If(issue):
            self._advance(m, addr, in_state, last_state, row_end, k, row_next, p, hot_chunk, n_rows)
            m.d.sync += row_first.eq(Mux(in_state, 0, row_end))
            with m.If(row_end):
                m.d.sync += [p.eq(wrap_inc(p, n_rows)), g.eq(wrap_inc(g, self.gates))]
                with m.If(g == self.gates - 1):
                    m.d.sync += u.eq(wrap_inc(u, n_rows // self.gates))
        t1 = {"v": Signal(name=f"{name}_v1"), "s": Signal(name=f"{name}_s1"),  # a state word
              "start": Signal(name=f"{name}_start1"),  # the first word of its matrix in the row
              "end": Signal(name=f"{name}_end1"),  # the row's last word
              "p": Signal.like(p, name=f"{name}_p1"), "u": Signal.like(u, name=f"{name}_u1"),
              "g": Signal.like(g, name=f"{name}_g1")}
        m.d.sync += [t1["v"].eq(issue), t1["s"].eq(in_state),
                     t1["start"].eq(Mux(in_state, row_first, k == 0 if not self.hot else 1)),
                     t1["end"].eq(row_end), t1["p"].eq(p), t1["u"].eq(u), t1["g"].eq(g)]
        x_data = x.read(m, hot_chunk if self.hot else k)
        h_data = h.gather(m, columns)
        psum = self._lanes(m, word, x_data, h_data, t1["s"], x, h, name)
        for rank in range(tree_ranks(P)):  # tokens travel beside the sum
            nxt = {key: Signal.like(t1[key], name=f"{name}_{key}1_{rank}") for key in t1}
            m.d.sync += [nxt[key].eq(t1[key]) for key in t1]
            t1 = nxt
        accs = []
        for w, src, is_state in ((self.ws[0], x, 0), (self.ws[1], h, 1)):
            sig, ex = acc_exact(w, src, f"{name}_acc{is_state}")
            with m.If(t1["v"] & (t1["s"] == is_state)):
                m.d.sync += sig.eq(Mux(t1["start"], psum, sig + psum))
            accs.append(ex)
        t2 = {key: Signal.like(t1[key], name=f"{name}_{key}2") for key in ("v", "p", "u", "g")}
        m.d.sync += [t2["v"].eq(t1["v"] & t1["end"])] + [t2[key].eq(t1[key]) for key in ("p", "u", "g")]
        return t1, t2, accs

    def _advance(self, m: Module, addr, in_state, last_state, row_end, k, row_next, p, hot_chunk, n_rows):
        """The next address and position, in an issue cycle: state words in turn; after the
        last, the input chunks in turn (dense) or the hot one; after the row, the next row (0
        after the last row: the step wraps)."""
        K = self.layout.input_chunks
        with m.If(in_state):
            with m.If(last_state):
                m.d.sync += in_state.eq(0)
                if self.hot:
                    m.d.sync += [addr.eq(addr + 1 + hot_chunk), row_next.eq(addr + 1 + K)]
                else:
                    m.d.sync += [addr.eq(addr + 1), k.eq(0)]
            with m.Else():
                m.d.sync += addr.eq(addr + 1)
        with m.Elif(row_end):
            m.d.sync += [in_state.eq(1), addr.eq(Mux(p == n_rows - 1, 0, row_next if self.hot else addr + 1))]
        with m.Else():
            m.d.sync += [addr.eq(addr + 1), k.eq(k + 1)]

    def _lanes(self, m: Module, word: Value, x_data, h_data, is_state: Value, x: Source, h: Source,
               name: str) -> Value:
        lo, hi = min(x.lo, h.lo), max(x.hi, h.hi)

        def lane_input(j: int) -> Signal:
            v = Signal(shape_for(lo, hi), name=f"{name}_x{j}")
            m.d.comb += v.eq(Mux(is_state, masked(h, h_data[j]), masked(x, x_data[j])))
            return v
        codes = word[:self.lanes * self.layout.code_bits]  # the word's lowest bits
        return lane_sum(m, self.fmt, codes, self.lanes, lane_input, lo, hi, name, self.dsp).value
