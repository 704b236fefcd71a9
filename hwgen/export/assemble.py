"""Formats per signal and the QModel itself, from mapped codes and calibration statistics."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.activation import DEFAULT_TABLE_BITS, DEFAULT_TABLE_RANGE, hard_activation, table_activation
from ..spec.fixedpoint import Fmt, FormatError
from ..spec.golden import check_bounds
from ..spec.ir import (
    DenseLayer, EmbeddingInput, FeatureInput, LayerFormats, QModel, QModelError, RecurrentLayer, WeightCodes,
)
from .calibrate import SignalStats, fmt_for, saturation, unit_fmt
from .codes import Mapped, bias_fixed
from .floatnet import FloatNet
from .source import ExportError

TABLE_RANGE, TABLE_BITS = DEFAULT_TABLE_RANGE, DEFAULT_TABLE_BITS


def signal_names(net: FloatNet) -> list[str]:
    """Every signal whose format export chooses, in order (the names ``--format`` takes)."""
    names = ["input"]
    for i, L in enumerate(net.layers):
        names += [f"L{i}.state", f"L{i}.preact"]
        if L.kind == "lstm":
            names.append(f"L{i}.cell")
        if L.kind != "rnn":
            names += [f"L{i}.gate_act", f"L{i}.cand_act"]
        if L.kind == "lstm":
            names.append(f"L{i}.cell_act")
    if net.out_w is not None:
        names.append("out")
    return names


@dataclass
class Choice:
    fmt: Fmt
    rule: str  # "calibrated" | "unit" (activation output, holds ±1) | "override"


def choose_formats(net: FloatNet, stats: dict[str, SignalStats], width: int, headroom: float,
                   overrides: dict[str, Fmt | int]) -> dict[str, Choice]:
    """A format per signal: unit formats for activation outputs (and a tanh RNN's state),
    calibrated ones elsewhere; ``overrides`` give a whole format or a width."""
    out: dict[str, Choice] = {}
    unit = {n for n in signal_names(net) if n.endswith("_act")}
    unit |= {f"L{i}.state" for i, L in enumerate(net.layers) if L.kind == "rnn" and L.nonlinearity == "tanh"}
    for name in signal_names(net):
        o = overrides.get(name)
        if isinstance(o, Fmt):
            out[name] = Choice(o, "override")
            continue
        w = o if isinstance(o, int) else width
        try:
            if name in unit:
                out[name] = Choice(unit_fmt(w), "unit")
            else:
                s = stats.get(name)
                out[name] = Choice(fmt_for(s.max_abs if s else 0.0, w, headroom), "calibrated")
        except FormatError as e:
            raise ExportError(f"--format {name}={w}: {e}") from None
        if isinstance(o, int):
            out[name].rule = "override"
    return out


def _act(func: str, style: str, out: Fmt, table_bits: int):
    if func == "relu" or style == "hard":
        return hard_activation(func, out)
    return table_activation(func, out, TABLE_RANGE[func], table_bits)


def _acc_frac(x: Fmt, w: WeightCodes) -> int:
    """Binary point of ``W x``: where a bias is added without rounding the product."""
    return x.frac - w.exp + (w.scale.frac if w.scale is not None else 0)


def build_qmodel(mapped: Mapped, net: FloatNet, formats: dict[str, Choice], vocab, name: str,
                 meta: dict, table_bits: int = TABLE_BITS) -> QModel:
    """The QModel; IR refusals (e.g. an accumulator beyond 62 bits) become ExportError.
    Smooth activations become tables of ``2**table_bits`` entries."""
    f = {k: c.fmt for k, c in formats.items()}
    try:
        if mapped.table is not None:
            v = vocab if vocab is not None and len(vocab) == len(mapped.table) else None
            stage = EmbeddingInput(f["input"].from_float(mapped.table), f["input"], v)
        else:
            stage = FeatureInput(net.layers[0].w_ih.shape[1], f["input"])
        layers, x = [], f["input"]
        for i, (L, m) in enumerate(zip(net.layers, mapped.layers)):
            s = f[f"L{i}.state"]
            fm = LayerFormats(x, s, f[f"L{i}.preact"], f.get(f"L{i}.cell"))
            if L.kind == "rnn":
                acts = {"cand_act": _act(L.nonlinearity, L.activation, s, table_bits)}
            else:
                acts = {"gate_act": _act("sigmoid", L.activation, f[f"L{i}.gate_act"], table_bits),
                        "cand_act": _act("tanh", L.activation, f[f"L{i}.cand_act"], table_bits)}
                if L.kind == "lstm":
                    acts["cell_act"] = _act("tanh", L.activation, f[f"L{i}.cell_act"], table_bits)
            layers.append(RecurrentLayer(
                L.kind, L.w_ih.shape[1], L.w_hh.shape[1], m["w_ih"], m["w_hh"],
                bias_fixed(m["b_ih"], _acc_frac(x, m["w_ih"])), bias_fixed(m["b_hh"], _acc_frac(s, m["w_hh"])),
                fm, **acts))
            x = s
        output = None
        if mapped.output is not None:
            w = mapped.output["w"]
            output = DenseLayer(w, bias_fixed(mapped.output["b"], _acc_frac(x, w)), f["out"])
        return check_bounds(QModel(stage, tuple(layers), output, name=name, meta=meta))
    except (QModelError, FormatError) as e:
        raise ExportError(f"the exported model is not valid: {e}; use a smaller --width, a narrower "
                          f"--exp-window or --format overrides") from None


def format_rows(formats: dict[str, Choice], stats: dict[str, SignalStats]) -> list[dict]:
    """Per signal: calibration range, chosen format, its range, and the saturating fraction."""
    rows = []
    for name, c in formats.items():
        s = stats.get(name)
        fmt = c.fmt
        rows.append({
            "signal": name, "format": str(fmt), "rule": c.rule,
            "range": [fmt.min_int * 2.0 ** -fmt.frac, fmt.max_int * 2.0 ** -fmt.frac],
            "lsb": 2.0 ** -fmt.frac,
            "calibration": None if s is None else {"min": s.lo, "max": s.hi, "count": s.count},
            "saturating": None if s is None else saturation(s, fmt),
        })
    return rows
