"""Zero-skipping state reads: the code memory of a recurrent layer whose ``W_hh`` stores only its
non-zero codes, computed in plain Python from the codes (no Amaranth).

A dense row reads every chunk of ``W_hh`` (``⌈H/P⌉`` words of P codes), zeros and all. Here a row
stores its non-zero codes only, each with the column it multiplies, P to a word, so a row costs
about ``S_r = max(1, ⌈nnz_r / P⌉)`` issue cycles instead of ``⌈H/P⌉``. Each lane reads the state
from its own copy of ``h`` (:class:`hwgen.generator.vectors.LaneCopies`), so a lane can take any
column and a row's non-zeros are dealt to the lanes in turn: lanes are idle only in a row's last
word (and in the rare word cut short, below), and rows of different density do not stall each
other (the address simply runs on).

A row's words: its ``S_r`` state words, then its input part as today (every chunk of ``W_ih``, or
with hot-column reads the one chunk the token needs, read from among them). One word is::

    bits 0 .. P·w - 1        P codes (lane j's at j·w): this word's products
    next c bits              the NEXT issue's base column (lane 0's column)
    next (P - 1)·d bits      the NEXT issue's offsets of lanes 1 .. P-1 from the base
    top bit                  the NEXT issue is the last state word of its row

The columns and the flag describe the issue after this one, because the state copies must be
addressed in the cycle the word is issued, when the word itself is not yet out of the memory: the
previous word is (issues of a step are consecutive). The input words of a row carry the next row's
first columns and flag (all of them: with hot reads any one may be the one read); a step's first
issue takes them from constants (:attr:`SparseLayout.first_columns`, :attr:`first_last`). Padding
lanes get code 0 and offset 0. A word's entries are consecutive non-zeros of its row, so their
columns lie close together: an offset needs ``d`` bits where a full column needs ``c = ⌈log2 H⌉``;
a word whose columns would spread further is cut short, and ``d`` is the narrowest that costs at
most :data:`OFFSET_SLACK` more words than full columns would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spec.ir import CodeKind, WeightCodes
from .codes import CodeFormat, encode_q


def _chunks(n: int, lanes: int) -> int:
    return -(-n // lanes)


def _encode(q, fmt: CodeFormat) -> list[int]:
    return [int(v) for v in encode_q(q, fmt).tolist()]


def index_bits(n: int) -> int:
    """Bits of a column index into ``n`` columns (at least one)."""
    return max(1, (n - 1).bit_length())


def skippable(w: WeightCodes) -> bool:
    """Whether ``w``'s codes can be zero at all (binary codes are ±1: nothing to skip)."""
    return w.kind is not CodeKind.BINARY


@dataclass(frozen=True)
class SparseLayout:
    """The code memory of one layer with zero-skipping state reads (see the module)."""

    lanes: int
    code_bits: int  # w: bits of one code
    column_bits: int  # c: bits of a word's base column
    offset_bits: int  # d: bits of lanes 1..P-1's offsets from it
    input_chunks: int  # K_ih: the input part's words per row in memory
    hot: bool  # the input part is read as one (hot) chunk
    state_words: tuple[int, ...]  # S_r per row, in visiting order
    words: tuple[int, ...]  # the image, in address order
    first_columns: tuple[int, ...]  # the state columns of a step's first issue, per lane
    first_last: bool  # a step's first issue is the last state word of its row

    @property
    def width(self) -> int:
        return self.lanes * self.code_bits + self.column_bits + (self.lanes - 1) * self.offset_bits + 1

    @property
    def depth(self) -> int:
        return len(self.words)

    @property
    def input_reads(self) -> int:
        """Input words a row reads: one with hot reads, else all of them."""
        return 1 if self.hot else self.input_chunks

    @property
    def issues(self) -> int:
        """Issue cycles of a step: each row's state words and its input reads."""
        return sum(self.state_words) + len(self.state_words) * self.input_reads

    def unit_issues(self, gates: int) -> list[int]:
        """Issue cycles of each hidden unit (its ``gates`` consecutive rows)."""
        per_row = [s + self.input_reads for s in self.state_words]
        return [sum(per_row[u:u + gates]) for u in range(0, len(per_row), gates)]


#: the offset width taken is the narrowest whose state words are within this share of the fewest
OFFSET_SLACK = 0.03


def _deal(cols: list[int], lanes: int, reach: int) -> list[list[int]]:
    """A row's non-zero columns (ascending) dealt into words of at most ``lanes``, each spanning at
    most ``reach`` columns from its first; at least one (empty) word."""
    words: list[list[int]] = []
    for col in cols:
        if words and len(words[-1]) < lanes and col - words[-1][0] <= reach:
            words[-1].append(col)
        else:
            words.append([col])
    return words or [[]]


def sparse_layout(w_ih: WeightCodes, w_hh: WeightCodes, order: list[int], lanes: int, fmt: CodeFormat,
                  hot: bool) -> SparseLayout:
    """The layout of a layer's rows (``order``: visiting order of torch rows) with ``lanes``
    lanes, codes stored in ``fmt`` (the layer's common code format). The offset width ``d`` is
    the narrowest whose rows take at most :data:`OFFSET_SLACK` more state words than with full
    column offsets (a word is cut where its columns spread further than ``2**d - 1``)."""
    P, w, c = lanes, fmt.width, index_bits(w_hh.shape[1])
    nonzero = [np.flatnonzero(w_hh.q[r]).tolist() for r in order]
    dealt = {d: [_deal(cols, P, (1 << d) - 1) for cols in nonzero] for d in range(c + 1)}
    fewest = sum(len(words) for words in dealt[c])
    d = next(d for d in range(c + 1) if sum(len(words) for words in dealt[d]) <= (1 + OFFSET_SLACK) * fewest)
    rows = dealt[d]
    zero = _encode(np.zeros(1, dtype=np.int64), fmt)[0]
    K = _chunks(w_ih.shape[1], P)

    def pack(codes: list[int], columns: list[int], last: bool) -> int:
        """A word: its codes, then the next issue's base column, offsets and last-state flag."""
        word = 0
        for j, code in enumerate(codes):
            word |= code << (j * w)
        base = columns[0] if columns else 0
        word |= base << (P * w)
        for j, col in enumerate(columns[1:], 1):
            word |= (col - base) << (P * w + c + (j - 1) * d)
        return word | (int(last) << (P * w + c + (P - 1) * d))

    words = []
    for p, r in enumerate(order):
        state = rows[p]
        q = w_hh.q[r]
        for i, cols in enumerate(state):
            codes = _encode(q[cols], fmt) if cols else []
            codes += [zero] * (P - len(codes))
            nxt = state[i + 1] if i + 1 < len(state) else []
            words.append(pack(codes, nxt, i + 2 == len(state)))
        following = rows[(p + 1) % len(order)]  # the next row's first state word
        padded = np.zeros(K * P, dtype=np.int64)
        padded[:w_ih.shape[1]] = w_ih.q[r]
        codes = _encode(padded, fmt)
        for k in range(K):
            words.append(pack(codes[k * P:(k + 1) * P], following[0], len(following) == 1))
    first = rows[0][0]
    return SparseLayout(P, w, c, d, K, hot, tuple(len(s) for s in rows), tuple(words),
                        tuple(first + [first[0] if first else 0] * (P - len(first))), len(rows[0]) == 1)
