"""Lanes: apply stored weight codes to inputs with shifts and adds (or, where the device has them, one
hard multiplier a lane), and the one adder tree that sums them.

:func:`apply_code` decodes one code word (layout in :mod:`hwgen.generator.codes`) and forms
``q * x`` in logic; :func:`dsp_pow2_product` and :func:`dsp_fixed_product` form it on a hard multiplier
(:func:`takes_dsp` says where); :func:`lane_sum` is P lanes, a register rank and a registered adder
tree: the inner loop of the folded datapath (:class:`hwgen.generator.matvec.FoldedRows`).
:func:`tree` is the adder tree of every sum in the generator (the lanes', the unrolled rows', the
Booth terms'); :func:`booth_digit` the radix-4 Booth digit of both the fixed-code lanes and the
serial gate products. Every signal is sized from hwgen's interval arithmetic
(:class:`hwgen.spec.fixedpoint.Fx`), so a sum is as wide as ``P * max|x| * max|q|`` needs and never
wraps.
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Const, Module, Mux, Signal, Value

from ..spec.fixedpoint import Fx
from ..spec.ir import CodeKind
from .code_memory import BaselineFormat
from .codes import CodeFormat
from .requantize import Bounded, registered
from .shapes import interval, shape_for, shape_range


def tree(nodes: list[Bounded], m: Module | None = None, name: str = "tree") -> Bounded:
    """Balanced adder tree with exact ranges (an odd node passes on to the next level); given
    ``m``, a register after every level."""
    if not nodes:
        return Bounded.const(0)
    level = 0
    while len(nodes) > 1:
        nxt = []
        for i in range(0, len(nodes), 2):
            if i + 1 == len(nodes):
                nxt.append(nodes[i])
            else:
                a, b = nodes[i], nodes[i + 1]
                s = interval(a.lo, a.hi) + interval(b.lo, b.hi)
                nxt.append(Bounded(a.value + b.value, s.lo, s.hi))
        nodes = nxt if m is None else [registered(m, n, f"{name}{level}_{i}") for i, n in enumerate(nxt)]
        level += 1
    return nodes[0]


def tree_ranks(lanes: int) -> int:
    """Register ranks of :func:`lane_sum`: the products, then each level of the tree."""
    return 1 + (lanes - 1).bit_length()


#: Operand bits of a hard multiplier (the UP5K's SB_MAC16 multiplies 16 x 16, signed).
DSP_BITS = 16
#: Fine shifts a DSP lane leaves to its multiplier: ``2**b`` for ``b`` up to this fits a signed
#: 16-bit operand, and the rest of the shift is a multiple of ``FINE + 1``.
FINE = DSP_BITS - 2


def takes_dsp(fmt: CodeFormat | BaselineFormat, lo: int, hi: int) -> bool:
    """Whether lanes of ``fmt`` over inputs in ``[lo, hi]`` can multiply on one hard multiplier
    each: power-of-two codes of at most two fine-shift spans (:func:`dsp_pow2_product`: their
    shifter and negation are most of a lane in logic) and fixed-point codes of at most 16 bits
    (:func:`dsp_fixed_product`: a Booth multiplier in logic otherwise), over inputs of at most 16
    bits. Binary and ternary codes are a multiplexer each: a multiplier would save nothing."""
    if not isinstance(fmt, CodeFormat) or shape_for(lo, hi).width > DSP_BITS:
        return False
    if fmt.kind is CodeKind.POW2:
        return fmt.span <= 2 * FINE + 1
    return fmt.kind is CodeKind.FIXED and fmt.width <= DSP_BITS


def lane_product(m: Module, fmt: CodeFormat | BaselineFormat, code: Value, x: Value, lo: int, hi: int,
                 name: str, dsp: bool = False) -> Bounded:
    """``q * x`` for one lane, ``x`` in ``[lo, hi]``: shifts and adds for a code (on a hard
    multiplier with ``dsp``, see :func:`takes_dsp`), a multiply for a baseline integer (the
    cost reference)."""
    if isinstance(fmt, BaselineFormat):
        bits = fmt.width
        b = interval(-(1 << (bits - 1)), (1 << (bits - 1)) - 1) * interval(lo, hi)
        return Bounded(code.as_signed() * x, b.lo, b.hi)
    b = product_bounds(fmt, shape_for(lo, hi))
    if not dsp:
        return Bounded(apply_code(m, fmt, code, x, name), b.lo, b.hi)
    if fmt.kind is CodeKind.FIXED:
        return Bounded(dsp_fixed_product(m, code, x, b, name), b.lo, b.hi)
    return Bounded(dsp_pow2_product(m, fmt, code, x, name), b.lo, b.hi)


def lane_sum(m: Module, fmt: CodeFormat | BaselineFormat, word: Value, lanes: int, x: Callable[[int], Value],
             lo: int, hi: int, name: str, dsp: bool = False) -> Bounded:
    """``sum_j q_j * x(j)`` over ``lanes`` lanes, ``tree_ranks(lanes)`` cycles later: code ``j``
    is bits ``j * w`` up of ``word``, ``x(j)`` (in ``[lo, hi]``) makes lane ``j``'s input; each
    product is registered, then each level of the tree. ``dsp``: each lane's product on a hard
    multiplier (only where :func:`takes_dsp`)."""
    if dsp and not takes_dsp(fmt, lo, hi):
        raise ValueError(f"lanes of {fmt} over [{lo}, {hi}] do not fit one {DSP_BITS}-bit multiplier each")
    bits = fmt.width
    products = []
    for j in range(lanes):
        p = lane_product(m, fmt, word[j * bits:(j + 1) * bits], x(j), lo, hi, f"{name}_lane{j}", dsp)
        products.append(registered(m, p, f"{name}_prod{j}"))
    return tree(products, m, f"{name}_sum")


def dsp_pow2_product(m: Module, codes: CodeFormat, code: Value, x: Value, name: str) -> Value:
    """``q * x`` for a power-of-two code on a hard multiplier: the shift ``k`` is split as
    ``k = (FINE + 1) * a + b`` with ``b <= FINE``; the multiplier forms ``x * (+-2**b)`` (both
    operands 16-bit signed, so synthesis maps it to one SB_MAC16) and one multiplexer level shifts
    by ``FINE + 1`` where ``a``. The product is the shift-add lane's, bit for bit; the shifter's
    levels and the negation's carry chain leave the logic cells (measured on the shipped example:
    bench/throughput.py)."""
    n = codes.index_bits
    index, negative = code[:n], code[n]
    k = (index - 1)[:n]
    coarse = codes.span > FINE
    fine = Mux(k > FINE, k - (FINE + 1), k)[:n] if coarse else k
    power = Signal(range(-(1 << FINE), (1 << FINE) + 1), name=f"{name}_power")
    magnitude = Mux(index == 0, 0, (Const(1, 1) << fine)[:FINE + 1])
    m.d.comb += power.eq(Mux(negative, -magnitude, magnitude))
    product = Signal(shape_for(-(1 << FINE) * (1 << (DSP_BITS - 1)), (1 << FINE) * (1 << (DSP_BITS - 1))),
                     name=f"{name}_dsp")
    m.d.comb += product.eq(x * power)
    return Mux(k > FINE, product << (FINE + 1), product) if coarse else product


def dsp_fixed_product(m: Module, code: Value, x: Value, bounds: Fx, name: str) -> Value:
    """``q * x`` for a fixed-point code (``q`` is the code word, two's complement) on a hard
    multiplier: both operands at most 16 bits signed, so synthesis maps the product to one
    SB_MAC16 where the logic would build a radix-4 Booth multiplier (on the shipped example's
    output layer, its critical path before: bench/throughput.py)."""
    product = Signal(shape_for(bounds.lo, bounds.hi), name=f"{name}_dsp")
    m.d.comb += product.eq(x * code.as_signed())
    return product


def product_bounds(codes: CodeFormat, x_shape) -> Fx:
    """Range of ``q * x`` over every code of ``codes`` and every value of ``x_shape``."""
    return interval(*codes.q_range) * interval(*shape_range(x_shape))


def apply_code(m: Module, codes: CodeFormat, code: Value, x: Value, name: str = "lane") -> Value:
    """``q * x`` for the ``q`` that ``code`` stands for, from muxes, shifts and adders."""
    if codes.kind is CodeKind.BINARY:
        return Mux(code[0], -x, x)
    if codes.kind is CodeKind.TERNARY:
        return Mux(code[0], Mux(code[1], -x, x), 0)
    if codes.kind is CodeKind.POW2:
        n = codes.index_bits
        index, negative = code[:n], code[n]
        shifted = Mux(index == 0, 0, x << (index - 1)[:n])  # barrel shift by k = index - 1
        magnitude = _magnitude(m, shifted, x, 1 << codes.span, f"{name}_shifted")
        return Mux(negative, -magnitude, magnitude)
    return tree(_booth_terms(m, code, x, codes.width, name)).value


def _magnitude(m: Module, value: Value, x: Value, factor: int, name: str) -> Value:
    """``value`` (x times something in [0, factor]) in a signal sized by that range, so that
    its two uses (add or subtract) share one circuit."""
    bounds = interval(0, factor) * interval(*shape_range(x.shape()))
    return Bounded(value, bounds.lo, bounds.hi).wire(m, name).value


def _booth_terms(m: Module, q: Value, x: Value, n: int, name: str) -> list[Bounded]:
    """``q * x`` as ceil(n/2) shifted terms ``d * x * 4**i``, d in {0, ±1, ±2}: radix-4 Booth
    recoding, the run-time form of signed digits (``q`` is n-bit two's complement)."""
    bits = [Const(0, 1)] + [q[i] for i in range(n)] + [q[n - 1]] * (n % 2)
    step = interval(0, 2) * interval(*shape_range(x.shape()))
    top = max(-step.lo, step.hi)
    terms = []
    for i in range(0, n, 2):
        magnitude, negative = booth_digit(bits[i], bits[i + 1], bits[i + 2], x)
        magnitude = _magnitude(m, magnitude, x, 2, f"{name}_digit{i // 2}")
        terms.append(Bounded(Mux(negative, -magnitude, magnitude) << i, -top << i, top << i))
    return terms


def booth_digit(low: Value, mid: Value, high: Value, x: Value) -> tuple[Value, Value]:
    """The radix-4 Booth digit ``d`` in {0, ±1, ±2} of the bit triple (``high``, ``mid``, ``low``)
    applied to ``x``: ``(|d| * x, d < 0)``."""
    one = mid ^ low
    two = Mux(high, ~mid & ~low, mid & low)
    return Mux(one, x, Mux(two, x << 1, 0)), high
