"""The export report: plain JSON data (docs/export.md, "Report") and its printed tables."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..spec.ir import QModel
from ..qmodel_file import digest
from ..spec.summary import weight_stats
from ..toolchain.targets import BLOCK_RAM_MODES, block_rams
from .codes import Mapped
from .source import Source

PTQ_WARNING = ("post-training quantization of a float model: accuracy may drop (the measured drop is "
               "float_quantized - float_full_precision under 'accuracy'); quantization-aware training "
               "(`hwgen train --quantizer ...`) usually recovers it")


def _matrices(qm: QModel):
    for i, layer in enumerate(qm.layers):
        yield f"L{i}.w_ih", layer.w_ih
        yield f"L{i}.w_hh", layer.w_hh
    if qm.output is not None:
        yield "out.w", qm.output.w


def build_report(qm: QModel, src: Source, mapped: Mapped, scale: dict, formats: list[dict],
                 acc: dict | None, calib: str) -> dict:
    weights = {}
    for name, w in _matrices(qm):
        info = mapped.info.get(name)
        weights[name] = {**weight_stats(w), **({"mapping": asdict(info)} if info else {})}
    warnings = []
    if src.kind == "torch" and src.quantize:
        warnings.append(PTQ_WARNING)
    sat = [f["signal"] for f in formats if (f["saturating"] or 0) > 0]
    if sat:
        warnings.append(f"calibration values saturate in {', '.join(sat)} (see formats)")
    changed = sum(i.changed for i in mapped.info.values())
    if changed:
        parts = [(sum(getattr(i, k) for i in mapped.info.values()), what) for k, what in (
            ("flushed", "set to zero"), ("raised_low", "raised to the window's smallest power of two"),
            ("clamped_high", "saturated at its largest"))]
        warnings.append(f"the exponent window changed {changed} weights beyond rounding: "
                        + ", ".join(f"{n} {what}" for n, what in parts if n) + " (see weights.*.mapping)")
    for name, w in weights.items():
        if w["sparsity"] == 1.0:
            warnings.append(f"every weight of {name} is zero: that matrix contributes nothing")
    report = {
        "model": qm.name, "digest": digest(qm),
        "source": dict(qm.meta["source"]), "calibration": calib,
        "scale": scale, "weights": weights,
        "weight_memory_bits": sum(w["memory_bits"] for w in weights.values()),
        "activations": activation_rows(qm),
        "formats": formats, "accuracy": acc, "warnings": warnings,
    }
    if acc is not None and src.kind == "torch":
        acc["ptq_drop"] = acc["float_quantized"] - acc["float_full_precision"]
    return report


def activation_rows(qm: QModel) -> list[dict]:
    """Per activation unit: how it is built, its error against the real function (in output
    LSBs; :func:`hwgen.spec.activation.error_bound`) and, for tables, the ROM's bits and block RAMs."""
    from ..spec.activation import error_bound

    rows = []
    for i, layer in enumerate(qm.layers):
        for unit, act in layer.activations.items():
            lsb = 2.0 ** -act.out.frac
            entries = len(act.values) if act.values is not None else 0
            err = error_bound(act)
            rows.append({
                "unit": f"L{i}.{unit}", "func": act.func.value, "impl": act.impl.value,
                "out": str(act.out), "entries": entries,
                "input_range": None if act.range_log2 is None else 2.0 ** act.range_log2,
                "rom_bits": entries * act.out.width,
                "ebr_blocks": {family: block_rams(family, entries, act.out.width) if entries else 0
                               for family in BLOCK_RAM_MODES},
                "error_bound": err, "error_lsb": err / lsb,
            })
    return rows


def save_json(data: dict, path) -> Path:
    """Atomic: a temporary file in the same folder, then a rename (hwgen.files)."""
    from ..files import write_atomic

    text = json.dumps(data, indent=1) + "\n"
    return write_atomic(path, lambda f: f.write(text))


def _g(x: float) -> str:
    return f"{x:.4g}"


