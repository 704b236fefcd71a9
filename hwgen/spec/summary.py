"""What a QModel holds, as data (for reports) and as tables (for `hwgen inspect`)."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from .activation import error_bound
from .golden import signal_bounds
from .ir import CodeKind, EmbeddingInput, QModel, WeightCodes
from ..qmodel_file import digest


def code_bits(w: WeightCodes) -> int:
    """Bits one stored code takes: binary 1, ternary 2, pow2 sign + exponent index (or zero),
    fixed a two's-complement mantissa."""
    if w.kind is CodeKind.BINARY:
        return 1
    if w.kind is CodeKind.TERNARY:
        return 2
    if w.kind is CodeKind.POW2:
        return 1 + int(w.span + 1).bit_length()  # span + 1 exponents and the zero code
    return w.span + 1


def code_histogram(w: WeightCodes) -> dict[str, int]:
    """Counts per weight value class: ``0``, and ``+-2^e`` (pow2 / binary / ternary; times the
    row's scale where there is one) or each mantissa (fixed), keyed by readable labels, in order."""
    q = w.q
    hist = {"0": int(np.count_nonzero(q == 0))}
    if w.kind is CodeKind.FIXED:
        values, counts = np.unique(np.abs(q[q != 0]), return_counts=True)
        hist.update({f"|q|={v}": int(c) for v, c in zip(values, counts)})
        return hist
    mag = np.abs(q[q != 0])
    scaled = "·scale" if w.scale is not None else ""  # the per-row scale multiplies every level
    for k in range(w.span + 1):
        hist[f"±2^{w.exp + k}{scaled}"] = int(np.count_nonzero(mag == (1 << k)))
    return hist


def weight_stats(w: WeightCodes) -> dict:
    bits = code_bits(w)
    return {
        "kind": w.kind.value,
        "shape": list(w.shape),
        "window": [w.exp, w.exp + w.span] if w.kind is CodeKind.POW2 else None,
        "scale": None if w.scale is None else {"frac": w.scale.frac, "min": int(w.scale.values.min()),
                                               "max": int(w.scale.values.max())},
        "sparsity": float(np.mean(w.q == 0)),
        "bits_per_weight": bits,
        "memory_bits": bits * w.q.size,
        "histogram": code_histogram(w),
    }


def describe(qmodel: QModel) -> dict:
    """The model as plain data: stages, formats, activations, weight statistics, signal widths."""
    stage = qmodel.input
    inp = {"kind": "embedding", "vocab": stage.vocab_size, "dim": stage.out_size} \
        if isinstance(stage, EmbeddingInput) else {"kind": "features", "size": stage.size}
    inp["fmt"] = str(stage.fmt)
    layers = []
    for layer in qmodel.layers:
        f = layer.formats
        layers.append({
            "kind": layer.kind, "input_size": layer.input_size, "hidden_size": layer.hidden_size,
            "formats": {k: str(v) for k, v in vars(f).items() if v is not None},
            "activations": {
                name: {"func": a.func.value, "impl": a.impl.value, "out": str(a.out),
                       "entries": len(a.values) if a.values is not None else None,
                       "max_error": error_bound(a)}
                for name, a in layer.activations.items()
            },
            "w_ih": weight_stats(layer.w_ih), "w_hh": weight_stats(layer.w_hh),
        })
    out = None
    if qmodel.output is not None:
        out = {"size": qmodel.output.out_size, "fmt": str(qmodel.output.out), "w": weight_stats(qmodel.output.w)}
    widths = {name: {"frac": fx.frac, "width": fx.width} for name, fx in signal_bounds(qmodel).items()}
    return {"name": qmodel.name, "digest": digest(qmodel), "input": inp, "layers": layers,
            "output": out, "signals": widths}


def print_description(d: dict, console: Console | None = None) -> None:
    console = console or Console()
    console.print(f"[bold]{d['name']}[/bold]  sha256 {d['digest'][:16]}…")
    inp = d["input"]
    what = f"embedding {inp['vocab']} tokens × {inp['dim']}" if inp["kind"] == "embedding" else f"features × {inp['size']}"
    console.print(f"input: {what}, format {inp['fmt']}")
    for i, layer in enumerate(d["layers"]):
        t = Table(title=f"layer {i}: {layer['kind']} {layer['input_size']} → {layer['hidden_size']}",
                  title_justify="left")
        _weight_table(t, {name: layer[name] for name in ("w_ih", "w_hh")}, console)
        console.print("  formats: " + ", ".join(f"{k} {v}" for k, v in layer["formats"].items()))
        for name, a in layer["activations"].items():
            impl = f"table of {a['entries']}" if a["entries"] else a["impl"]
            console.print(f"  {name}: {a['func']} ({impl}) → {a['out']}, max error {a['max_error']:.2e}")
    if d["output"]:
        t = Table(title=f"output: dense → {d['output']['size']}, format {d['output']['fmt']}", title_justify="left")
        _weight_table(t, {"w": d["output"]["w"]}, console)
    s = Table(title="signal widths (exact worst case)", title_justify="left")
    for col in ("signal", "frac", "width"):
        s.add_column(col)
    for name, v in d["signals"].items():
        s.add_row(name, str(v["frac"]), str(v["width"]))
    console.print(s)


def _weight_table(t: Table, weights: dict[str, dict], console: Console) -> None:
    for col in ("matrix", "codes", "shape", "window", "bits/w", "memory bits", "sparsity"):
        t.add_column(col, no_wrap=True)
    for name, w in weights.items():
        window = f"[{w['window'][0]}, {w['window'][1]}]" if w["window"] else "-"
        t.add_row(name, w["kind"] + (" ×scale" if w["scale"] else ""), "×".join(map(str, w["shape"])),
                  window, str(w["bits_per_weight"]), str(w["memory_bits"]), f"{w['sparsity']:.1%}")
    console.print(t)
    for name, w in weights.items():
        console.print(f"  {name} codes: " + "  ".join(f"{k}: {v}" for k, v in w["histogram"].items()))
