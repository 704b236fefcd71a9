"""Lanes: apply stored weight codes to inputs with shifts and adds only (no multipliers).

A :class:`CodeLane` decodes one code word (layout in :mod:`hwgen.generator.codes`) and forms
``q * x``; a :class:`LaneSum` is P lanes and an adder tree, the inner loop of the folded datapath.
Every signal is sized from hwgen's interval arithmetic (:class:`hwgen.fixedpoint.Fx`), so the sum
is as wide as ``P * max|x| * max|q|`` needs and never wraps.
"""

from __future__ import annotations

from functools import reduce
from operator import add

from amaranth.hdl import Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..fixedpoint import Fx
from ..ir import CodeKind
from .codes import CodeFormat
from .requantize import Bounded
from .shapes import check_count, check_shape, interval, shape_for, shape_range


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
    return _tree_sum(_booth_terms(m, code, x, codes.width, name))


def _magnitude(m: Module, value: Value, x: Value, factor: int, name: str) -> Value:
    """``value`` (x times something in [0, factor]) in a signal sized by that range, so that
    its two uses (add or subtract) share one circuit."""
    bounds = interval(0, factor) * interval(*shape_range(x.shape()))
    return Bounded(value, bounds.lo, bounds.hi).wire(m, name).value


def _booth_terms(m: Module, q: Value, x: Value, n: int, name: str) -> list[Value]:
    """``q * x`` as ceil(n/2) shifted terms ``d * x * 4**i``, d in {0, ±1, ±2}: radix-4 Booth
    recoding, the run-time form of signed digits (``q`` is n-bit two's complement)."""
    bits = [Const(0, 1)] + [q[i] for i in range(n)] + [q[n - 1]] * (n % 2)
    terms = []
    for i in range(0, n, 2):
        low, mid, high = bits[i], bits[i + 1], bits[i + 2]
        one = mid ^ low
        two = Mux(high, ~mid & ~low, mid & low)
        magnitude = _magnitude(m, Mux(one, x, Mux(two, x << 1, 0)), x, 2, f"{name}_digit{i // 2}")
        terms.append(Mux(high, -magnitude, magnitude) << i)
    return terms


def _tree_sum(values: list[Value]) -> Value:
    """A balanced adder tree (Amaranth widens each sum, so nothing inside can wrap)."""
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def _check_codes(kind, span, what: str) -> CodeFormat:
    try:
        return CodeFormat(kind, span)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None


class CodeLane(wiring.Component):
    """One weight code applied to one input: ``product = q * x``, combinational (latency 0).

    binary/ternary: add, subtract (or skip); pow2: a barrel shift by k, then add or subtract;
    fixed: ceil((span+1)/2) Booth terms. Ports: ``code: In(unsigned(code bits))``,
    ``x: In(x_shape)``, ``product: Out(signed(width of the product's range))``.
    """

    def __init__(self, kind: CodeKind | str, span: int, x_shape):
        self.code_format = _check_codes(kind, span, "CodeLane")
        self.x_shape = check_shape(x_shape, "CodeLane x_shape")
        self.bounds = product_bounds(self.code_format, self.x_shape)
        super().__init__({
            "code": In(unsigned(self.code_format.width)),
            "x": In(self.x_shape),
            "product": Out(shape_for(self.bounds.lo, self.bounds.hi)),
        })

    @property
    def latency(self) -> int:
        return 0

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.product.eq(apply_code(m, self.code_format, self.code, self.x))
        return m


class LaneSum(wiring.Component):
    """``sum = Σ_j q[j] * x[j]`` over ``lanes`` code lanes and a balanced adder tree, exact.

    The lanes are level 1 of the tree and each adder rank one more level; with
    ``register_every=k`` a (reset-less) register rank follows every k-th level, so
    ``latency == levels // k``. Ports: ``codes: In(ArrayLayout(unsigned(code bits), lanes))``,
    ``x: In(ArrayLayout(x_shape, lanes))``, ``sum: Out(signed(width of P times the product range))``.
    """

    def __init__(self, lanes: int, kind: CodeKind | str, span: int, x_shape, *, register_every: int | None = None):
        self.lanes = check_count(lanes, "LaneSum lanes")
        self.code_format = _check_codes(kind, span, "LaneSum")
        self.x_shape = check_shape(x_shape, "LaneSum x_shape")
        if register_every is not None:
            register_every = check_count(register_every, "LaneSum register_every")
        self.register_every = register_every
        self.product_bounds = product_bounds(self.code_format, self.x_shape)
        self.bounds = reduce(add, [self.product_bounds] * self.lanes)
        super().__init__({
            "codes": In(data.ArrayLayout(unsigned(self.code_format.width), self.lanes)),
            "x": In(data.ArrayLayout(self.x_shape, self.lanes)),
            "sum": Out(shape_for(self.bounds.lo, self.bounds.hi)),
        })

    @property
    def levels(self) -> int:
        """Logic levels: the lanes, then ceil(log2(lanes)) adder ranks."""
        return 1 + (self.lanes - 1).bit_length()

    @property
    def latency(self) -> int:
        return self.levels // self.register_every if self.register_every else 0

    def elaborate(self, platform):
        m = Module()
        nodes = []
        for j in range(self.lanes):
            lane = m.submodules[f"lane{j}"] = CodeLane(self.code_format.kind, self.code_format.span, self.x_shape)
            m.d.comb += [lane.code.eq(self.codes[j]), lane.x.eq(self.x[j])]
            nodes.append(Bounded(lane.product, self.product_bounds.lo, self.product_bounds.hi))
        nodes = self._stage(m, nodes, level=1)
        for level in range(2, self.levels + 1):
            pairs = [nodes[i:i + 2] for i in range(0, len(nodes), 2)]
            nodes = self._stage(m, [_add(*pair) for pair in pairs], level)
        m.d.comb += self.sum.eq(nodes[0].value)
        return m

    def _stage(self, m: Module, nodes: list[Bounded], level: int) -> list[Bounded]:
        """Store each node in a signal sized by its range; a register after every k-th level."""
        registered = bool(self.register_every) and level % self.register_every == 0
        out = []
        for i, node in enumerate(nodes):
            sig = Signal(shape_for(node.lo, node.hi), name=f"level{level}_{i}", reset_less=True)
            m.d["sync" if registered else "comb"] += sig.eq(node.value)
            out.append(Bounded(sig, node.lo, node.hi))
        return out


def _add(a: Bounded, b: Bounded | None = None) -> Bounded:
    """Sum of two tree nodes, its range by Fx's interval addition (an odd node passes on)."""
    if b is None:
        return a
    total = interval(a.lo, a.hi) + interval(b.lo, b.hi)
    return Bounded(a.value + b.value, total.lo, total.hi)
