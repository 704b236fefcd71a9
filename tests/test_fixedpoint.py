"""hwgen.spec.fixedpoint against an independent, exact reference (Fraction / Python ints).

Contract: values are ints v meaning v * 2**-frac; rounding is round half away from zero
everywhere; saturation clamps to the format's range and never wraps.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from hwgen.spec.fixedpoint import (
    SAFE_BITS, BoundError, Fmt, FormatError, Fx, align, requantize, requantize_int, round_half_away,
    round_shift, saturate,
)

# ------------------------------------------------------------------ the independent reference


def ref_round(q: Fraction) -> int:
    """Round an exact rational to an integer, halves away from zero."""
    sign = -1 if q < 0 else 1
    return sign * math.floor(abs(q) + Fraction(1, 2))


def ref_shift(x: int, s: int) -> int:
    """x * 2**-s rounded half away from zero, exactly."""
    return ref_round(Fraction(int(x)) / Fraction(2) ** s)


def ref_clamp(v: int, fmt: Fmt) -> int:
    if fmt.signed:
        lo, hi = -(2 ** (fmt.width - 1)), 2 ** (fmt.width - 1) - 1
    else:
        lo, hi = 0, 2 ** fmt.width - 1
    return min(max(v, lo), hi)


def ref_requantize(x: int, frac: int, fmt: Fmt) -> int:
    return ref_clamp(ref_shift(x, frac - fmt.frac), fmt)


def ref_shift_vec(x: np.ndarray, s: int) -> np.ndarray:
    """Vectorized exact formula, derived independently of the code under test.

    For s > 0: round(|x| / 2**s) half away = floor(|x| / 2**s + 1/2) = (2|x| + 2**s) // 2**(s+1),
    then the sign is put back. For s <= 0 it is |x| * 2**-s.
    """
    x = np.asarray(x, dtype=np.int64)
    mag = np.abs(x)
    if s <= 0:
        r = mag * (2 ** -s)
    else:
        r = (2 * mag + 2 ** s) // (2 ** (s + 1))
    return np.where(x < 0, -r, r)


INT16 = np.arange(-(2 ** 15), 2 ** 15, dtype=np.int64)


# ------------------------------------------------------------------ round_shift


@pytest.mark.parametrize(
    "x, s, expected",
    [
        # exact halves go away from zero, both signs
        (1, 1, 1), (-1, 1, -1), (3, 1, 2), (-3, 1, -2), (5, 1, 3), (-5, 1, -3),
        (5, 2, 1), (-5, 2, -1),  # 1.25 -> 1, -1.25 -> -1
        (6, 2, 2), (-6, 2, -2),  # 1.5 -> 2, -1.5 -> -2
        (10, 2, 3), (-10, 2, -3),  # 2.5 -> 3, -2.5 -> -3
        (7, 2, 2), (-7, 2, -2),  # 1.75 -> 2
        # just below / just above a half
        (127, 8, 0), (-127, 8, 0), (128, 8, 1), (-128, 8, -1), (129, 8, 1), (-129, 8, -1),
        (383, 8, 1), (-383, 8, -1), (384, 8, 2), (-384, 8, -2), (385, 8, 2), (-385, 8, -2),
    ],
)
def test_round_shift_halves(x, s, expected):
    assert ref_shift(x, s) == expected  # the reference agrees with the hand-written value
    assert int(round_shift(np.int64(x), s)) == expected
    assert round_shift(np.array([x]), s).tolist() == [expected]


def test_round_shift_zero_and_negative_shift_are_exact():
    xs = np.array([0, 1, -1, 5, -5, 32767, -32768, 2 ** 40, -(2 ** 40)], dtype=np.int64)
    assert round_shift(xs, 0).tolist() == xs.tolist()
    for s in (-1, -3, -16):
        assert round_shift(xs, s).tolist() == [int(x) * 2 ** -s for x in xs]


EXTREME_X = [
    1, -1, 2, -2, 3, -3, 32767, -32768, 2 ** 31 - 1, -(2 ** 31),
    2 ** 39, -(2 ** 39), 3 * 2 ** 39, -3 * 2 ** 39, 2 ** 39 - 1, -(2 ** 39) + 1,
    2 ** 61, -(2 ** 61), 2 ** 61 + 1, -(2 ** 61) - 1, 2 ** 61 - 1, -(2 ** 61) + 1,
    2 ** 62 - 1, -(2 ** 62) + 1,
]


@pytest.mark.parametrize("s", [16, 31, 40, 61, 62, 63, 64, 100])
def test_round_shift_large_shifts(s):
    got = round_shift(np.array(EXTREME_X, dtype=np.int64), s).tolist()
    assert got == [ref_shift(x, s) for x in EXTREME_X]
    for x in EXTREME_X:
        assert int(round_shift(np.int64(x), s)) == ref_shift(x, s)


def test_round_shift_large_shift_edge_values():
    # Shift 62: 2**61 is exactly one half; 2**62 - 1 is just under one.
    assert int(round_shift(np.int64(2 ** 61), 62)) == 1
    assert int(round_shift(np.int64(-(2 ** 61)), 62)) == -1
    assert int(round_shift(np.int64(2 ** 61 - 1), 62)) == 0
    assert int(round_shift(np.int64(-(2 ** 61) + 1), 62)) == 0
    assert int(round_shift(np.int64(2 ** 62 - 1), 62)) == 1
    # Shift 63 and beyond: everything below 2**62 in magnitude is below one half.
    for s in (63, 100):
        assert round_shift(np.array([2 ** 62 - 1, -(2 ** 62) + 1, -32768]), s).tolist() == [0, 0, 0]
    # Shift 40 on the most negative s16 value and on halves at that scale.
    assert int(round_shift(np.int64(-32768), 40)) == 0
    assert int(round_shift(np.int64(-(2 ** 39)), 40)) == -1
    assert int(round_shift(np.int64(2 ** 39), 40)) == 1
    assert int(round_shift(np.int64(2 ** 39 - 1), 40)) == 0


@pytest.mark.parametrize("s", [1, 2, 3, 7, 8, 14, 15, 16, 17, 40])
def test_round_shift_exhaustive_int16(s):
    assert np.array_equal(round_shift(INT16, s), ref_shift_vec(INT16, s))


def test_exhaustive_reference_matches_fraction_reference():
    # The vectorized reference itself is checked against Fraction on a sample.
    sample = INT16[::97].tolist() + [-32768, 32767, -1, 0, 1]
    for s in (1, 3, 8, 15, 16):
        assert ref_shift_vec(np.array(sample), s).tolist() == [ref_shift(x, s) for x in sample]


def test_round_shift_most_negative_s16():
    m = -32768
    for s, expected in [(0, -32768), (1, -16384), (8, -128), (15, -1), (16, -1), (17, 0), (-2, -131072)]:
        assert ref_shift(m, s) == expected
        assert int(round_shift(np.int64(m), s)) == expected


# ------------------------------------------------------------------ saturate


@pytest.mark.parametrize("fmt", [Fmt(16, 14), Fmt(8, 0), Fmt(2, 0), Fmt(32, 3), Fmt(8, 4, False), Fmt(2, 0, False)])
def test_saturate_clamps_never_wraps(fmt):
    xs = [0, 1, -1, fmt.min_int, fmt.max_int, fmt.min_int - 1, fmt.max_int + 1,
          2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 61, -(2 ** 61), 2 ** 62 - 1, -(2 ** 62) + 1,
          2 ** 63 - 1, -(2 ** 63)]
    got = saturate(np.array(xs, dtype=np.int64), fmt).tolist()
    assert got == [ref_clamp(x, fmt) for x in xs]
    assert fmt.saturate(np.array(xs, dtype=np.int64)).tolist() == got


def test_saturate_range_ends():
    s16, u8 = Fmt(16, 0), Fmt(8, 0, signed=False)
    assert (s16.min_int, s16.max_int) == (-32768, 32767)
    assert (u8.min_int, u8.max_int) == (0, 255)
    assert saturate(np.array([2 ** 61, -(2 ** 61)]), s16).tolist() == [32767, -32768]
    assert saturate(np.array([2 ** 61, -(2 ** 61)]), u8).tolist() == [255, 0]
    assert saturate(np.array([-32768, 32767]), s16).tolist() == [-32768, 32767]


# ------------------------------------------------------------------ requantize


@pytest.mark.parametrize(
    "frac, fmt",
    [
        (14, Fmt(8, 6)), (14, Fmt(8, 7)), (14, Fmt(8, 14)), (14, Fmt(16, 14)), (14, Fmt(4, 0)),
        (10, Fmt(8, 4, False)), (10, Fmt(8, 8, False)), (3, Fmt(6, 0, False)), (0, Fmt(16, 0)),
        (20, Fmt(8, 0)), (0, Fmt(20, 4)), (5, Fmt(2, 0)), (5, Fmt(2, 0, False)),
    ],
)
def test_requantize_exhaustive_int16(frac, fmt):
    shift = frac - fmt.frac
    expected = np.clip(ref_shift_vec(INT16, shift), ref_clamp(-(2 ** 70), fmt), ref_clamp(2 ** 70, fmt))
    assert np.array_equal(requantize(INT16, frac, fmt), expected)
    # spot check the exhaustive expectation against the Fraction reference
    for x in (-32768, -32767, -129, -128, -1, 0, 1, 127, 128, 32767):
        assert int(expected[x + 32768]) == ref_requantize(x, frac, fmt)


def test_requantize_most_negative_s16():
    m = -32768  # -2.0 at frac 14
    assert int(requantize(np.int64(m), 14, Fmt(8, 6))) == -128  # -2.0 exactly
    assert int(requantize(np.int64(m), 14, Fmt(8, 7))) == -128  # -256 saturates
    assert int(requantize(np.int64(m), 14, Fmt(16, 14))) == -32768
    assert int(requantize(np.int64(m), 14, Fmt(8, 8, signed=False))) == 0
    assert int(requantize(np.int64(m), 14, Fmt(4, 0))) == -2
    assert int(requantize(np.int64(m), 30, Fmt(8, 0))) == ref_requantize(m, 30, Fmt(8, 0)) == 0
    assert int(requantize(np.int64(m), 29, Fmt(8, 0))) == ref_requantize(m, 29, Fmt(8, 0)) == 0
    assert int(requantize(np.int64(m), 28, Fmt(8, 0))) == ref_requantize(m, 28, Fmt(8, 0))


def test_requantize_to_unsigned():
    u8 = Fmt(8, 4, signed=False)
    xs = [-(2 ** 61), -1000, -9, -8, -7, -1, 0, 7, 8, 9, 4079, 4080, 4088, 4095, 10 ** 6, 2 ** 61]
    assert requantize(np.array(xs), 8, u8).tolist() == [ref_requantize(x, 8, u8) for x in xs]
    assert int(requantize(np.int64(-8), 8, u8)) == 0  # -0.5 -> -1 -> clamps to 0
    assert int(requantize(np.int64(8), 8, u8)) == 1  # 0.5 -> 1
    assert int(requantize(np.int64(4088), 8, u8)) == 255  # 255.5 -> 256 -> 255


@pytest.mark.parametrize("s", [40, 61, 62, 63, 64, 100])
def test_requantize_big_right_shifts(s):
    fmt = Fmt(16, 0)
    xs = [2 ** 61, -(2 ** 61), 2 ** 62 - 1, -(2 ** 62) + 1, 2 ** 39, -(2 ** 39), -32768]
    assert requantize(np.array(xs), s, fmt).tolist() == [ref_requantize(x, s, fmt) for x in xs]


def test_requantize_left_shift_saturates_never_wraps():
    """A requantize into a finer format (negative shift) must still saturate, not wrap."""
    s16_14 = Fmt(16, 14)
    xs = [2 ** 61, -(2 ** 61), 2 ** 50, -(2 ** 50), 2 ** 49 + 1, 3]
    got = requantize(np.array(xs, dtype=np.int64), 0, s16_14).tolist()
    assert got == [ref_requantize(x, 0, s16_14) for x in xs] == [32767, -32768] * 2 + [32767, 32767]
    # a shift of 64 or more
    assert int(requantize(np.int64(3), 0, Fmt(16, 64))) == 32767
    assert int(requantize(np.int64(-3), 0, Fmt(16, 64))) == -32768


@pytest.mark.parametrize("frac, fmt", [
    (14, Fmt(8, 6)), (14, Fmt(16, 14)), (10, Fmt(8, 4, False)), (0, Fmt(16, 0)), (20, Fmt(8, 0)),
    (0, Fmt(20, 4)), (5, Fmt(2, 0, False)), (0, Fmt(16, 14)), (0, Fmt(16, 64)), (40, Fmt(16, 0)),
    (62, Fmt(16, 0)), (63, Fmt(16, 0)), (100, Fmt(16, 0)), (30, Fmt(32, 2)),
])
def test_requantize_of_one_integer_equals_the_reference(frac, fmt):
    """The golden model's bounds go through requantize_int: the Fraction reference, value for
    value, and the array requantize's result, over rails, halves and the largest magnitudes."""
    rng = np.random.default_rng(frac * 1000 + fmt.width)
    xs = [0, 1, -1, 2 ** 61, -(2 ** 61), 2 ** 62 - 1, -(2 ** 62) + 1, -32768, 32767, 3, -3]
    xs += [(2 ** k) + d for k in range(0, 61, 7) for d in (-1, 0, 1)]
    xs += [-x for x in xs] + rng.integers(-(2 ** 40), 2 ** 40, 200).tolist()
    got = [requantize_int(x, frac, fmt) for x in xs]
    assert got == [ref_requantize(x, frac, fmt) for x in xs]
    assert got == requantize(np.array(xs, dtype=np.int64), frac, fmt).tolist()
    assert all(type(v) is int for v in got)


