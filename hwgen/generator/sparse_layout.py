"""Zero-skipping state reads: the code memory of a recurrent layer whose ``W_hh`` stores only its
non-zero codes, computed in plain Python from the codes (no Amaranth).

A dense row reads every chunk of ``W_hh`` (``⌈H/P⌉`` words of P codes), zeros and all. Here a row
stores its non-zero codes only, each with the column it multiplies, P to a word, so a row costs
``S_r = max(1, ⌈nnz_r / P⌉)`` issue cycles instead of ``⌈H/P⌉``. Each lane reads the state from its
own copy of ``h`` (:class:`hwgen.generator.vectors.LaneCopies`), so a lane can take any column and a
row's non-zeros are dealt to the lanes in turn: lanes are never idle but in a row's last word, and
rows of different density do not stall each other (the address simply runs on).

A row's words: its ``S_r`` state words, then its input part as today (every chunk of ``W_ih``, or
with hot-column reads the one chunk the token needs, read from among them). One word is::

    bits 0 .. P·w - 1            P codes (lane j's at j·w): this word's products
    bits P·w .. P·(w + c) - 1    P column indices (c bits each): the NEXT issue's state reads
    bit  P·(w + c)               the NEXT issue is the last state word of its row

The indices and the flag describe the issue after this one, because the state copies must be
addressed in the cycle the word is issued, when the word itself is not yet out of the memory: the
previous word is (issues of a step are consecutive). The input words of a row carry the next row's
first indices and flag (all of them: with hot reads any one may be the one read); a step's first
issue takes them from constants (:attr:`SparseLayout.first_indices`, :attr:`first_last`).
Padding lanes get code 0 and index 0.
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
    column_bits: int  # c: bits of one state column index
    input_chunks: int  # K_ih: the input part's words per row in memory
    hot: bool  # the input part is read as one (hot) chunk
    state_words: tuple[int, ...]  # S_r per row, in visiting order
    words: tuple[int, ...]  # the image, in address order
    first_indices: tuple[int, ...]  # the state columns of a step's first issue, per lane
    first_last: bool  # a step's first issue is the last state word of its row

    @property
    def width(self) -> int:
        return self.lanes * (self.code_bits + self.column_bits) + 1

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


def sparse_layout(w_ih: WeightCodes, w_hh: WeightCodes, order: list[int], lanes: int, fmt: CodeFormat,
                  hot: bool) -> SparseLayout:
    """The layout of a layer's rows (``order``: visiting order of torch rows) with ``lanes``
    lanes, codes stored in ``fmt`` (the layer's common code format)."""
    P, w, c = lanes, fmt.width, index_bits(w_hh.shape[1])
    zero = _encode(np.zeros(1, dtype=np.int64), fmt)[0]
    # Each row's state entries (column, code word), dealt P to a word; the last word padded.
    rows = []
    for r in order:
        cols = np.flatnonzero(w_hh.q[r])
        codes = _encode(w_hh.q[r][cols], fmt) if len(cols) else []
        n = max(1, _chunks(len(cols), P))
        entries = list(zip(cols.tolist(), codes)) + [(0, zero)] * (n * P - len(cols))
        rows.append([entries[i * P:(i + 1) * P] for i in range(n)])
    K = _chunks(w_ih.shape[1], P)

    def pack(codes: list[int], indices: list[int], last: bool) -> int:
        word = 0
        for j in range(P):
            word |= codes[j] << (j * w)
            word |= indices[j] << (P * w + j * c)
        return word | (int(last) << (P * (w + c)))

    words = []
    for p, r in enumerate(order):
        state = rows[p]
        for i, entries in enumerate(state):
            nxt = state[i + 1] if i + 1 < len(state) else None
            words.append(pack([e[1] for e in entries], [e[0] for e in nxt] if nxt else [0] * P,
                              nxt is not None and i + 2 == len(state)))
        following = rows[(p + 1) % len(order)]  # the next row's first state word
        padded = np.zeros(K * P, dtype=np.int64)
        padded[:w_ih.shape[1]] = w_ih.q[r]
        codes = _encode(padded, fmt)
        for k in range(K):
            words.append(pack(codes[k * P:(k + 1) * P], [e[0] for e in following[0]], len(following) == 1))
    return SparseLayout(P, w, c, K, hot, tuple(len(s) for s in rows), tuple(words),
                        tuple(e[0] for e in rows[0][0]), len(rows[0]) == 1)
