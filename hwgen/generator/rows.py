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
                  name: str, row: int | None = None, offsets: tuple | None = None) -> tuple[Exact | None, Exact]:
    """(scale, bias) of the visited row: ROM reads addressed by ``addr`` (folded), or the
    constants of visited row ``row`` (unrolled). ``offsets``: ``(values, frac)``, a per-row
    integer the accumulator lacks (torch row order, at the accumulator's binary point), added
    to the bias: ``(acc + o) * s + b == acc * s + (o * s + b)`` (hwgen.generator.hot_column)."""
    bias, bias_frac = np.asarray(b.values, dtype=object), b.frac
    scale = scale_values(w, order)
    if offsets is not None:
        bias, bias_frac = _with_offsets(bias, bias_frac, w, *offsets)
    bias = bias[order]
    if row is not None:
        s = None if scale is None else constant(scale[row], w.scale.frac)
        return s, constant(bias[row], bias_frac)
    s = None if scale is None else row_rom(m, scale, w.scale.frac, addr, f"{name}_scale")
    return s, row_rom(m, bias, bias_frac, addr, f"{name}_bias")


def _with_offsets(bias, bias_frac: int, w: WeightCodes, offsets, offset_frac: int):
    """``offset * scale + bias`` per row as exact integers at their finest binary point."""
    offsets = np.asarray(offsets, dtype=object)
    if w.scale is not None:
        offsets = offsets * np.asarray(w.scale.values, dtype=object)
        offset_frac += w.scale.frac
    frac = max(bias_frac, offset_frac)
    total = [int(o) << (frac - offset_frac) for o in offsets]
    total = [t + (int(v) << (frac - bias_frac)) for t, v in zip(total, bias)]
    return np.array(total, dtype=object), frac


def affine(acc: Exact, w: WeightCodes, consts: tuple[Exact | None, Exact]) -> Exact:
    """``acc * scale + bias``, exact."""
    return scaled(acc, w, consts[0]) + consts[1]