# ------------------------------------------------------------------ align


def test_align_is_exact_left_shift_and_refuses_coarser():
    xs = np.array([-32768, -1, 0, 1, 32767], dtype=np.int64)
    assert align(xs, 2, 5).tolist() == [x * 8 for x in xs.tolist()]
    assert align(xs, 3, 3).tolist() == xs.tolist()
    with pytest.raises(FormatError, match=r"align would lose bits: frac 5 -> 2"):
        align(xs, 5, 2)


# ------------------------------------------------------------------ round_half_away (reals)


def test_round_half_away_halves():
    xs = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 1023.5, -1023.5, 0.0, -0.0, 1.0, -1.0,
          0.25, -0.25, 0.75, -0.75, 2.4999, -2.4999, 2.5001, -2.5001]
    got = round_half_away(np.array(xs)).tolist()
    assert got == [ref_round(Fraction(x)) for x in xs]
    assert got[:6] == [1, -1, 2, -2, 3, -3]


def test_round_half_away_just_below_and_above_halves():
    xs = []
    for h in (1.5, 2.5, 1023.5, 2.0 ** 20 + 0.5):  # 0.5 itself: see the next test
        for v in (h, -h):
            xs += [np.nextafter(v, 0.0), v, np.nextafter(v, np.inf * np.sign(v))]
    got = round_half_away(np.array(xs)).tolist()
    assert got == [ref_round(Fraction(float(x))) for x in xs]


