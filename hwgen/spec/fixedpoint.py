"""The one arithmetic module: fixed-point formats, rounding, saturation, shifts and bounds.

Everything that rounds or saturates in hwgen goes through here: the golden model calls these
functions, the generator derives its widths from the same formats and bounds, and training's
fake quantization uses :func:`round_half_away`. docs/arithmetic.md is the contract in words.

Values are integers ``v`` that stand for ``v * 2**-frac``. NumPy arrays are int64; callers keep
magnitudes below ``2**62`` (the IR validates that, see :data:`SAFE_BITS`) so that nothing here can
overflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: Largest magnitude, in bits, that any intermediate value may reach in the golden model. int64
#: holds 63 magnitude bits; one more is kept free so that rounding offsets cannot overflow.
SAFE_BITS = 62

#: Largest magnitude, in bits, for which a float64 dot product of integers is exact.
FLOAT64_EXACT_BITS = 53

#: Widths of a register-level signal must lie in this range.
MIN_WIDTH, MAX_WIDTH = 2, 32

_FMT_RE = re.compile(r"^([su])(\d+)\.(-?\d+)$")


class FormatError(ValueError):
    """A fixed-point format or a value that does not fit one."""


@dataclass(frozen=True, order=True)
class Fmt:
    """A fixed-point format: ``width`` bits in total, ``frac`` of them fractional.

    ``signed`` formats are two's complement, range ``[-2**(width-1), 2**(width-1) - 1]``; unsigned
    ones ``[0, 2**width - 1]``. ``frac`` may exceed ``width`` or be negative (a coarse format).
    Written as ``s16.14`` (signed, 16 bits, 14 fractional) in files and messages.
    """

    width: int
    frac: int
    signed: bool = True

    def __post_init__(self):
        if not isinstance(self.width, int) or isinstance(self.width, bool):
            raise FormatError(f"format width must be an integer, not {self.width!r}")
        if not isinstance(self.frac, int) or isinstance(self.frac, bool):
            raise FormatError(f"format frac must be an integer, not {self.frac!r}")
        if not MIN_WIDTH <= self.width <= MAX_WIDTH:
            raise FormatError(
                f"format width {self.width} is outside [{MIN_WIDTH}, {MAX_WIDTH}] bits"
            )
        if abs(self.frac) > 64:
            raise FormatError(f"format frac {self.frac} is outside [-64, 64]")

    @classmethod
    def parse(cls, text: str) -> "Fmt":
        """Read ``s16.14`` / ``u8.8`` notation."""
        m = _FMT_RE.match(str(text).strip())
        if not m:
            raise FormatError(
                f"cannot read fixed-point format {text!r}: expected e.g. 's16.14' "
                "(s/u for signed/unsigned, total bits, '.', fractional bits)"
            )
        return cls(int(m.group(2)), int(m.group(3)), m.group(1) == "s")

    def __str__(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.width}.{self.frac}"

    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def one(self) -> int:
        """The integer that stands for 1.0 (it need not be representable)."""
        return 1 << self.frac if self.frac >= 0 else 0

    def holds_one(self, negative: bool = False) -> bool:
        """Whether 1.0 (and -1.0 when ``negative``) is exactly representable."""
        if self.frac < 0 or self.max_int < self.one:
            return False
        return not negative or self.min_int <= -self.one

    def contains(self, ints) -> bool:
        a = np.asarray(ints)
        return a.size == 0 or bool((a.min() >= self.min_int) and (a.max() <= self.max_int))

    def saturate(self, ints) -> np.ndarray:
        return saturate(ints, self)

    def to_float(self, ints) -> np.ndarray:
        return np.asarray(ints, dtype=np.float64) * 2.0 ** -self.frac

    def from_float(self, values) -> np.ndarray:
        """Quantize reals: round half away from zero to this format's grid, then saturate."""
        v = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise FormatError(f"cannot quantize non-finite values to {self}")
        # Clamp just outside the range first, so that huge values cannot wrap in int64.
        scaled = np.clip(np.ldexp(v, self.frac), self.min_int - 1.0, self.max_int + 1.0)
        return saturate(round_half_away(scaled), self)


def round_half_away(x) -> np.ndarray:
    """Round reals to integers, halves away from zero (the paper's reference rounding).

    Exact for every double: ``|x| - floor(|x|)`` is computed without error, unlike ``|x| + 0.5``
    (which rounds 0.49999999999999994 up). Results beyond int64 are the caller's to avoid.
    """
    a = np.abs(np.asarray(x, dtype=np.float64))
    r = np.floor(a)
    r = r + (a - r >= 0.5)
    return (np.sign(x) * r).astype(np.int64)


def round_shift(x, shift: int) -> np.ndarray:
    """``x * 2**-shift`` rounded to an integer, halves away from zero.

    ``shift <= 0`` is an exact left shift. A right shift beyond the magnitude of every value
    (``shift > SAFE_BITS``) gives zeros, which is the exact answer for ``|x| < 2**62``.
    Implemented as ``(x + 2**(shift-1) - [x < 0]) >> shift`` with an arithmetic shift; hardware
    adds ``2**(shift-1) - 1`` with the inverted sign bit ``[x >= 0]`` as carry-in, the same sum.
    """
    x = np.asarray(x, dtype=np.int64)
    if shift <= 0:
        return np.left_shift(x, -shift)
    if shift > SAFE_BITS:
        return np.zeros_like(x)
    half = np.int64(1) << np.int64(shift - 1)
    return (x + half - (x < 0)) >> np.int64(shift)


