"""How weight codes are stored in memory, and what each kind's codes can be.

One unsigned word per weight, ``code_bits(kind, span)`` bits wide (docs/arithmetic.md §3):

=========  ======================  ============================================================
kind       bits                    layout (bit 0 is the least significant)
=========  ======================  ============================================================
binary     1                       ``1`` means ``q = -1``, ``0`` means ``q = +1``
ternary    2                       bit 1: negative, bit 0: nonzero (``00`` 0, ``01`` +1, ``11`` -1)
pow2       1 + bitlength(span+1)   top bit: negative; low bits: index ``0`` for ``q = 0``,
                                   ``k + 1`` for ``|q| = 2**k``
fixed      span + 1                ``q`` in two's complement
=========  ======================  ============================================================

Ternary's layout is also ``q`` in 2-bit two's complement. Words :func:`encode_codes` never writes
(ternary ``10``, pow2 indices above ``span + 1``, fixed ``-2**span``) are outside the contract:
:func:`decode_codes` refuses them and the hardware's result for them is unspecified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spec.ir import CodeKind, WeightCodes


@dataclass(frozen=True)
class CodeFormat:
    """A code kind and its span, validated with the IR's own rules (:class:`WeightCodes`)."""

    kind: CodeKind
    span: int = 0

    def __post_init__(self):
        # q = 1 is a valid code of every kind, so only kind and span are judged here.
        w = WeightCodes(self.kind, np.ones((1, 1), dtype=np.int64), span=self.span)
        object.__setattr__(self, "kind", w.kind)
        object.__setattr__(self, "span", w.span)

    @classmethod
    def of(cls, w: WeightCodes) -> "CodeFormat":
        return cls(w.kind, w.span)

    @property
    def width(self) -> int:
        """Bits per stored code."""
        if self.kind is CodeKind.BINARY:
            return 1
        if self.kind is CodeKind.TERNARY:
            return 2
        if self.kind is CodeKind.POW2:
            return 1 + self.index_bits
        return self.span + 1

    @property
    def index_bits(self) -> int:
        """pow2 only: bits of the exponent index (0 = zero, k + 1 = 2**k)."""
        return (self.span + 1).bit_length()

    @property
    def q_range(self) -> tuple[int, int]:
        """Smallest and largest ``q`` of this kind: the bounds that size a lane's product."""
        if self.kind is CodeKind.POW2:
            return -(1 << self.span), 1 << self.span
        if self.kind is CodeKind.FIXED:
            return -((1 << self.span) - 1), (1 << self.span) - 1
        return -1, 1

    def values(self) -> np.ndarray:
        """Every valid ``q`` of this kind, ascending (for exhaustive tests)."""
        lo, hi = self.q_range
        if self.kind is CodeKind.BINARY:
            return np.array([-1, 1], dtype=np.int64)
        if self.kind is CodeKind.POW2:
            mags = [1 << k for k in range(self.span + 1)]
            return np.array(sorted([-m for m in mags] + [0] + mags), dtype=np.int64)
        return np.arange(lo, hi + 1, dtype=np.int64)


def code_width(w: WeightCodes) -> int:
    """Bits per stored code of ``w``."""
    return CodeFormat.of(w).width


def encode_codes(w: WeightCodes) -> np.ndarray:
    """The memory words of ``w.q`` (same shape, unsigned), in the layout of this module's table."""
    return encode_q(w.q, CodeFormat.of(w))


def encode_q(q, fmt: CodeFormat) -> np.ndarray:
    q = np.asarray(q, dtype=np.int64)
    neg = (q < 0).astype(np.int64)
    if fmt.kind is CodeKind.BINARY:
        words = neg
    elif fmt.kind is CodeKind.TERNARY:
        words = (neg << 1) | (q != 0)
    elif fmt.kind is CodeKind.POW2:
        mag = np.abs(q)
        index = np.where(mag == 0, 0, np.log2(np.maximum(mag, 1)).astype(np.int64) + 1)
        words = (neg << fmt.index_bits) | index
    else:
        words = q & ((1 << fmt.width) - 1)
    return words.astype(np.uint32)


def decode_codes(words, fmt: CodeFormat) -> np.ndarray:
    """The ``q`` each word stands for: the decoder the hardware implements, in NumPy."""
    words = np.asarray(words, dtype=np.int64)
    if np.any((words < 0) | (words >= 1 << fmt.width)):
        raise ValueError(f"{fmt.kind.value} code words must lie in [0, {(1 << fmt.width) - 1}]")
    if fmt.kind is CodeKind.BINARY:
        q, bad = 1 - 2 * words, np.zeros(words.shape, bool)
    elif fmt.kind is CodeKind.TERNARY:
        q, bad = (words & 1) * (1 - (words & 2)), words == 2
    elif fmt.kind is CodeKind.POW2:
        index, neg = words & ((1 << fmt.index_bits) - 1), words >> fmt.index_bits
        bad = index > fmt.span + 1
        mag = np.where(index == 0, 0, np.left_shift(1, np.clip(index - 1, 0, 62)))
        q = np.where(neg == 1, -mag, mag)
    else:
        q = np.where(words >> fmt.span, words - (1 << fmt.width), words)
        bad = q == -(1 << fmt.span)
    if np.any(bad):
        word = int(words[bad].flat[0])
        raise ValueError(f"{fmt.kind.value} code word {word:#x} is never written by encode_codes")
    return q.astype(np.int64)