def test_round_half_away_largest_double_below_one_half():
    x = np.nextafter(0.5, 0.0)  # 0.49999999999999994
    assert Fraction(float(x)) < Fraction(1, 2)
    assert round_half_away(np.array([x, -x])).tolist() == [0, 0]


def test_round_half_away_large_integers_are_unchanged():
    xs = [2.0 ** 52 + 1, -(2.0 ** 52 + 1), 2.0 ** 52 + 3, 2.0 ** 53, 2.0 ** 52 - 0.5, -(2.0 ** 52 - 0.5)]
    assert round_half_away(np.array(xs)).tolist() == [ref_round(Fraction(x)) for x in xs]


# ------------------------------------------------------------------ Fmt


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("width", [2, 3, 8, 16, 31, 32])
@pytest.mark.parametrize("frac", [-64, -3, 0, 1, 14, 40, 64])
def test_fmt_parse_str_round_trip(signed, width, frac):
    f = Fmt(width, frac, signed)
    text = f"{'s' if signed else 'u'}{width}.{frac}"
    assert str(f) == text
    assert Fmt.parse(text) == f
    assert str(Fmt.parse(text)) == text


def test_fmt_parse_values():
    assert Fmt.parse("s16.14") == Fmt(16, 14, True)
    assert Fmt.parse("u8.8") == Fmt(8, 8, False)
    assert Fmt.parse("s8.-2") == Fmt(8, -2)
    assert Fmt.parse(" s16.14 ") == Fmt(16, 14)


