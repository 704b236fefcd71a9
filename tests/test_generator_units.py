"""The generator's arithmetic against the golden functions, bit for bit, in Amaranth's
simulator: the requantize (``round_clamp``), hard and table activations, code lanes
(``apply_code``) and lane sums (``lane_sum``, the folded datapath's inner loop).

The requantize, the lanes and the lane sum are functions the datapath builds into its own module;
the small components below wrap exactly those functions for the simulator and are test harness,
not part of the product. Every run drives one input per cycle and lines outputs up with the unit's
stated ``latency``; the measured latency (the only offset at which outputs equal the golden
sequence) must equal it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import ClockDomain, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwgen.spec import golden
from hwgen.spec.activation import evaluate, hard_activation, table_activation
from hwgen.spec.fixedpoint import Fmt, Fx, requantize
from hwgen.generator import (
    Bounded, CodeFormat, HardActivation, TableActivation, code_width, decode_codes, encode_codes, round_clamp,
)
from hwgen.generator.codes import encode_q
from hwgen.generator.requantize import round_clamp_split
from hwgen.generator.rows import row_rom
from hwgen.generator.gates import serial_products
from hwgen.generator.exact import Exact, fx_range
from hwgen.generator.lanes import apply_code, lane_sum, product_bounds, tree_ranks
from hwgen.generator.shapes import fmt_shape, shape_for, shape_range
from hwgen.spec.ir import WeightCodes

F = Fmt.parse

# Some tests build units only to read their shapes or latency, never to elaborate them.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


# --- harness -------------------------------------------------------------------------------------

def simulate(dut, drive: list[list[tuple]], watch) -> list:
    """Set each cycle's ``(port, value)`` pairs, sample ``watch`` once settled, then tick."""
    top = Module()
    top.submodules.dut = dut
    top.domains.sync = ClockDomain("sync")  # so that purely combinational units can be ticked too
    sim = Simulator(top)
    sim.add_clock(1e-6)
    outputs = []

    async def bench(ctx):
        for pairs in drive:
            for port, value in pairs:
                ctx.set(port, value)
            outputs.append(ctx.get(watch))
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    return outputs


def check_lined_up(dut, outputs: list, expected: list, unique: bool = True):
    """Outputs equal ``expected`` delayed by ``dut.latency``, and (for varied data) at no other offset."""
    n, lat = len(expected), dut.latency
    got = [int(v) for v in outputs[lat:]]
    want = [int(v) for v in expected[:n - lat]]
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not bad, f"first mismatch at input {bad[0]}: got {got[bad[0]]}, want {want[bad[0]]} ({len(bad)} in all)"
    if unique:
        matching = [d for d in range(lat + 3) if [int(v) for v in outputs[d:]] == [int(v) for v in expected[:n - d]]]
        assert matching == [lat], f"outputs line up at offsets {matching}, stated latency {lat}"


def inputs_for(shape, rng, n_random: int = 1500, exhaustive_bits: int = 12) -> np.ndarray:
    """Every value of a narrow shape; for wide ones the extremes, values around 0, and random ones."""
    lo, hi = shape_range(shape)
    if shape.width <= exhaustive_bits:
        values = np.arange(lo, hi + 1, dtype=np.int64)
    else:
        edges = [lo, lo + 1, lo + 2, -2, -1, 0, 1, 2, hi - 1, hi]
        values = np.concatenate([np.array([v for v in edges if lo <= v <= hi], dtype=np.int64),
                                 rng.integers(lo, hi, n_random, endpoint=True)])
    return rng.permutation(values)  # shuffled, so that a wrong latency cannot match by accident


def run_unit(dut, values) -> list:
    return simulate(dut, [[(dut.i, int(v))] for v in values], dut.o)