def print_report(r: dict, console: Console | None = None) -> None:
    console = console or Console()
    s = r["source"]
    console.print(f"[bold]{r['model']}[/bold] from {s.get('file') or s.get('path')} ({s['kind']}"
                  f"{', --quantize ' + s['quantize'] if s.get('quantize') else ''}), QModel sha256 {r['digest'][:16]}…")
    sc = r["scale"]
    if sc["mode"] != "none":
        errs = ", ".join(f"{k} {_g(v)}" for k, v in sc["rms_output_error"].items())
        console.print(f"scale of binary/ternary weights: {sc['mode']} ({sc['chosen_by']}; rms output error {errs})")
    t = Table(title="weights", title_justify="left")
    for col in ("matrix", "codes", "shape", "window", "bits", "memory", "zeros"):
        t.add_column(col, no_wrap=True)
    for name, w in r["weights"].items():
        window = f"{w['window'][0]}:{w['window'][1]}" if w["window"] else "-"
        t.add_row(name, w["kind"] + ("+s" if w["scale"] else ""), "×".join(map(str, w["shape"])), window,
                  str(w["bits_per_weight"]), str(w["memory_bits"]), f"{w['sparsity']:.1%}")
    console.print(t)
    for name, w in r["weights"].items():
        m = w.get("mapping") or {}
        moved = [(m.get(k), what) for k, what in (("clamped_high", "saturated"), ("flushed", "to zero"),
                                                   ("raised_low", "raised to 2^lo"))]
        clamp = "  (window: " + ", ".join(f"{n} {what}" for n, what in moved if n) + ")" \
            if any(n for n, _ in moved) else ""
        console.print(f"  {name}: " + "  ".join(f"{k}: {v}" for k, v in w["histogram"].items()) + clamp)
    console.print(f"total weight memory: {r['weight_memory_bits']:,} bits")
    if r.get("activations"):
        t = Table(title="activation units", title_justify="left")
        for col in ("unit", "function", "built as", "output", "error bound", "ROM", "block RAM"):
            t.add_column(col, no_wrap=True)
        for a in r["activations"]:
            built = f"table of {a['entries']} over ±{a['input_range']:g}" if a["impl"] == "table" else a["impl"]
            t.add_row(a["unit"], a["func"], built, a["out"], f"{a['error_lsb']:.1f} LSB ({_g(a['error_bound'])})",
                      f"{a['rom_bits']:,} bits" if a["rom_bits"] else "-",
                      " / ".join(f"{n} {family}" for family, n in a["ebr_blocks"].items()) if a["rom_bits"] else "-")
        console.print(t)
    t = Table(title=f"formats (calibration: {r['calibration']})", title_justify="left")
    for col in ("signal", "seen min", "seen max", "format", "range", "saturating"):
        t.add_column(col, no_wrap=True)
    for f in r["formats"]:
        c = f["calibration"]
        t.add_row(f["signal"], _g(c["min"]) if c else "-", _g(c["max"]) if c else "-",
                  f["format"] + ("*" if f["rule"] == "override" else ""),
                  f"[{_g(f['range'][0])}, {_g(f['range'][1])}]",
                  "-" if f["saturating"] is None else f"{f['saturating']:.3%}")
    console.print(t)
    if r["accuracy"]:
        print_accuracy(r["accuracy"], console)
    for w in r["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}")


LABELS = {"golden": "golden model (hardware arithmetic)", "float_exported_codes": "float, exported codes",
          "float_quantized": "float, trained quantized weights", "float_full_precision": "float, full precision"}


def print_accuracy(a: dict, console: Console) -> None:
    t = Table(title=f"accuracy on {a['data']} ({a['size']:,} {'characters' if a['metric'] == 'bpc' else 'sequences'})",
              title_justify="left")
    t.add_column("model")
    t.add_column(a["metric"], justify="right")
    for k, label in LABELS.items():
        if a.get(k) is not None:
            t.add_row(label, f"{a[k]:.4f}")
    console.print(t)
    gap = a["golden"] - a["float_exported_codes"]
    console.print(f"golden - float (exported codes): {gap:+.4f} {a['metric']}")
    if "ptq_drop" in a:
        console.print(f"post-training quantization changed {a['metric']} by {a['ptq_drop']:+.4f}")
