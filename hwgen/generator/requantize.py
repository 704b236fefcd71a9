"""The requantize stage in hardware: round half away from zero, then clamp (docs/arithmetic.md §2).

:func:`round_clamp` is the one rounding primitive of the generator (:func:`round_clamp_split` the
same over two cycles, for the folded rows' ends); the requantizer and every activation unit are
built from it, so they round exactly as :func:`hwgen.spec.fixedpoint.round_shift`.
Each step tracks the exact integer range of its result, so a comparator is only built where a value
can actually leave the clamp range, and a result whose range is a single integer becomes a constant.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Const, Module, Mux, Signal, Value

from ..spec.fixedpoint import round_shift
from .shapes import shape_for, shape_range


@dataclass(frozen=True)
class Bounded:
    """An Amaranth expression and the exact range ``[lo, hi]`` of the integers it can carry.

    Amaranth widens expressions conservatively; the range is what sizes the signal the expression
    is finally stored in.
    """

    value: Value
    lo: int
    hi: int

    @classmethod
    def of(cls, value) -> "Bounded":
        """A signal that may hold any value of its shape."""
        value = Value.cast(value)
        return cls(value, *shape_range(value.shape()))

    @classmethod
    def const(cls, v: int) -> "Bounded":
        return cls(Const(v), v, v)

    def shl(self, k: int) -> "Bounded":
        """Exact left shift (alignment to a finer binary point)."""
        return Bounded(self.value << k, self.lo << k, self.hi << k)

    def add_const(self, c: int) -> "Bounded":
        return Bounded(self.value + c, self.lo + c, self.hi + c)

    def wire(self, m: Module, name: str) -> "Bounded":
        """The value stored in a signal sized by its range, so that later uses share one circuit."""
        if isinstance(self.value, (Signal, Const)):
            return self
        sig = Signal(shape_for(self.lo, self.hi), name=name)
        m.d.comb += sig.eq(self.value)
        return Bounded(sig, self.lo, self.hi)


def round_clamp(m: Module, x: Bounded, shift: int, lo: int, hi: int, name: str = "rounded") -> Bounded:
    """``clamp(rshift(x, shift), lo, hi)``: the one rounding and one clamp of a stage.

    A right shift is an adder with the constant ``2**(shift-1) - 1`` and the *inverted* sign bit
    as carry-in, then dropping ``shift`` bits. A left shift is exact, so it is clamped on the narrow input
    (thresholds ``lo / 2**t`` and ``hi / 2**t``) and never builds the wide shifted value.
    """
    x = x.wire(m, f"{name}_in")
    if shift <= 0:
        return _shl_clamp(x, -shift, lo, hi)
    return _clamp_on_input(x, _round_right(x, shift).wire(m, name), shift, lo, hi)


def round_clamp_split(m: Module, x: Bounded, shift: int, lo: int, hi: int, name: str = "rounded") -> Bounded:
    """:func:`round_clamp` over two cycles: the result is one cycle later than ``round_clamp``'s,
    the same bits, and neither cycle holds a carry chain as long as ``x``.

    First cycle, registered: ``t = x >> shift`` (truncated to the result's width plus one: where
    the result is not clamped, ``t`` lies in ``[lo - 1, hi]``), the rounding carry ``c`` of the
    low ``shift`` bits (round half away from zero: ``low >= 2**(shift-1) + [x < 0]``) and ``t``
    compared with ``hi`` and ``lo - 1``. Second: ``t + c``, clamped where ``t + c > hi``
    (``t > hi``, or ``t == hi`` and ``c``) or ``t + c < lo`` (``t < lo - 1``, or ``t == lo - 1``
    and not ``c``). Rounding is exact and the clamp decided on the full-width ``t``, so the result
    equals :func:`hwgen.spec.fixedpoint.round_shift` clamped, bit for bit."""
    x = x.wire(m, f"{name}_in")
    if shift <= 0:
        b = _shl_clamp(x, -shift, lo, hi)
        return b if isinstance(b.value, Const) else registered(m, b, f"{name}_q")
    r = _round_right(x, shift)
    nlo, nhi = min(max(r.lo, lo), hi), max(min(r.hi, hi), lo)
    if nlo == nhi:
        return Bounded.const(nlo)
    neg = x.value[-1] if x.value.shape().signed else Const(0, 1)
    t = x.value >> shift
    t_lo, t_hi = x.lo >> shift, x.hi >> shift
    low = x.value[:shift]
    carry = Signal(name=f"{name}_carry", reset_less=True)
    narrow = Signal(shape_for(min(lo - 1, 0), max(hi, 1)), name=f"{name}_t", reset_less=True)
    m.d.sync += [carry.eq(low >= (1 << (shift - 1)) + neg), narrow.eq(t)]
    value = Bounded(narrow + carry, nlo, nhi).value
    if r.hi > hi:
        gt, eq = Signal(name=f"{name}_gt", reset_less=True), Signal(name=f"{name}_eqhi", reset_less=True)
        m.d.sync += [gt.eq(t > hi) if t_hi > hi else gt.eq(0), eq.eq(t == hi)]
        value = Mux(gt | (eq & carry), hi, value)
    if r.lo < lo:
        lt, eq = Signal(name=f"{name}_lt", reset_less=True), Signal(name=f"{name}_eqlo", reset_less=True)
        m.d.sync += [lt.eq(t < lo - 1) if t_lo < lo - 1 else lt.eq(0), eq.eq(t == lo - 1)]
        value = Mux(lt | (eq & ~carry), lo, value)
    return Bounded(value, nlo, nhi)


def registered(m: Module, b: Bounded, name: str) -> Bounded:
    """``b`` one cycle later, in a register sized by its range."""
    sig = Signal(shape_for(b.lo, b.hi), name=name, reset_less=True)
    m.d.sync += sig.eq(b.value)
    return Bounded(sig, b.lo, b.hi)


def _round_right(x: Bounded, s: int) -> Bounded:
    rlo, rhi = (int(round_shift(v, s)) for v in (x.lo, x.hi))
    if rlo == rhi:  # a shift beyond every value's magnitude, for instance
        return Bounded.const(rlo)
    # x + 2**(s-1) - [x < 0] == x + (2**(s-1) - 1) + [x >= 0]: the inverted sign bit is the carry-in.
    carry = ~x.value[-1] if x.value.shape().signed else 1
    return Bounded((x.value + ((1 << (s - 1)) - 1) + carry) >> s, rlo, rhi)


def _clamp(x: Bounded, lo: int, hi: int) -> Bounded:
    nlo, nhi = min(max(x.lo, lo), hi), max(min(x.hi, hi), lo)
    if nlo == nhi:
        return Bounded.const(nlo)
    v = x.value
    if x.hi > hi:
        v = Mux(x.value > hi, hi, v)
    if x.lo < lo:
        v = Mux(x.value < lo, lo, v)
    return Bounded(v, nlo, nhi)


def _clamp_on_input(x: Bounded, r: Bounded, s: int, lo: int, hi: int) -> Bounded:
    """``clamp(r, lo, hi)`` with ``r`` = x rounded: rounding is monotone, so ``r > hi`` exactly
    when ``x`` reaches the first input that rounds above ``hi``; comparing ``x`` with that
    threshold runs beside the rounding adder instead of after it (half the path)."""
    nlo, nhi = min(max(r.lo, lo), hi), max(min(r.hi, hi), lo)
    if nlo == nhi:
        return Bounded.const(nlo)
    v = r.value
    if r.hi > hi:
        v = Mux(x.value >= _first(x.lo, x.hi, lambda t: round_shift(t, s) > hi), hi, v)
    if r.lo < lo:
        v = Mux(x.value < _first(x.lo, x.hi, lambda t: round_shift(t, s) >= lo), lo, v)
    return Bounded(v, nlo, nhi)


def _first(a: int, b: int, pred) -> int:
    """The smallest ``t`` in ``[a, b]`` where the monotone ``pred`` holds (it holds at ``b``)."""
    while a < b:
        mid = (a + b) // 2
        if pred(mid):
            b = mid
        else:
            a = mid + 1
    return a


def _shl_clamp(x: Bounded, t: int, lo: int, hi: int) -> Bounded:
    nlo, nhi = (min(max(v << t, lo), hi) for v in (x.lo, x.hi))
    if nlo == nhi:
        return Bounded.const(nlo)
    lo_in, hi_in = -((-lo) >> t), hi >> t  # ceil(lo / 2**t), floor(hi / 2**t)
    v = x.value << t
    if x.hi > hi_in:
        v = Mux(x.value > hi_in, hi, v)
    if x.lo < lo_in:
        v = Mux(x.value < lo_in, lo, v)
    return Bounded(v, nlo, nhi)


def check_registered(registered, what: str) -> bool:
    if not isinstance(registered, bool):
        raise TypeError(f"{what} registered must be True or False, not {registered!r}")
    return registered