class Requantizer(wiring.Component):
    """Harness: :func:`round_clamp` of ``i`` (binary point ``in_frac``) into ``out``, optionally
    registered (as the datapath's rows end: :meth:`hwgen.generator.exact.Exact.requantize`), or
    ``split`` over two cycles (:func:`round_clamp_split`, latency 1, and with ``registered`` 2)."""

    def __init__(self, in_shape, in_frac: int, out: Fmt, *, registered: bool = False, split: bool = False):
        self.in_frac, self.out, self.split = in_frac, out, split
        self.latency, self.registered = int(registered) + int(split), registered
        super().__init__({"i": In(in_shape), "o": Out(fmt_shape(out))})

    def elaborate(self, platform):
        m = Module()
        unit = round_clamp_split if self.split else round_clamp
        y = unit(m, Bounded.of(self.i), self.in_frac - self.out.frac, self.out.min_int, self.out.max_int)
        m.d["sync" if self.registered else "comb"] += self.o.eq(y.value)
        return m


class Lane(wiring.Component):
    """Harness: one :func:`apply_code` lane, combinational; ``product`` as wide as its bound."""

    latency = 0

    def __init__(self, kind: str, span: int, x_shape):
        self.fmt = CodeFormat(kind, span)
        b = product_bounds(self.fmt, x_shape)
        super().__init__({"code": In(self.fmt.width), "x": In(x_shape), "product": Out(shape_for(b.lo, b.hi))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.product.eq(apply_code(m, self.fmt, self.code, self.x))
        return m


class LaneSum(wiring.Component):
    """Harness: :func:`lane_sum` over ``lanes`` lanes (codes packed into one word, lane 0 lowest),
    as the folded datapath builds it; latency :func:`tree_ranks`."""

    def __init__(self, lanes: int, kind: str, span: int, x_shape):
        self.fmt, self.lanes, self.x_shape = CodeFormat(kind, span), lanes, x_shape
        self.latency = tree_ranks(lanes)
        lo, hi = shape_range(x_shape)
        b = product_bounds(self.fmt, x_shape)
        super().__init__({"codes": In(data.ArrayLayout(self.fmt.width, lanes)), "x": In(data.ArrayLayout(x_shape, lanes)),
                          "sum": Out(shape_for(lanes * b.lo, lanes * b.hi))})

    def elaborate(self, platform):
        m = Module()
        lo, hi = shape_range(self.x_shape)
        total = lane_sum(m, self.fmt, self.codes.as_value(), self.lanes, lambda j: self.x[j], lo, hi, "sum")
        m.d.comb += self.sum.eq(total.value)
        return m


# --- requantize -----------------------------------------------------------------------------------

REQUANTIZE_CASES = [
    # in_shape, in_frac, out: right shifts, left shifts, unsigned ends, shifts past the width
    (signed(10), 4, F("s6.1")),  # rshift 3, saturates at both rails
    (signed(10), 2, F("s8.5")),  # lshift 3, saturates at both rails
    (signed(8), 8, F("s4.0")),  # rshift == width: -128 is -0.5, rounds to -1
    (signed(8), 9, F("s4.0")),  # rshift past every magnitude: constant 0
    (signed(8), 40, F("s8.0")),
    (signed(8), -60, F("s16.4")),  # huge left shift: everything but 0 saturates
    (unsigned(9), 3, F("u4.0")),
    (signed(9), 0, F("u6.2")),  # signed into unsigned: the low rail is 0
    (unsigned(7), 2, F("s5.0")),
    (signed(6), 0, F("s32.0")),  # widening: never saturates
    (signed(40), 12, F("s16.6")),  # wide input, random values and extremes
    (signed(33), 3, F("s32.2")),
    (signed(12), 5, F("s12.5")),  # identity
    (signed(62), 30, F("s32.0")),  # the widest signed input: magnitudes up to 2**61
    (unsigned(62), 64, F("u8.2")),  # rshift 62: only values >= 2**61 round up to 1
]


@pytest.mark.parametrize("registered, split", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("in_shape, in_frac, out", REQUANTIZE_CASES)
def test_round_clamp_equals_requantize(in_shape, in_frac, out, registered, split):
    rng = np.random.default_rng(in_shape.width * 100 + in_frac)
    values = inputs_for(in_shape, rng)
    dut = Requantizer(in_shape, in_frac, out, registered=registered, split=split)
    expected = requantize(values, in_frac, out)
    check_lined_up(dut, run_unit(dut, values), list(expected), unique=len(set(expected.tolist())) > 1)


def test_requantize_cases_reach_both_rails_and_round_halves():
    """The cases above do exercise saturation at both rails and halves of both signs."""
    rails = [requantize(inputs_for(s, np.random.default_rng(0)), f, o) for s, f, o in REQUANTIZE_CASES[:2]]
    for r, (_, _, out) in zip(rails, REQUANTIZE_CASES[:2]):
        assert r.min() == out.min_int and r.max() == out.max_int
    assert requantize(np.array([-12, -4, 4, 12]), 3, F("s8.0")).tolist() == [-2, -1, 1, 2]


# --- activations ----------------------------------------------------------------------------------

HARD_CASES = [
    ("sigmoid", signed(10), 6, F("s8.6")),
    ("sigmoid", signed(8), 2, F("s12.9")),  # fz < o: left shifts
    ("sigmoid", signed(9), -3, F("u10.8")),  # negative binary point, unsigned output
    ("sigmoid", signed(14), 10, F("s16.14")),
    ("tanh", signed(10), 7, F("s6.3")),
    ("tanh", signed(6), 1, F("s10.6")),
    ("tanh", signed(36), 20, F("s16.14")),
    ("relu", signed(10), 4, F("u6.2")),
    ("relu", signed(10), 4, F("s8.3")),
    ("relu", signed(7), -2, F("s12.0")),
]


@pytest.mark.parametrize("func, in_shape, in_frac, out", HARD_CASES)
def test_hard_activation_equals_evaluate(func, in_shape, in_frac, out):
    rng = np.random.default_rng(in_shape.width + in_frac)
    values = inputs_for(in_shape, rng)
    dut = HardActivation(func, in_frac, in_shape, out)
    lo, hi = shape_range(in_shape)
    want = evaluate(hard_activation(func, out), Fx(values, in_frac, lo, hi))
    check_lined_up(dut, run_unit(dut, values), list(want.v))
    assert (dut.bounds.lo, dut.bounds.hi) == (want.lo, want.hi)


def test_hard_activation_registered_has_latency_one():
    dut = HardActivation("tanh", 4, signed(8), F("s6.4"), registered=True)
    values = inputs_for(signed(8), np.random.default_rng(1))
    want = evaluate(hard_activation("tanh", F("s6.4")), Fx(values, 4, -128, 127)).v
    check_lined_up(dut, run_unit(dut, values), list(want))
    assert dut.latency == 1


TABLE_CASES = [
    (table_activation("sigmoid", F("s10.8"), range_log2=3, addr_bits=8), 8, signed(12)),  # rshift 4
    (table_activation("tanh", F("s10.8"), range_log2=2, addr_bits=4), 1, signed(6)),  # shift 0
    (table_activation("tanh", F("s8.6"), range_log2=2, addr_bits=6), -1, signed(5)),  # lshift 4
    (table_activation("sigmoid", F("u9.8"), range_log2=3, addr_bits=5), 12, signed(24)),
]


@pytest.mark.parametrize("act, in_frac, in_shape", TABLE_CASES)
def test_table_activation_equals_evaluate(act, in_frac, in_shape):
    rng = np.random.default_rng(in_frac + 7)
    values = inputs_for(in_shape, rng)
    dut = TableActivation(act, in_frac, in_shape)
    lo, hi = shape_range(in_shape)
    want = evaluate(act, Fx(values, in_frac, lo, hi)).v
    assert dut.latency == 1
    check_lined_up(dut, run_unit(dut, values), list(want))
    assert want.min() == act.values[0] and want.max() == act.values[-1]  # both end entries read


# --- weight codes ---------------------------------------------------------------------------------

CODE_FORMATS = [("binary", 0), ("ternary", 0), ("pow2", 0), ("pow2", 2), ("pow2", 3), ("pow2", 31),
                ("fixed", 1), ("fixed", 2), ("fixed", 5), ("fixed", 16)]


@pytest.mark.parametrize("kind, span", CODE_FORMATS)
def test_codes_round_trip(kind, span):
    fmt = CodeFormat(kind, span)
    q = fmt.values()
    w = WeightCodes(kind, np.resize(q, (2, len(q))), exp=-3, span=span)
    words = encode_codes(w)
    assert words.dtype == np.uint32 and words.shape == w.q.shape
    assert code_width(w) == fmt.width and int(words.max()) < 1 << fmt.width
    assert np.array_equal(decode_codes(words, fmt), w.q)
    assert len(set(words.flatten().tolist())) == len(q)  # one word per code


def test_code_widths_follow_the_contract():
    widths = {(k, s): CodeFormat(k, s).width for k, s in CODE_FORMATS}
    assert widths[("binary", 0)] == 1 and widths[("ternary", 0)] == 2
    assert [widths[("pow2", s)] for s in (0, 2, 3, 31)] == [2, 3, 4, 7]  # 1 + bitlength(span + 1)
    assert [widths[("fixed", s)] for s in (1, 2, 5, 16)] == [2, 3, 6, 17]  # span + 1


@pytest.mark.parametrize("kind, span, word, message", [
    ("ternary", 0, 0b10, "ternary code word 0x2 is never written"),
    ("pow2", 3, 0b0110, "pow2 code word 0x6 is never written"),  # index 6 > span + 1
    ("fixed", 3, 0b1000, "fixed code word 0x8 is never written"),  # -2**span
    ("binary", 0, 2, r"binary code words must lie in \[0, 1\]"),
])
def test_decode_refuses_words_encode_never_writes(kind, span, word, message):
    with pytest.raises(ValueError, match=message):
        decode_codes([word], CodeFormat(kind, span))


LANE_CASES = [("binary", 0, signed(8)), ("ternary", 0, signed(8)), ("pow2", 0, signed(6)),
              ("pow2", 3, signed(8)), ("pow2", 6, unsigned(5)), ("fixed", 1, signed(8)),
              ("fixed", 4, signed(8)), ("fixed", 5, unsigned(6)), ("fixed", 16, signed(16))]


@pytest.mark.parametrize("kind, span, x_shape", LANE_CASES)
def test_lane_applies_every_code(kind, span, x_shape):
    rng = np.random.default_rng(span)
    fmt = CodeFormat(kind, span)
    xs = inputs_for(x_shape, rng, n_random=60, exhaustive_bits=6)
    qs = fmt.values()
    if len(qs) > 64:  # every code of narrow kinds; for wide ones the extremes, around 0, and random
        qs = np.concatenate([qs[:3], qs[len(qs) // 2 - 2:len(qs) // 2 + 3], qs[-3:], rng.choice(qs, 40)])
    pairs = [(int(q), int(x)) for q in qs for x in xs]
    dut = Lane(kind, span, x_shape)
    drive = [[(dut.code, int(encode_q(q, fmt))), (dut.x, x)] for q, x in pairs]
    check_lined_up(dut, simulate(dut, drive, dut.product), [q * x for q, x in pairs])


def test_lane_product_bound_is_as_wide_as_needed():
    def width(kind, span, x_shape):
        b = product_bounds(CodeFormat(kind, span), x_shape)
        return shape_for(b.lo, b.hi)
    # max |q x| = 2**3 * 2**7 = 2**10 at x = -128: 12 bits signed
    assert width("pow2", 3, signed(8)) == signed(12)
    # |q| <= 15, x in [-128, 127]: [-1920, 1920] needs 12 bits
    assert width("fixed", 4, signed(8)) == signed(12)
    assert width("binary", 0, signed(8)) == signed(9)  # -(-128) = 128


LANE_SUM_CASES = [
    (1, "ternary", 0, signed(8)), (1, "fixed", 3, signed(6)), (3, "binary", 0, signed(8)),
    (4, "ternary", 0, signed(8)), (5, "pow2", 3, signed(8)), (7, "pow2", 0, unsigned(6)),
    (7, "fixed", 4, signed(8)), (8, "fixed", 6, signed(12)), (16, "ternary", 0, signed(16)),
]


@pytest.mark.parametrize("lanes, kind, span, x_shape", LANE_SUM_CASES)
def test_lane_sum_is_the_exact_dot_product(lanes, kind, span, x_shape):
    rng = np.random.default_rng(lanes * 10 + span)
    fmt = CodeFormat(kind, span)
    qv, (xlo, xhi) = fmt.values(), shape_range(x_shape)
    qlo, qhi = fmt.q_range
    vectors = [([q] * lanes, [x] * lanes) for q in (qlo, qhi) for x in (xlo, xhi)]  # the corners
    vectors += [(list(rng.choice(qv, lanes)), list(rng.integers(xlo, xhi, lanes, endpoint=True)))
                for _ in range(300)]
    dut = LaneSum(lanes, kind, span, x_shape)
    drive = [[(dut.codes, [int(w) for w in encode_q(qs, fmt)]), (dut.x, [int(x) for x in xs])]
             for qs, xs in vectors]
    expected = [sum(int(q) * int(x) for q, x in zip(qs, xs)) for qs, xs in vectors]
    check_lined_up(dut, simulate(dut, drive, dut.sum), expected)


@pytest.mark.parametrize("lanes, latency", [(1, 1), (2, 2), (3, 3), (4, 3), (7, 4), (8, 4), (9, 5), (16, 5)])
def test_lane_sum_latency_is_products_then_each_tree_level(lanes, latency):
    assert tree_ranks(lanes) == latency


@pytest.mark.parametrize("lanes, kind, span, x_shape", [(5, "pow2", 3, signed(8)), (7, "fixed", 4, signed(8)),
                                                          (16, "ternary", 0, signed(5))])
def test_lane_sum_width_is_the_golden_matvec_bound(lanes, kind, span, x_shape):
    """The sum is exactly as wide as the golden model's widest row of ``lanes`` codes (for signed
    inputs; an unsigned one is stored as a signed lane input, a bit wider, in the datapath)."""
    fmt = CodeFormat(kind, span)
    x = Fx.of(np.zeros(lanes, np.int64), F(f"{'s' if x_shape.signed else 'u'}{x_shape.width}.0"))
    rows = [WeightCodes(kind, [[q] * lanes], span=span) for q in fmt.q_range]
    widest = max(golden.matvec(w, x).width for w in rows)
    b = product_bounds(fmt, x_shape)
    total = lane_sum(Module(), fmt, Signal(fmt.width * lanes), lanes, lambda j: Signal(x_shape),
                     *shape_range(x_shape), "t")
    assert shape_for(total.lo, total.hi) == shape_for(lanes * b.lo, lanes * b.hi) == signed(widest)


# --- serial gate products -------------------------------------------------------------------------

class SerialProduct(wiring.Component):
    """Harness: :func:`serial_products` of one use, ``a`` of ``a_shape`` (a gate activation's
    output) times ``b`` of ``b_shape``; the product is there ``latency`` cycles after ``go``."""

    def __init__(self, a_shape, b_shape):
        self.a_shape, self.b_shape = a_shape, b_shape
        self.latency = (a_shape.width + (0 if a_shape.signed else 1) + 1) // 2 + 1  # the load, then the digits
        super().__init__({"go": In(1), "a": In(a_shape), "b": In(b_shape), "p": Out(signed(40))})

    def elaborate(self, platform):
        m = Module()
        a = Exact(self.a, fx_range(0, *shape_range(self.a_shape)))
        b = Exact(self.b, fx_range(0, *shape_range(self.b_shape)))
        (p,) = serial_products(m, [(self.go, a, b)], "m")
        m.d.comb += self.p.eq(p.value)
        return m


@pytest.mark.parametrize("a_shape, b_shape", [(unsigned(8), signed(12)), (signed(7), signed(9)),
                                              (unsigned(2), signed(5)), (signed(16), signed(16))])
def test_serial_product_is_the_exact_product(a_shape, b_shape):
    """Every ``a`` (or, for wide ones, the edges and random ones) against ``b``'s rails and random
    values, one product after another with ``go`` between: equal to ``a * b`` at the stated latency."""
    rng = np.random.default_rng(a_shape.width * 100 + b_shape.width)
    (b_lo, b_hi) = shape_range(b_shape)
    pairs = [(int(a), int(b)) for a in inputs_for(a_shape, rng, 400)
             for b in [b_lo, b_hi, 0, -1, int(rng.integers(b_lo, b_hi, endpoint=True))]]
    dut = SerialProduct(a_shape, b_shape)
    gap = dut.latency  # the next go as the product is there (a unit's products do not overlap)
    drive = []
    for a, b in pairs:
        drive += [[(dut.go, 1), (dut.a, a), (dut.b, b)]] + [[(dut.go, 0), (dut.a, 0), (dut.b, 0)]] * (gap - 1)
    drive += [[(dut.go, 0)]] * gap
    out = simulate(dut, drive, dut.p)
    got = [int(out[i * gap + dut.latency]) for i in range(len(pairs))]
    bad = [(a, b, g) for (a, b), g in zip(pairs, got) if g != a * b]
    assert not bad, f"{len(bad)} wrong products, first: {bad[0][0]} * {bad[0][1]} gave {bad[0][2]}"


# --- row constants --------------------------------------------------------------------------------

class RowRom(wiring.Component):
    """Harness: :func:`row_rom` over ``columns``, addressed by ``addr``; ``o[i]`` is column i's read
    (None columns read as 0)."""

    def __init__(self, columns):
        self.columns, self.latency = columns, 1
        rows = len(next(c for c in columns if c is not None)[0])
        super().__init__({"addr": In(range(rows)), "o": Out(data.ArrayLayout(signed(30), len(columns)))})

    def elaborate(self, platform):
        m = Module()
        self.reads = row_rom(m, self.columns, self.addr, "consts")
        for i, r in enumerate(self.reads):
            if r is not None:
                m.d.comb += self.o[i].eq(r.value)
        return m


def test_row_rom_reads_every_column_of_every_row():
    """Signed, unsigned, one-bit, wide and constant columns side by side in one ROM word: each read
    is the column's value of the addressed row (the values themselves are the expectation), at
    the column's binary point and range."""
    rng = np.random.default_rng(5)
    rows = 40
    columns = [None,
               (list(rng.integers(-512, 511, rows)), 3),        # signed scale-like
               ([7] * rows, 0),                                 # all equal: a constant
               (list(rng.integers(0, 1, rows, endpoint=True)), -2),  # 0/1
               (list(rng.integers(-1, 0, rows, endpoint=True)), 1),  # -1/0
               (list(rng.integers(-(1 << 25), 1 << 25, rows)), 22),  # a wide bias
               (list(rng.integers(0, 1 << 12, rows)), 5)]       # positive only
    columns[1][0][:2] = [-512, 511]  # the rails of each field's width
    columns[5][0][:2] = [-(1 << 25), (1 << 25) - 1]
    columns[6][0][0] = (1 << 12) - 1
    dut = RowRom(columns)
    drive = [[(dut.addr, r)] for r in list(range(rows)) + [0]]
    got = simulate(dut, drive, dut.o)[dut.latency:]
    for i, c in enumerate(columns):
        if c is None:
            assert dut.reads[i] is None
            continue
        assert [int(g[i]) for g in got] == [int(v) for v in c[0]], f"column {i}"
        assert (dut.reads[i].frac, dut.reads[i].fx.lo, dut.reads[i].fx.hi) == (c[1], min(c[0]), max(c[0]))
    # One memory for the five varying columns, as wide as their fields (shape_for: 10 + 2 + 2 + 26 + 13 bits).
    m = Module()
    row_rom(m, columns, Signal(range(rows)), "consts")
    assert m.submodules["consts"].shape.width == 10 + 2 + 2 + 26 + 13


# --- constructor validation -----------------------------------------------------------------------

BAD_ARGUMENTS = [
    (lambda: HardActivation("swish", 0, signed(8), F("s8.6")), ValueError, r"HardActivation func 'swish' is not one of \['sigmoid', 'tanh', 'relu'\]"),
    (lambda: HardActivation("tanh", 0, signed(8), F("u8.6")), ValueError, r"activation tanh: output format u8.6 cannot hold \[-1, 1\]"),
    (lambda: HardActivation("sigmoid", -64, signed(62), F("s16.14")), ValueError, "HardActivation: input signed.62. at binary point -64: .*could reach magnitude"),
    (lambda: TableActivation(hard_activation("tanh", F("s8.6")), 0, signed(8)), TypeError, "TableActivation needs a table Activation"),
    (lambda: HardActivation("tanh", 0, 12, F("s8.6")), TypeError, r"HardActivation in_shape must be an Amaranth shape such as signed\(12\), not 12"),
    (lambda: HardActivation("tanh", 0, unsigned(0), F("s8.6")), ValueError, r"in_shape unsigned\(0\) has no bits"),
    (lambda: HardActivation("tanh", 1.5, signed(8), F("s8.6")), TypeError, "HardActivation in_frac must be an integer binary point, not 1.5"),
    (lambda: HardActivation("tanh", 0, signed(8), "s8.6"), TypeError, "HardActivation out must be a hwgen.spec.fixedpoint.Fmt"),
    (lambda: HardActivation("tanh", 0, signed(8), F("s8.6"), registered=1), TypeError, "HardActivation registered must be True or False, not 1"),
    (lambda: CodeFormat("quaternary", 0), ValueError, r"unknown weight code kind 'quaternary'"),
    (lambda: CodeFormat("ternary", 2), ValueError, "ternary codes take span 0, not 2"),
    (lambda: CodeFormat("fixed", 0), ValueError, r"fixed mantissa bits 0 is outside \[1, 16\]"),
    (lambda: CodeFormat("pow2", 32), ValueError, r"pow2 exponent span 32 is outside \[0, 31\]"),
]


@pytest.mark.parametrize("make, error, message", BAD_ARGUMENTS)
def test_constructors_refuse_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


# --- Verilog --------------------------------------------------------------------------------------

UNITS = {
    "requantize": lambda: Requantizer(signed(20), 9, F("s8.4"), registered=True),
    "hard_sigmoid": lambda: HardActivation("sigmoid", 10, signed(16), F("s16.14")),
    "table_tanh": lambda: TableActivation(table_activation("tanh", F("s16.14"), range_log2=2), 12, signed(18)),
    "lane_pow2": lambda: Lane("pow2", 4, signed(8)),
    "lane_sum_fixed": lambda: LaneSum(6, "fixed", 5, signed(8)),
}


def verilog_digests() -> dict[str, str]:
    return {name: hashlib.sha256(verilog.convert(UNITS[name](), name=name).encode()).hexdigest()
            for name in sorted(UNITS)}


@pytest.mark.parametrize("name", sorted(UNITS))
def test_verilog_conversion_is_deterministic(name):
    first, second = (verilog.convert(UNITS[name](), name=name) for _ in range(2))
    assert first == second
    assert f"module {name}(" in first


def test_verilog_is_the_same_in_another_process():
    """No hash-order dependence: another interpreter with another hash seed writes the same bytes."""
    code = "import json, test_generator_units as t; print(json.dumps(t.verilog_digests()))"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    here = os.path.dirname(__file__)
    env["PYTHONPATH"] = os.pathsep.join([here, os.path.dirname(here), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, cwd=os.path.dirname(here),
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == verilog_digests()