@pytest.mark.parametrize("text", ["", "s16", "16.14", "x16.14", "S16.14", "s16.14.1", "s.14", "s16.",
                                  "s 16.14", "s16,14", "s16.1.4", "s-16.14", "s16.+14", "u8.8u", None])
def test_fmt_parse_bad_strings(text):
    with pytest.raises(FormatError, match=r"cannot read fixed-point format .*expected e\.g\. 's16\.14'"):
        Fmt.parse(text)


@pytest.mark.parametrize("text, width", [("s1.0", 1), ("u1.0", 1), ("s0.0", 0), ("s33.0", 33), ("u64.3", 64)])
def test_fmt_parse_width_out_of_range(text, width):
    with pytest.raises(FormatError, match=rf"format width {width} is outside \[2, 32\] bits"):
        Fmt.parse(text)


def test_fmt_constructor_errors():
    with pytest.raises(FormatError, match=r"format width must be an integer, not 16\.0"):
        Fmt(16.0, 14)
    with pytest.raises(FormatError, match=r"format width must be an integer, not True"):
        Fmt(True, 0)
    with pytest.raises(FormatError, match=r"format frac must be an integer, not '14'"):
        Fmt(16, "14")
    with pytest.raises(FormatError, match=r"format frac must be an integer, not 1\.5"):
        Fmt(16, 1.5)
    with pytest.raises(FormatError, match=r"format frac 65 is outside \[-64, 64\]"):
        Fmt(16, 65)
    with pytest.raises(FormatError, match=r"format frac 65 is outside \[-64, 64\]"):
        Fmt.parse("s16.65")
    with pytest.raises(FormatError, match=r"outside \[2, 32\]"):
        Fmt(33, 0)
    assert issubclass(FormatError, ValueError)


