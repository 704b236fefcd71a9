"""Activation units in hardware, bit-exact with :func:`hwgen.spec.activation.evaluate`.

Hard units are one :func:`~hwgen.generator.requantize.round_clamp` each (sigmoid adds a shift and
the constant 1/2 first). Table units compute the ROM index with the same primitive and read a
:class:`amaranth.lib.memory.Memory` synchronously, so the ROM maps to block RAM.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.activation import evaluate, hard_activation
from ..spec.fixedpoint import BoundError, Fmt, Fx
from ..spec.ir import ActFunc, ActImpl, Activation
from .requantize import Bounded, check_registered, round_clamp
from .shapes import check_fmt, check_frac, check_shape, fmt_shape, shape_range


def _golden_bounds(act: Activation, in_frac: int, in_shape, what: str) -> Fx:
    """The golden model's output range for this input; refuses inputs the golden model refuses."""
    lo, hi = shape_range(in_shape)
    try:
        return evaluate(act, Fx(np.zeros(0, dtype=np.int64), in_frac, lo, hi))
    except BoundError as e:
        raise ValueError(f"{what}: input {in_shape!r} at binary point {in_frac}: {e}") from None


def hard_unit(m: Module, act: Activation, z: Bounded, fz: int) -> Bounded:
    """The hard sigmoid / tanh / ReLU of ``z`` (at binary point ``fz``), as in docs/arithmetic.md §5."""
    out, o = act.out, act.out.frac
    if act.func is ActFunc.SIGMOID:
        f = max(fz + 2, 1, o)  # z/4 + 1/2 held exactly at binary point f
        v = z.shl(f - fz - 2).add_const(1 << (f - 1))
        return round_clamp(m, v, f - o, max(0, out.min_int), min(out.one, out.max_int))
    if act.func is ActFunc.TANH:
        return round_clamp(m, z, fz - o, max(-out.one, out.min_int), min(out.one, out.max_int))
    # ReLU: rounding is monotone and keeps 0, so max(round(z), 0) == round(max(z, 0)).
    return round_clamp(m, z, fz - o, max(0, out.min_int), out.max_int)


class HardActivation(wiring.Component):
    """Hard sigmoid ``clamp(x/4 + 1/2, 0, 1)``, hard tanh ``clamp(x, -1, 1)`` or ReLU: shifts,
    one rounding adder and at most two comparators.

    ``i`` is an exact value at binary point ``in_frac``; ``o`` is in format ``out``.
    Ports: ``i: In(in_shape)``, ``o: Out(out's shape)``. Latency 0, or 1 with ``registered``.
    """

    def __init__(self, func: ActFunc | str, in_frac: int, in_shape, out: Fmt, *, registered: bool = False):
        try:
            func = ActFunc(func)
        except ValueError:
            raise ValueError(
                f"HardActivation func {func!r} is not one of {[f.value for f in ActFunc]}"
            ) from None
        self.in_shape = check_shape(in_shape, "HardActivation in_shape")
        self.in_frac = check_frac(in_frac, "HardActivation in_frac")
        self.activation = hard_activation(func, check_fmt(out, "HardActivation out"))
        self.registered = check_registered(registered, "HardActivation")
        self.bounds = _golden_bounds(self.activation, self.in_frac, self.in_shape, "HardActivation")
        super().__init__({"i": In(self.in_shape), "o": Out(fmt_shape(out))})

    @property
    def latency(self) -> int:
        return int(self.registered)

    def elaborate(self, platform):
        m = Module()
        y = hard_unit(m, self.activation, Bounded.of(self.i), self.in_frac)
        m.d["sync" if self.registered else "comb"] += self.o.eq(y.value)
        return m


class TableActivation(wiring.Component):
    """A smooth sigmoid or tanh from a ROM of ``N`` samples (``activation.values``).

    Index ``clamp(rshift(z, fz + t), -N/2, N/2 - 1) + N/2`` (nearest sample, end entries beyond
    the range), then a synchronous ROM read: latency 1, so synthesis maps the ROM to block RAM.
    Ports: ``i: In(in_shape)``, ``o: Out(activation.out's shape)``.
    """

    def __init__(self, activation: Activation, in_frac: int, in_shape):
        if not isinstance(activation, Activation) or activation.impl is not ActImpl.TABLE:
            raise TypeError(
                f"TableActivation needs a table Activation (hwgen.spec.activation.table_activation), "
                f"not {activation!r}"
            )
        self.activation = activation
        self.in_shape = check_shape(in_shape, "TableActivation in_shape")
        self.in_frac = check_frac(in_frac, "TableActivation in_frac")
        self.bounds = _golden_bounds(activation, self.in_frac, self.in_shape, "TableActivation")
        super().__init__({"i": In(self.in_shape), "o": Out(fmt_shape(activation.out))})

    @property
    def latency(self) -> int:
        return 1

    def elaborate(self, platform):
        m = Module()
        act = self.activation
        half = len(act.values) // 2
        index = round_clamp(m, Bounded.of(self.i), self.in_frac + act.step_log2, -half, half - 1)
        m.submodules.rom = rom = Memory(
            shape=fmt_shape(act.out), depth=2 * half, init=[int(v) for v in act.values]
        )
        port = rom.read_port()
        m.d.comb += [port.addr.eq(index.value + half), self.o.eq(port.data)]
        return m
