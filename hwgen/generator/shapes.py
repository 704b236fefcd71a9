"""Shapes and parameter checks shared by the generator's components.

Every signal width comes from an integer range ``[lo, hi]`` through :attr:`hwgen.spec.fixedpoint.Fx.width`,
the same code that reports widths in ``hwgen inspect``, so hardware and golden model cannot disagree
about how wide a signal is.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Shape, signed, unsigned

from ..spec.fixedpoint import SAFE_BITS, Fmt, Fx

#: Largest |frac| a component accepts (the same limit as Fmt's).
FRAC_LIMIT = 64


def interval(lo: int, hi: int) -> Fx:
    """An Fx holding only a range (no values): the carrier of hwgen's interval arithmetic."""
    return Fx(np.zeros(0, dtype=np.int64), 0, int(lo), int(hi))


def shape_for(lo: int, hi: int) -> Shape:
    """The signed shape of width :attr:`Fx.width` for values in ``[lo, hi]``."""
    return signed(interval(lo, hi).width)


def fmt_shape(fmt: Fmt) -> Shape:
    """The shape of a register in format ``fmt``."""
    return signed(fmt.width) if fmt.signed else unsigned(fmt.width)


def shape_range(shape: Shape) -> tuple[int, int]:
    """Smallest and largest integer a shape holds."""
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def check_shape(shape, what: str) -> Shape:
    """An explicit ``signed(n)``/``unsigned(n)`` whose values stay within hwgen's exact range.

    Plain ints are refused: Amaranth reads ``12`` as ``unsigned(12)``, which is rarely meant here.
    """
    if not isinstance(shape, Shape):
        raise TypeError(f"{what} must be an Amaranth shape such as signed(12), not {shape!r}")
    lo, hi = shape_range(shape)
    if max(-lo, hi).bit_length() > SAFE_BITS:
        raise ValueError(
            f"{what} {shape!r} reaches magnitude 2**{max(-lo, hi).bit_length() - 1} or more; hwgen's "
            f"exact arithmetic stays below 2**{SAFE_BITS} (at most signed({SAFE_BITS}) or unsigned({SAFE_BITS}))"
        )
    if shape.width < 1:
        raise ValueError(f"{what} {shape!r} has no bits")
    return shape


def check_frac(frac, what: str) -> int:
    if not isinstance(frac, (int, np.integer)) or isinstance(frac, bool):
        raise TypeError(f"{what} must be an integer binary point, not {frac!r}")
    if abs(int(frac)) > FRAC_LIMIT:
        raise ValueError(f"{what} {frac} is outside [-{FRAC_LIMIT}, {FRAC_LIMIT}]")
    return int(frac)


def check_fmt(fmt, what: str) -> Fmt:
    if not isinstance(fmt, Fmt):
        raise TypeError(f"{what} must be a hwgen.spec.fixedpoint.Fmt such as Fmt.parse('s16.14'), not {fmt!r}")
    return fmt
