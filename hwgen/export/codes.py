"""Quantizer outputs to the IR's integer weight codes (docs/export.md, "Codes").

Each quantized tensor's ``train.quantizers.Codes`` (``W_q = q * 2**exp * scale``) becomes a
``WeightCodes``. Binary's ``H`` and ternary's ``W0`` are either a per-row fixed-point constant
(``scale="fixed"``, a shift-add multiply after the row sum) or rounded to a power of two and folded
into ``exp`` (``scale="pow2"``, free in hardware). Power-of-two codes are clamped to an exponent
window. Tensors trained without a quantizer become fixed-point mantissas. Biases stay real here:
they are rounded once the accumulator's binary point is known (:func:`bias_fixed`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..spec.fixedpoint import round_half_away
from ..spec.ir import CodeKind, FixedArray, WeightCodes
from .floatnet import FloatLayer, FloatNet
from .source import ExportError, Source, bn_affine

SCALE_MODES = ("auto", "fixed", "pow2")


@dataclass
class MatrixInfo:
    """What mapping did to one matrix (for the report)."""

    source: str  # quantizer spec name, or "float" (fixed-point mantissas chosen by export)
    scale: float | None = None  # binary H / ternary W0 as trained
    scale_used: str | None = None  # "2^k" or "s/2^f" as exported
    clamped_high: int = 0  # pow2 weights above the window, saturated to its top
    flushed: int = 0  # pow2 weights below the window set to zero (nonzero before)
    raised_low: int = 0  # pow2 weights below the window raised to its bottom, 2^lo
    zeros: int = 0  # exact zeros of the trained weights that stay zero (post-training rule)

    @property
    def changed(self) -> int:
        """Weights a window moved beyond their rounding: saturated, flushed or raised."""
        return self.clamped_high + self.flushed + self.raised_low


@dataclass
class Mapped:
    """Exported weight codes with real biases, per layer (``w_ih, w_hh, b_ih, b_hh``) and output."""

    layers: list[dict]
    output: dict | None
    table: np.ndarray | None  # token models: layer-0 input vectors (embedding, one-hot, BN folded)
    input_affine: tuple[np.ndarray, np.ndarray] | None
    info: dict[str, MatrixInfo] = field(default_factory=dict)
    scale_mode: str = "none"

    def float_net(self, like: FloatNet) -> FloatNet:
        """These codes dequantized, with ``like``'s activations: what the hardware's weights compute."""
        layers = [FloatLayer(L.kind, m["w_ih"].to_float(), m["w_hh"].to_float(), m["b_ih"], m["b_hh"],
                             L.activation, L.nonlinearity) for L, m in zip(like.layers, self.layers)]
        net = FloatNet(layers, self.table, self.input_affine)
        if self.output is not None:
            net.out_w, net.out_b = self.output["w"].to_float(), self.output["b"]
        return net


def float_codes(w: np.ndarray, bits: int) -> WeightCodes:
    """A full-precision matrix as ``bits``-bit signed mantissas (|q| < 2**(bits-1)) at one exponent."""
    span = bits - 1
    top = float(np.max(np.abs(w))) if w.size else 0.0
    if top == 0.0:
        return WeightCodes(CodeKind.FIXED, np.zeros(w.shape, np.int64), 0, span)
    exp = math.frexp(top)[1] - span  # top < 2**(exp + span)
    q = np.clip(round_half_away(np.ldexp(w, -exp)), -(2 ** span - 1), 2 ** span - 1)
    return WeightCodes(CodeKind.FIXED, q, exp, span)


def _scale_fixed(values: np.ndarray, bits: int) -> FixedArray:
    """Positive per-row constants with ``bits`` significant bits (for the largest)."""
    frac = bits - math.frexp(float(values.max()))[1]
    ints = np.maximum(round_half_away(np.ldexp(values, frac)), 1)
    return FixedArray(ints, frac)


def window_clamp(w: WeightCodes, window: tuple[int, int] | None, info: MatrixInfo, where: str) -> WeightCodes:
    """Pow2 codes inside ``[lo, hi]``: above saturates to ``2**hi``, below becomes 0 (nearer than
    ``2**lo`` for every exponent below ``lo - 1``; a tie at ``lo - 1`` goes to zero). Without a
    window, shrink to the exponents in use (lossless)."""
    nz = w.q != 0
    e = np.zeros(w.q.shape, np.int64)
    e[nz] = w.exp + np.log2(np.abs(w.q[nz])).astype(np.int64)
    if window is None:
        if not nz.any():
            return WeightCodes(CodeKind.POW2, w.q, w.exp, 0, w.scale)
        window = (int(e[nz].min()), int(e[nz].max()))
    lo, hi = window
    high, low = nz & (e > hi), nz & (e < lo)
    info.clamped_high += int(high.sum())
    info.flushed += int(low.sum())
    if nz.any() and low.sum() == nz.sum():
        raise ExportError(f"{where}: the exponent window [{lo}, {hi}] sets every weight of this matrix to "
                          f"zero (its exponents lie in [{int(e[nz].min())}, {int(e[nz].max())}]); "
                          f"widen --exp-window")
    e = np.clip(e, lo, hi)
    q = np.where(nz & ~low, np.sign(w.q) * np.left_shift(1, e - lo), 0)
    return WeightCodes(CodeKind.POW2, q, lo, hi - lo, w.scale)


def _map_codes(c, rows: int, mode: str, scale_bits: int, window, info: MatrixInfo, where: str,
               row_gain: np.ndarray | None = None) -> tuple[WeightCodes, float]:
    """One quantized matrix; returns the codes and the real value that replaced ``c.scale``."""
    q = c.q.numpy().astype(np.int64)
    exp, scale = c.exp, float(c.scale)
    used, scale_arr = 1.0, None
    if scale != 1.0:
        info.scale = scale
        if mode == "pow2":
            k = round(math.log2(scale))
            exp, used = exp + k, math.ldexp(1.0, k)
            info.scale_used = f"2^{k}"
        else:
            scale_arr = _scale_fixed(np.full(rows, scale), scale_bits)
            used = float(scale_arr.to_float()[0])
            info.scale_used = f"{int(scale_arr.values[0])}/2^{scale_arr.frac}"
    if row_gain is not None:  # folded BatchNorm of W_ih x: sign into the codes, size into the scale
        q = q * np.where(row_gain < 0, -1, 1)[:, None]
        scale_arr = _scale_fixed(np.abs(row_gain) * used, scale_bits)
        info.scale_used = f"per-row BatchNorm gain × {info.scale_used or 1}, {scale_bits} bits"
    w = WeightCodes(CodeKind(c.kind), q, exp, c.span, scale_arr)
    if w.kind is CodeKind.POW2:
        w = window_clamp(w, window, info, where)
    return w, used


def _bias(c_bias, w_used: float, w_codes, fallback: np.ndarray) -> np.ndarray:
    """A quantized bias's real value with its matrix's exported scale (``W0`` -> 2^k for pow2)."""
    if c_bias is None:
        return fallback
    v = c_bias.q.numpy().astype(np.float64) * math.ldexp(1.0, c_bias.exp)
    return v * (w_used if float(c_bias.scale) != 1.0 else 1.0)


def count_window(w: np.ndarray, quantizer, info: MatrixInfo) -> None:
    """What an exponential quantizer's window did to the trained (shadow) weights ``w``: counted
    into ``info`` (saturated at ``2^k_max``, raised to ``2^k_min``, flushed to zero, zeros kept)."""
    from train.quantizers import Exponential

    if not isinstance(quantizer, Exponential):
        return
    a = np.abs(np.asarray(w, np.float64))
    lo, hi = quantizer.k_min, quantizer.k_max
    info.clamped_high += int((a >= 1.5 * math.ldexp(1.0, hi)).sum())  # would round to 2^(hi+1)
    below = a < math.ldexp(1.0, lo)
    if quantizer.zero:
        tiny = a < math.ldexp(1.0, lo - 1)
        info.zeros += int((a == 0).sum())
        info.flushed += int((tiny & (a > 0)).sum())
        info.raised_low += int((below & ~tiny).sum())
    else:  # training's rule: no zero level, everything below the window becomes 2^lo
        info.raised_low += int(below.sum())


def map_weights(src: Source, mode: str, scale_bits: int = 8, window=None, weight_bits: int = 8) -> Mapped:
    """Every matrix of ``src`` as exported codes, with ``mode`` "fixed" or "pow2" for scales."""
    from .source import float_net

    model, ref = src.model, float_net(src, quantized=True)
    info: dict[str, MatrixInfo] = {}
    layers = []
    for i, (cell, L) in enumerate(zip(model.stack.layers, ref.layers)):
        codes = cell.codes()
        gain = bn_b = None
        if cell.batch_norm == "input_product":
            gain, bn_b = bn_affine(cell.bn)
        elif cell.batch_norm == "input" and i > 0:
            raise ExportError(
                f"{src.path}: layer {i} normalises its input with BatchNorm ('input'), which scales the "
                f"columns of W_ih by non-powers of two and would take its codes out of their set; "
                f"train with --batch-norm input_product (folds into a per-row scale) or without it")
        m, used = {}, {}
        for name, key in (("w_ih", "weight_ih"), ("w_hh", "weight_hh")):
            where = f"layer {i} {key}"
            spec = cell.quantizers[key]
            mi = info[f"L{i}.{name}"] = MatrixInfo(spec.spec()["name"] if spec else "float")
            g = gain if name == "w_ih" else None
            count_window(getattr(cell, key).detach().numpy(), spec, mi)
            if key in codes:
                m[name], used[name] = _map_codes(codes[key], L.w_hh.shape[0], mode, scale_bits, window, mi, where, g)
            else:
                m[name], used[name] = float_codes(getattr(L, name), weight_bits), 1.0
        b_ih_raw = _bias(codes.get("bias_ih"), used["w_ih"], m["w_ih"], None)
        if b_ih_raw is None:  # float bias: the float net's (BN already folded there)
            m["b_ih"] = L.b_ih
        else:
            m["b_ih"] = b_ih_raw + (bn_b if bn_b is not None else 0.0)
        m["b_hh"] = _bias(codes.get("bias_hh"), used["w_hh"], m["w_hh"], L.b_hh)
        layers.append(m)
    output = None
    if src.has_output:
        codes = model.output.codes()
        spec = model.output.quantizers["weight"]
        mi = info["out.w"] = MatrixInfo(spec.spec()["name"] if spec else "float")
        count_window(model.output.weight.detach().numpy(), spec, mi)
        if "weight" in codes:
            w, used = _map_codes(codes["weight"], ref.out_w.shape[0], mode, scale_bits, window, mi, "output weight")
        else:
            w, used = float_codes(ref.out_w, weight_bits), 1.0
        output = {"w": w, "b": _bias(codes.get("bias"), used, w, ref.out_b)}
    has_scale = any(x.scale is not None for x in info.values())
    return Mapped(layers, output, ref.table, ref.input_affine, info, mode if has_scale else "none")


def bias_fixed(b: np.ndarray, frac: int) -> FixedArray:
    """A real bias at the accumulator's binary point ``frac`` (one rounding, half away from zero)."""
    return FixedArray(round_half_away(np.ldexp(np.asarray(b, np.float64), frac)), frac)


def needs_scale_choice(src: Source) -> bool:
    codes = dict(src.model.output.codes()) if src.has_output else {}
    for cell in src.model.stack.layers:
        codes.update(cell.codes())
    return any(float(c.scale) != 1.0 for c in codes.values())
