"""Fixed-point formats from calibration (docs/export.md, "Formats").

The float model with the exported weights runs on calibration data; every signal that becomes a
register records its real values. A signal's format at total width ``W`` gets the most fractional
bits whose largest value still covers ``headroom`` times the largest magnitude seen. Activation
outputs hold [-1, 1] (``sW.(W-2)``). Pre-activations count only the part an activation can see
(beyond ±2 a hard sigmoid's output no longer changes), so saturating there costs nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from ..spec.fixedpoint import Fmt, FormatError
from .floatnet import FloatNet, run
from .source import ExportError

MAX_SAMPLES = 1 << 21  # values kept per signal (strided subsample beyond that)
MIN_INT_BITS = -6  # a signal that never leaves ±2**-6 still gets this range


@dataclass
class SignalStats:
    values: np.ndarray  # a sample of real values (all of them up to MAX_SAMPLES)
    lo: float
    hi: float
    count: int

    @property
    def max_abs(self) -> float:
        return max(abs(self.lo), abs(self.hi))


class _Collector:
    """A floatnet recorder that keeps the values of real steps only (``lengths`` masks padding)."""

    def __init__(self, steps: int, lengths: np.ndarray | None):
        self.steps, self.lengths = steps, lengths
        self.t: dict[str, int] = {}
        self.parts: dict[str, list[np.ndarray]] = {}

    def __call__(self, name: str, v: torch.Tensor):
        a = v.detach().numpy()
        if self.lengths is not None:
            if a.ndim == 3:  # (B, T, F): all steps at once
                a = a[np.arange(a.shape[1])[None, :] < self.lengths[:, None]]
            else:
                t = self.t.get(name, 0)
                self.t[name] = t + 1
                a = a[(t % self.steps) < self.lengths]
        self.parts.setdefault(name, []).append(a.ravel().astype(np.float32))


def collect(net: FloatNet, batches) -> dict[str, SignalStats]:
    """Run ``net`` over ``batches`` of ``(x, lengths | None)``; statistics per signal name."""
    parts: dict[str, list[np.ndarray]] = {}
    for x, lengths in batches:
        c = _Collector(np.asarray(x).shape[1], lengths)
        run(net, x, record=c)
        for k, v in c.parts.items():
            parts.setdefault(k, []).extend(v)
    stats = {}
    for k, v in parts.items():
        a = np.concatenate(v) if v else np.zeros(0, np.float32)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        stride = max(1, -(-a.size // MAX_SAMPLES))
        stats[k] = SignalStats(a[::stride], lo, hi, int(a.size))
    if net.tokens:  # the table is the whole input range: take it exactly
        t = np.asarray(net.table, np.float64).ravel()
        stats["input"] = SignalStats(t.astype(np.float32), float(t.min()), float(t.max()), t.size)
    return stats


def fmt_for(max_abs: float, width: int, headroom: float) -> Fmt:
    """The signed format of ``width`` bits with the most fractional bits whose largest value is at
    least ``headroom * max_abs`` (integer bits at least MIN_INT_BITS)."""
    top = (1 << (width - 1)) - 1
    need = headroom * max_abs
    if need <= 0:
        return Fmt(width, width - 2)
    frac = math.floor(math.log2(top / need))
    while frac > -64 and top * 2.0 ** -frac < need:
        frac -= 1
    return Fmt(width, max(-64, min(frac, width - 1 - MIN_INT_BITS)))


def unit_fmt(width: int) -> Fmt:
    """Activation outputs: [-1, 1] with one spare integer bit (sW.(W-2))."""
    return Fmt(width, width - 2)


_OVERRIDE = re.compile(r"^([\w.]+)=(.+)$")


def parse_overrides(items: list[str] | None, names: list[str]) -> dict[str, Fmt | int]:
    """``SIGNAL=FMT`` (e.g. ``L0.preact=s12.8``) or ``SIGNAL=WIDTH`` (fraction from calibration)."""
    out: dict[str, Fmt | int] = {}
    for item in items or []:
        m = _OVERRIDE.match(item.strip())
        if not m:
            raise ExportError(f"--format {item!r}: expected SIGNAL=FORMAT or SIGNAL=WIDTH, e.g. L0.preact=s12.8")
        name, val = m.groups()
        if name not in names:
            raise ExportError(f"--format {item!r}: unknown signal {name!r}; this model has {', '.join(names)}")
        try:
            out[name] = int(val) if val.isdigit() else Fmt.parse(val)
            if isinstance(out[name], int):
                Fmt(out[name], 0)
        except FormatError as e:
            raise ExportError(f"--format {item!r}: {e}") from None
    return out


def saturation(stats: SignalStats | None, fmt: Fmt) -> float:
    """Fraction of calibration values outside ``fmt``'s range."""
    if stats is None or stats.values.size == 0:
        return 0.0
    lo, hi = fmt.min_int * 2.0 ** -fmt.frac, fmt.max_int * 2.0 ** -fmt.frac
    v = stats.values
    return float(np.mean((v < lo) | (v > hi)))
