"""Per-row constants (scales, biases) and the one requantize that ends a row (docs/arithmetic.md §3-4).

Folded datapaths read a row's constants from one small ROM addressed one cycle ahead (at T1, for
use at T2), all of a stage's in one word; unrolled ones wire them in. Rows whose constants are all
equal get a constant either way.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Value, unsigned
from amaranth.lib.memory import Memory

from ..spec.ir import FixedArray, WeightCodes
from .exact import Exact, fx_range
from .shapes import shape_for


def constant(v: int, frac: int) -> Exact:
    return Exact(Const(int(v), shape_for(v, v)), fx_range(frac, v, v))


def row_rom(m: Module, columns: list[tuple[list[int], int] | None], addr: Value, name: str) -> list[Exact | None]:
    """``columns[i][0][addr]`` (at binary point ``columns[i][1]``) one cycle after ``addr``: the
    columns that vary in one ROM, a column whose values are all equal a constant, None stays None.

    One word per row holds every varying column (two's complement fields side by side) because a
    block RAM is as deep as the rows however narrow a column is: a hidden-256 GRU's four columns
    of 768 rows (10, 11, 10 and 26 bits) take two of the UP5K's blocks fewer in one ROM."""
    out: list[Exact | None] = [None] * len(columns)
    fields, offset = [], 0
    for i, column in enumerate(columns):
        if column is None:
            continue
        values, frac = [int(v) for v in column[0]], column[1]
        lo, hi = min(values), max(values)
        if lo == hi:
            out[i] = constant(lo, frac)
            continue
        width = shape_for(lo, hi).width
        fields.append((i, values, frac, lo, hi, offset, width))
        offset += width
    if not fields:
        return out
    words = [sum((v[row] & ((1 << w) - 1)) << at for _, v, _, _, _, at, w in fields)
             for row in range(len(fields[0][1]))]
    mem = Memory(shape=unsigned(offset), depth=len(words), init=words)
    m.submodules[name] = mem
    port = mem.read_port()
    m.d.comb += port.addr.eq(addr)
    for i, _, frac, lo, hi, at, width in fields:
        out[i] = Exact(port.data[at:at + width].as_signed(), fx_range(frac, lo, hi))
    return out


def scaled(acc: Exact, w: WeightCodes, scale: Exact | None) -> Exact:
    """The row sum times the row's scale (exact; docs/arithmetic.md §3)."""
    return acc if w.scale is None else acc * scale


def row_columns(w: WeightCodes, b: FixedArray, order: list[int], offsets: tuple | None = None):
    """``(scale, bias)`` of every visited row, in visiting order, each ``(values, frac)`` (scale
    None without per-row scales). ``offsets``: ``(values, frac)``, a per-row integer the
    accumulator lacks (torch row order, at the accumulator's binary point), added to the bias:
    ``(acc + o) * s + b == acc * s + (o * s + b)`` (hwgen.generator.hot_column)."""
    bias, bias_frac = np.asarray(b.values, dtype=object), b.frac
    if offsets is not None:
        bias, bias_frac = _with_offsets(bias, bias_frac, w, *offsets)
    scale = None if w.scale is None else (list(np.asarray(w.scale.values)[order]), w.scale.frac)
    return scale, (list(bias[order]), bias_frac)


def row_constants(m: Module, matrices: list[tuple], order: list[int], addr: Value,
                  name: str) -> list[tuple[Exact | None, Exact]]:
    """``(scale, bias)`` of the visited row for each ``(w, b, offsets)`` of ``matrices``, read one
    cycle after ``addr`` from one ROM (:func:`row_rom`; folded rows)."""
    columns = [c for w, b, offsets in matrices for c in row_columns(w, b, order, offsets)]
    read = row_rom(m, columns, addr, name)
    return [(read[2 * i], read[2 * i + 1]) for i in range(len(matrices))]


def constant_rows(w: WeightCodes, b: FixedArray, order: list[int]) -> list[tuple[Exact | None, Exact]]:
    """``(scale, bias)`` of every visited row as constants (unrolled rows), in visiting order."""
    scale, (bias, bias_frac) = row_columns(w, b, order)
    return [(None if scale is None else constant(scale[0][row], scale[1]), constant(bias[row], bias_frac))
            for row in range(len(order))]


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
