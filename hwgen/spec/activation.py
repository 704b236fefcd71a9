"""Activation units, evaluated exactly as the hardware does (docs/arithmetic.md, "Activations").

Hard units are shifts and clamps; table units are a ROM indexed by the rounded input. Both take
an :class:`~hwgen.spec.fixedpoint.Fx` at any binary point and return integers in the unit's format.
"""

from __future__ import annotations

import math

import numpy as np

from .fixedpoint import SAFE_BITS, BoundError, Fmt, Fx, round_half_away, round_shift, saturate
from .ir import ActFunc, ActImpl, Activation

REFERENCE = {
    ActFunc.SIGMOID: lambda x: 1.0 / (1.0 + np.exp(-x)),
    ActFunc.TANH: np.tanh,
    ActFunc.RELU: lambda x: np.maximum(x, 0.0),
}
HARD_REFERENCE = {
    ActFunc.SIGMOID: lambda x: np.clip(x / 4.0 + 0.5, 0.0, 1.0),
    ActFunc.TANH: lambda x: np.clip(x, -1.0, 1.0),
    ActFunc.RELU: lambda x: np.maximum(x, 0.0),
}


#: the table units hwgen's builders make (docs/arithmetic.md section 5): inputs over ±2^range_log2
#: (sigmoid ±8, tanh ±4), 2^bits entries (one 4-Kbit block RAM at 16 bits)
DEFAULT_TABLE_RANGE = {"sigmoid": 3, "tanh": 2}
DEFAULT_TABLE_BITS = 8


def hard_activation(func: ActFunc | str, out: Fmt) -> Activation:
    return Activation(ActFunc(func), ActImpl.HARD, out)


def table_activation(func: ActFunc | str, out: Fmt, range_log2: int = 3, addr_bits: int = 8) -> Activation:
    """A ROM of ``2**addr_bits`` samples of ``func`` over ``[-2**range_log2, 2**range_log2)``."""
    func = ActFunc(func)
    n = 1 << addr_bits
    x = np.ldexp(np.arange(n, dtype=np.float64) - n // 2, range_log2 + 1 - addr_bits)
    values = saturate(round_half_away(np.ldexp(REFERENCE[func](x), out.frac)), out)
    return Activation(func, ActImpl.TABLE, out, range_log2, values)


def evaluate(act: Activation, z: Fx) -> Fx:
    """Apply ``act`` to ``z``; the result is in ``act.out``."""
    if act.impl is ActImpl.TABLE:
        return _table(act, z)
    out = act.out
    if act.func is ActFunc.SIGMOID:
        # x/4 + 1/2 at frac F (F >= 1 so that 1/2 is an integer there), one rounding, clamp.
        f = max(z.frac + 2, 1, out.frac)
        if f - 1 >= SAFE_BITS:  # 1/2 at that binary point would not fit the exact arithmetic
            raise BoundError(f"hard sigmoid of an input at frac {z.frac}: 1/2 needs 2**{f - 1}; "
                             "use a pre-activation format with fewer fractional bits")
        half = Fx.const(np.int64(1) << np.int64(f - 1), f)
        v = Fx(z.v, z.frac + 2, z.lo, z.hi) + half
        return _round_clamp(v, out, 0, out.one)
    if act.func is ActFunc.TANH:
        return _round_clamp(z, out, -out.one, out.one)
    return _round_clamp(z.clamp(0, max(z.hi, 0)), out, 0, out.max_int)


def _round_clamp(x: Fx, out: Fmt, lo: int, hi: int) -> Fx:
    """Round once to ``out``'s binary point, then clamp to ``[lo, hi]`` (within ``out``)."""
    shift = x.frac - out.frac
    rounded = Fx(round_shift(x.v, shift), out.frac, int(round_shift(x.lo, shift)), int(round_shift(x.hi, shift)))
    return rounded.clamp(max(lo, out.min_int), min(hi, out.max_int))


def _table(act: Activation, z: Fx) -> Fx:
    n = len(act.values)
    idx = np.clip(round_shift(z.v, z.frac + act.step_log2), -(n // 2), n // 2 - 1)
    values = act.values
    return Fx(values[idx + n // 2], act.out.frac, int(values.min()), int(values.max()))


def error_bound(act: Activation) -> float:
    """Largest ``|unit(z) - f(z)|`` over all real inputs, not counting the input's own rounding.

    Hard units: half an output step (their clamps are exact). Tables: per entry, the distance to
    the function at the sample point, plus the largest slope times half a step, and on the two
    end cells the distance to the function's limit at infinity.
    """
    lsb = 2.0 ** -act.out.frac
    if act.impl is ActImpl.HARD:
        return lsb / 2
    f, n = REFERENCE[act.func], len(act.values)
    step = 2.0 ** act.step_log2
    centres = (np.arange(n) - n // 2) * step
    table = np.ldexp(act.values.astype(np.float64), -act.out.frac)
    slope = 0.25 if act.func is ActFunc.SIGMOID else 1.0
    worst = float(np.max(np.abs(f(centres) - table))) + slope * step / 2
    lo_limit, hi_limit = (0.0, 1.0) if act.func is ActFunc.SIGMOID else (-1.0, 1.0)
    ends = max(abs(table[0] - lo_limit), abs(table[-1] - hi_limit))
    return max(worst, ends) + 1e-15 * max(1.0, math.ldexp(1.0, act.range_log2))
