"""Exact fixed-point values in hardware: an Amaranth expression paired with its golden :class:`Fx`.

The golden model computes every signal as an :class:`~hwgen.spec.fixedpoint.Fx` (binary point and
worst-case range). :class:`Exact` carries the same ``Fx`` next to the hardware expression and
combines both with the same operators (``+``, ``-``, ``*`` align to the larger binary point, as
docs/arithmetic.md §2 says), so a datapath written as ``(ai + r * ghn).requantize(m, P)`` gets its
binary points and widths from the very code that computes the golden values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module, Signal, Value

from ..spec.fixedpoint import Fmt, Fx
from .requantize import Bounded, round_clamp, round_clamp_split
from .shapes import fmt_shape, shape_for


def fx_range(frac: int, lo: int, hi: int) -> Fx:
    """An Fx that holds only a binary point and a range (no values)."""
    return Fx(np.zeros(0, dtype=np.int64), int(frac), int(lo), int(hi))


def fx_of(fmt: Fmt) -> Fx:
    """A register of format ``fmt``: any value of the format."""
    return Fx.of(np.zeros(0, dtype=np.int64), fmt)


def bounds_only(x: Fx) -> Fx:
    """``x`` without its values (golden bounds computed on example data keep theirs)."""
    return fx_range(x.frac, x.lo, x.hi)


@dataclass(frozen=True)
class Exact:
    """An exact value: ``value`` (an Amaranth expression) stands for ``value * 2**-fx.frac``
    and always lies in ``[fx.lo, fx.hi]``."""

    value: Value
    fx: Fx

    @property
    def frac(self) -> int:
        return self.fx.frac

    def aligned(self, frac: int) -> Value:
        """The same number at the finer binary point ``frac`` (an exact left shift)."""
        if frac < self.frac:
            raise ValueError(f"cannot align a value at binary point {self.frac} to the coarser {frac}")
        return self.value << (frac - self.frac) if frac > self.frac else self.value

    def __add__(self, other: "Exact") -> "Exact":
        fx = self.fx + other.fx
        return Exact(self.aligned(fx.frac) + other.aligned(fx.frac), fx)

    def __sub__(self, other: "Exact") -> "Exact":
        fx = self.fx - other.fx
        return Exact(self.aligned(fx.frac) - other.aligned(fx.frac), fx)

    def __mul__(self, other: "Exact") -> "Exact":
        return Exact(self.value * other.value, self.fx * other.fx)

    def requantize(self, m: Module, fmt: Fmt, name: str, split: bool = False) -> "Exact":
        """``RQ(self -> fmt)``: the one rounding and saturation of a stage (combinational; with
        ``split``, over two cycles, one cycle later, about half the carry chain in each:
        requantize.round_clamp_split)."""
        rq = round_clamp_split if split else round_clamp
        b = rq(m, Bounded(self.value, self.fx.lo, self.fx.hi), self.frac - fmt.frac, fmt.min_int, fmt.max_int, name)
        return Exact(b.value, bounds_only(self.fx.requantize(fmt)))

    def signal(self, name: str, fmt: Fmt | None = None) -> tuple[Signal, "Exact"]:
        """A signal for this value (format ``fmt``'s shape, else sized by the range) and the
        Exact that reads it; the caller drives the signal."""
        return register_for(self.fx, name, fmt)

    def wire(self, m: Module, name: str) -> "Exact":
        """The value in a combinational signal sized by its range (shared by later uses)."""
        sig, out = self.signal(name)
        m.d.comb += sig.eq(self.value)
        return out


def register_for(fx: Fx, name: str, fmt: Fmt | None = None) -> tuple[Signal, Exact]:
    """A signal holding a value of range ``fx`` (format ``fmt``'s shape, else sized by the
    range), and the Exact that reads it."""
    sig = Signal(fmt_shape(fmt) if fmt is not None else shape_for(fx.lo, fx.hi), name=name)
    return sig, Exact(sig, fx)


__all__ = ["Exact", "bounds_only", "fx_of", "fx_range", "register_for"]