def test_fmt_is_immutable_and_ordered():
    f = Fmt(16, 14)
    with pytest.raises(AttributeError):
        f.width = 8  # type: ignore[misc]
    assert Fmt(16, 14) == Fmt(16, 14) and Fmt(16, 14) != Fmt(16, 14, False)
    assert hash(Fmt(16, 14)) == hash(Fmt(16, 14))


def test_fmt_one_and_holds_one():
    assert Fmt(8, 6).one == 64 and Fmt(8, 6).holds_one(True)
    assert not Fmt(8, 7).holds_one()  # 128 > 127
    assert Fmt(8, 7, signed=False).holds_one() and not Fmt(8, 7, signed=False).holds_one(True)
    assert not Fmt(8, -1).holds_one()


# ------------------------------------------------------------------ Fmt.from_float


def test_from_float_halves_round_away():
    f = Fmt(8, 2)  # step 0.25
    xs = [0.125, -0.125, 0.375, -0.375, 0.625, -0.625, 0.1, -0.1, 0.124, -0.126, 1.0, -1.0]
    got = f.from_float(np.array(xs)).tolist()
    assert got == [ref_clamp(ref_round(Fraction(x) * 4), f) for x in xs]
    assert got[:6] == [1, -1, 2, -2, 3, -3]


def test_from_float_just_below_half_step():
    f = Fmt(8, 0)
    x = np.nextafter(0.5, 0.0)
    assert f.from_float(np.array([x, -x, 0.5, -0.5])).tolist() == [0, 0, 1, -1]


def test_from_float_saturates_in_range_values():
    f = Fmt(8, 4)
    xs = [7.9375, 7.96875, 8.0, 100.0, -8.0, -8.03125, -100.0, 2.0 ** 40, -(2.0 ** 40)]
    assert f.from_float(np.array(xs)).tolist() == [ref_clamp(ref_round(Fraction(x) * 16), f) for x in xs]
    u = Fmt(8, 4, signed=False)
    assert u.from_float(np.array([-1.0, -0.03, 0.03125, 15.96875, 16.0, 1e6])).tolist() == [0, 0, 1, 255, 255, 255]


def test_from_float_far_beyond_range_saturates_never_wraps():
    f = Fmt(16, 14)
    xs = [1e15, -1e15, 1e300, -1e300, 2.0 ** 62, -(2.0 ** 62), 2.0 ** 70]
    assert f.from_float(np.array(xs)).tolist() == [32767, -32768, 32767, -32768, 32767, -32768, 32767]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_from_float_refuses_non_finite(bad):
    with pytest.raises(FormatError, match=r"cannot quantize non-finite values to s16\.14"):
        Fmt(16, 14).from_float(np.array([0.0, bad]))


# ------------------------------------------------------------------ Fx


def test_fx_of_and_const():
    a = Fx.of(np.array([1, -2]), Fmt(8, 3))
    assert (a.frac, a.lo, a.hi, a.bound) == (3, -128, 127, 128)
    c = Fx.const(np.array([5, -7, 2]), 4)
    assert (c.frac, c.lo, c.hi, c.bound) == (4, -7, 5, 7)