def requantize_int(x: int, frac: int, fmt: Fmt) -> int:
    """:func:`requantize` of one Python integer (the bounds of a signal), in exact integer
    arithmetic: the same rounding and saturation without NumPy's per-call cost, which dominated
    the golden model at small batches. Tested equal to :func:`requantize` value for value."""
    shift = frac - fmt.frac
    if shift < 0:
        limit = (max(-fmt.min_int, fmt.max_int) >> -shift) + 1
        x = min(max(x, -limit), limit) << min(-shift, SAFE_BITS)
    elif shift > 0:
        x = (x + (1 << (shift - 1)) - (x < 0)) >> shift
    return min(max(x, fmt.min_int), fmt.max_int)


def saturate(x, fmt: Fmt) -> np.ndarray:
    """Clamp integers to the range of ``fmt`` (never wrap)."""
    return np.clip(np.asarray(x, dtype=np.int64), fmt.min_int, fmt.max_int)


def requantize(x, frac: int, fmt: Fmt) -> np.ndarray:
    """The one rounding and one saturation of a stage: exact value at ``frac`` into ``fmt``."""
    shift = frac - fmt.frac
    if shift < 0:
        # Into a finer format: clamp before the left shift so that it cannot overflow int64;
        # anything beyond the clamp saturates either way.
        # Beyond 62 bits of shift the clamped values are -1, 0, 1, and 62 already saturates.
        limit = (max(-fmt.min_int, fmt.max_int) >> -shift) + 1
        x = np.clip(np.asarray(x, dtype=np.int64), -limit, limit)
        shift = max(shift, -SAFE_BITS)
    return saturate(round_shift(x, shift), fmt)


def align(x, frac: int, to_frac: int) -> np.ndarray:
    """Re-express ``x`` (at ``frac``) at the finer ``to_frac``: an exact left shift."""
    if to_frac < frac:
        raise FormatError(f"align would lose bits: frac {frac} -> {to_frac}")
    return np.left_shift(np.asarray(x, dtype=np.int64), to_frac - frac)


def bits_for(max_abs: int, signed: bool = True) -> int:
    """Width that holds every integer in ``[-max_abs, max_abs]`` (or ``[0, max_abs]``)."""
    max_abs = int(max_abs)
    return max_abs.bit_length() + (1 if signed else 0)


class BoundError(FormatError):
    """An intermediate value could grow beyond what the exact arithmetic supports."""


@dataclass(frozen=True, eq=False)
class Fx:
    """Integers ``v`` standing for ``v * 2**-frac``, with ``[lo, hi]``: the range of ``v`` over
    every input the formats allow (derived from formats and weights, never from data).

    The golden model computes with these, so every signal's width comes from the same code that
    computes its value; the generator reads widths off :attr:`width`.
    """

    v: np.ndarray
    frac: int
    lo: int
    hi: int

    def __post_init__(self):
        if self.bound.bit_length() > SAFE_BITS:
            raise BoundError(
                f"a value at frac {self.frac} could reach magnitude {self.bound} "
                f"(about 2**{self.bound.bit_length() - 1}); the exact arithmetic holds magnitudes "
                f"below 2**{SAFE_BITS}; use narrower formats or a smaller exponent window"
            )

    @classmethod
    def of(cls, v, fmt: Fmt) -> "Fx":
        """A register of format ``fmt``: any value of the format may be in it."""
        return cls(np.asarray(v, dtype=np.int64), fmt.frac, fmt.min_int, fmt.max_int)

    @classmethod
    def const(cls, v, frac: int) -> "Fx":
        v = np.asarray(v, dtype=np.int64)
        return cls(v, frac, int(v.min()) if v.size else 0, int(v.max()) if v.size else 0)

    @property
    def bound(self) -> int:
        """Largest magnitude the value can have."""
        return max(-self.lo, self.hi)

    @property
    def width(self) -> int:
        """Smallest two's-complement width that holds every value in ``[lo, hi]``."""
        return max(MIN_WIDTH, 1 + max(self.hi.bit_length(), (-self.lo - 1).bit_length() if self.lo < 0 else 0))

    def at(self, frac: int) -> "Fx":
        """The same value at a finer binary point (exact)."""
        k = frac - self.frac
        if k == 0:
            return self
        return Fx(align(self.v, self.frac, frac), frac, self.lo << k, self.hi << k)

    def __add__(self, other: "Fx") -> "Fx":
        f = max(self.frac, other.frac)
        a, b = self.at(f), other.at(f)
        return Fx(a.v + b.v, f, a.lo + b.lo, a.hi + b.hi)

    def __sub__(self, other: "Fx") -> "Fx":
        f = max(self.frac, other.frac)
        a, b = self.at(f), other.at(f)
        return Fx(a.v - b.v, f, a.lo - b.hi, a.hi - b.lo)

    def __mul__(self, other: "Fx") -> "Fx":
        corners = [x * y for x in (self.lo, self.hi) for y in (other.lo, other.hi)]
        return Fx(self.v * other.v, self.frac + other.frac, min(corners), max(corners))

    def __getitem__(self, index) -> "Fx":
        return Fx(self.v[index], self.frac, self.lo, self.hi)

    def requantize(self, fmt: Fmt) -> "Fx":
        """One rounding (half away from zero) and one saturation into ``fmt``."""
        lo, hi = (requantize_int(b, self.frac, fmt) for b in (self.lo, self.hi))
        return Fx(requantize(self.v, self.frac, fmt), fmt.frac, lo, hi)

    def clamp(self, lo: int, hi: int) -> "Fx":
        """Values clamped to ``[lo, hi]`` (the activations' exact clamps)."""
        return Fx(np.clip(self.v, lo, hi), self.frac, min(max(self.lo, lo), hi), max(min(self.hi, hi), lo))

