"""Per-row constants (scales, biases) and the one requantize that ends a row (docs/arithmetic.md §3-4).

Folded datapaths read a row's constants from a small ROM addressed one cycle ahead (at T1, for use
at T2); unrolled ones wire them in. Rows whose constants are all equal get a constant either way.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Value
from amaranth.lib.memory import Memory

from ..spec.ir import FixedArray, WeightCodes
from .exact import Exact, fx_range
from .shapes import shape_for


def constant(v: int, frac: int) -> Exact:
    return Exact(Const(int(v), shape_for(v, v)), fx_range(frac, v, v))


def row_rom(m: Module, values, frac: int, addr: Value | None, name: str) -> Exact:
    """``values[addr]`` one cycle after ``addr`` (a ROM), or a constant when all are equal."""
    values = [int(v) for v in values]
    lo, hi = min(values), max(values)
    if lo == hi:
        return constant(lo, frac)
    mem = Memory(shape=shape_for(lo, hi), depth=len(values), init=values)
    m.submodules[name] = mem
    port = mem.read_port()
    m.d.comb += port.addr.eq(addr)
    return Exact(port.data, fx_range(frac, lo, hi))


def scaled(acc: Exact, w: WeightCodes, scale: Exact | None) -> Exact:
    """The row sum times the row's scale (exact; docs/arithmetic.md §3)."""
    return acc if w.scale is None else acc * scale


def scale_values(w: WeightCodes, order: list[int]):
    return None if w.scale is None else np.asarray(w.scale.values)[order]


def row_constants(m: Module, w: WeightCodes, b: FixedArray, order: list[int], addr: Value | None,
                  name: str, row: int | None = None) -> tuple[Exact | None, Exact]:
    """(scale, bias) of the visited row: ROM reads addressed by ``addr`` (folded), or the
    constants of visited row ``row`` (unrolled)."""
    bias = np.asarray(b.values)[order]
    scale = scale_values(w, order)
    if row is not None:
        s = None if scale is None else constant(scale[row], w.scale.frac)
        return s, constant(bias[row], b.frac)
    s = None if scale is None else row_rom(m, scale, w.scale.frac, addr, f"{name}_scale")
    return s, row_rom(m, bias, b.frac, addr, f"{name}_bias")


def affine(acc: Exact, w: WeightCodes, consts: tuple[Exact | None, Exact]) -> Exact:
    """``acc * scale + bias``, exact."""
    return scaled(acc, w, consts[0]) + consts[1]