def test_fx_add_aligns_exactly():
    fa, fb = Fmt(8, 2), Fmt(8, 5)
    av = np.array([3, -5, 127, -128, 127, -128, 0])
    bv = np.array([1, -1, 127, -128, -128, 127, -1])
    a, b = Fx.of(av, fa), Fx.of(bv, fb)
    s = a + b
    assert s.frac == 5
    for i in range(len(av)):
        exact = Fraction(int(av[i]), 2 ** 2) + Fraction(int(bv[i]), 2 ** 5)
        assert Fraction(int(s.v[i]), 2 ** 5) == exact
    # the range is exactly the range of the sum of any two format values
    assert (s.lo, s.hi) == (-128 * 8 - 128, 127 * 8 + 127)
    assert s.bound == 1152 == (a.bound << 3) + b.bound
    assert s.lo <= int(s.v.min()) and int(s.v.max()) <= s.hi
    assert (b + a).frac == 5 and (b + a).v.tolist() == s.v.tolist()


def test_fx_sub_and_mul_ranges():
    a, b = Fx.of(np.array([-128, 127]), Fmt(8, 1)), Fx.of(np.array([127, -128]), Fmt(8, 1))
    d = a - b
    assert d.v.tolist() == [-255, 255] and (d.lo, d.hi) == (-255, 255)
    p = a * b
    assert p.frac == 2 and p.v.tolist() == [-128 * 127, -128 * 127]
    assert (p.lo, p.hi) == (-128 * 127, 128 * 128)
    assert p.bound == 16384


def test_fx_at_finer_and_refuses_coarser():
    a = Fx.of(np.array([-3, 5]), Fmt(8, 2))
    b = a.at(6)
    assert b.frac == 6 and b.v.tolist() == [-48, 80] and (b.lo, b.hi) == (-128 * 16, 127 * 16)
    with pytest.raises(FormatError):
        a.at(1)


@pytest.mark.parametrize("src_frac, fmt", [(10, Fmt(8, 4)), (10, Fmt(8, 2)), (10, Fmt(16, 6)),
                                            (10, Fmt(6, 3, False)), (4, Fmt(16, 8)), (10, Fmt(12, 10))])
def test_fx_requantize_values_and_range(src_frac, fmt):
    x = Fx.of(INT16, Fmt(16, src_frac))  # every value of the source format
    y = x.requantize(fmt)
    expected = np.clip(ref_shift_vec(INT16, src_frac - fmt.frac), ref_clamp(-(2 ** 70), fmt), ref_clamp(2 ** 70, fmt))
    assert y.frac == fmt.frac
    assert np.array_equal(y.v, expected)
    # the stated range holds every result, and is attained (all inputs were present)
    assert (y.lo, y.hi) == (int(expected.min()), int(expected.max()))
    assert y.bound <= max(-fmt.min_int, fmt.max_int)


def test_fx_bound_limit_accepts_62_bits():
    ok = Fx(np.zeros(1, np.int64), 0, -(2 ** 62) + 1, 2 ** 62 - 1)
    assert ok.bound == 2 ** 62 - 1


def test_fx_refuses_bound_beyond_62_bits():
    with pytest.raises(BoundError, match=r"could reach magnitude \d+ \(about 2\*\*62\); the exact arithmetic holds magnitudes below 2\*\*62"):
        Fx(np.zeros(1, np.int64), 3, 0, 2 ** 62)
    # products of two s32 values reach 2**62
    a = Fx.of(np.array([-(2 ** 31)]), Fmt(32, 0))
    with pytest.raises(BoundError, match=r"holds magnitudes below 2\*\*62"):
        a * a
    # sums too
    big = Fx(np.array([2 ** 61]), 0, 0, 2 ** 61)
    with pytest.raises(BoundError, match=r"frac 0"):
        big + big
    assert issubclass(BoundError, FormatError)


def test_fx_bound_error_message_is_consistent_for_most_negative():
    """lo = -2**62 is refused (|v| may reach 2**62); the message states the magnitude reached and
    a limit it really exceeds."""
    with pytest.raises(BoundError) as info:
        Fx(np.zeros(1, np.int64), 0, -(2 ** 62), 0)
    msg = str(info.value)
    reached = int(msg.split("could reach magnitude ")[1].split(" ")[0])
    limit_log2 = int(msg.split("magnitudes below 2**")[1].split(";")[0])
    assert reached == 2 ** 62 and reached >= 2 ** limit_log2, msg


def test_safe_bits_value():
    assert SAFE_BITS == 62
