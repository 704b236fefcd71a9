"""Tables and plots from a sweep's results folder (its ``point.json`` files alone).

* the paper table: per dataset and size, the test metric of each quantizer (rows) and cell
  (columns), mean and sample standard deviation over seeds, and the difference from the float
  baseline of the same cell;
* the design space: every hardware point's accuracy against logic cells and against time steps per
  second, the Pareto front marked, as a table and a PNG.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from train.names import CELLS, QUANTIZERS

from ..files import write_atomic
from .run import read_point

LABELS = {"float": "float baseline", "binary": "binary (det.)", "binary_stochastic": "binary (stoch.)",
          "ternary": "ternary (det.)", "ternary_stochastic": "ternary (stoch.)", "pow2_ternary": "pow2-ternary",
          "exponential": "exponential (det.)", "exponential_stochastic": "exponential (stoch.)"}


def load_points(results: Path) -> list[dict]:
    """Every point.json under ``results`` (sorted by folder)."""
    points = []
    for path in sorted(Path(results).glob("*/*/point.json")):
        rec = read_point(path.parent)
        if rec is not None:
            points.append(rec)
    return points


def test_metric(metrics: dict) -> tuple[str, float] | None:
    """``(name, value)`` of the recorded test metric (bpc, accuracy, ...; not the loss)."""
    for k, v in sorted(metrics.items()):
        if k.startswith("test_") and k != "test_loss":
            return k.removeprefix("test_"), v
    return None


def lower_is_better(metric: str) -> bool:
    return metric in ("bpc", "loss", "perplexity")


# ------------------------------------------------------------------------------------------------
# the paper table


def paper_tables(points: list[dict]) -> list[str]:
    """Markdown tables, one per (dataset, hidden size, other varied settings)."""
    groups = defaultdict(lambda: defaultdict(list))
    for rec in points:
        if rec["kind"] != "train" or rec["status"] != "ok":
            continue
        m = test_metric(rec.get("metrics", {}))
        if m is None:
            continue
        params = rec["params"]
        rest = tuple(sorted((k, v) for k, v in params.items() if k not in ("cell", "quantizer", "seed")))
        groups[(rest, m[0])][(params.get("cell", "gru"), params.get("quantizer", "float"))].append(m[1])
    failed = defaultdict(list)
    for rec in points:
        if rec["kind"] == "train" and rec["status"] != "ok":
            failed[(rec["params"].get("cell", "gru"), rec["params"].get("quantizer", "float"))].append(rec)
    tables = []
    for (rest, metric), cells in sorted(groups.items()):
        used = [c for c in CELLS if any(k[0] == c for k in cells)]
        title = ", ".join(f"{k} {v}" for k, v in rest)
        better = "lower" if lower_is_better(metric) else "higher"
        lines = [f"### {title}: test {metric}", "",
                 f"Mean ± sample standard deviation over seeds (n runs); in brackets the difference of the "
                 f"mean from the float baseline of the same cell ({better} is better).", "",
                 "| quantizer | " + " | ".join(c.upper() for c in used) + " |", "|---|" + "---|" * len(used)]
        for q in QUANTIZERS:
            if not any((c, q) in cells or (c, q) in failed for c in used):
                continue
            row = []
            for c in used:
                vals = cells.get((c, q), [])
                if not vals:
                    row.append("failed" if (c, q) in failed else "")
                    continue
                mean = statistics.fmean(vals)
                text = f"{mean:.3f}" + (f" ± {statistics.stdev(vals):.3f}" if len(vals) > 1 else "") + f" (n={len(vals)})"
                base = cells.get((c, "float"))
                if q != "float" and base:
                    text += f" [{mean - statistics.fmean(base):+.3f}]"
                row.append(text)
            lines.append(f"| {LABELS.get(q, q)} | " + " | ".join(row) + " |")
        tables.append("\n".join(lines) + "\n")
    return tables


# ------------------------------------------------------------------------------------------------
# the design space


def logic_cells(metrics: dict) -> tuple[int | None, str]:
    """Logic cells placed (nextpnr) where the point was placed and routed, else yosys's estimate."""
    for run in metrics.get("pnr", []):
        lc = run.get("utilization", {}).get("lc", {}).get("used")
        if lc is not None:
            return int(lc), "placed"
    if metrics.get("lc_estimate"):
        return int(metrics["lc_estimate"]), "estimate"
    if metrics.get("cells"):  # a generic target: yosys's gate-level cells, not FPGA logic cells
        return int(metrics["cells"]), "gates"
    return None, ""


def design_rows(points: list[dict]) -> list[dict]:
    rows = []
    for rec in points:
        if rec["kind"] != "hardware" or rec["status"] != "ok":
            continue
        m = rec.get("metrics", {})
        lc, how = logic_cells(m)
        acc = test_metric(m)
        params = rec["params"]
        rows.append({"folder": rec["folder"], "model": params.get("model_name") or Path(params["model"]).name,
                     "target": rec["params"]["target"], "style": m.get("style"), "lanes": m.get("lanes"),
                     "weights": m.get("weights"), "cycles": m.get("cycles_per_step"), "lc": lc, "lc_how": how,
                     "ebr": m.get("ebr"), "spram": m.get("spram"), "fmax": m.get("fmax_median_mhz"),
                     "fmax_spread": m.get("fmax_spread_mhz"), "steps_per_second": m.get("steps_per_second"),
                     "metric": acc[0] if acc else None, "value": acc[1] if acc else None})
    return rows


def pareto(rows: list[dict], cost: str, minimize_cost: bool) -> set[str]:
    """Folders of the rows no other row beats on both the metric and ``cost``."""
    usable = [r for r in rows if r["value"] is not None and r[cost] is not None]
    front = set()
    for r in usable:
        sign = 1 if lower_is_better(r["metric"]) else -1

        def better_or_equal(a, b):
            acc = sign * a["value"] <= sign * b["value"]
            c = a[cost] <= b[cost] if minimize_cost else a[cost] >= b[cost]
            return acc and c

        dominated = any(better_or_equal(o, r) and (o["value"] != r["value"] or o[cost] != r[cost])
                        for o in usable if o is not r)
        if not dominated:
            front.add(r["folder"])
    return front


def design_table(rows: list[dict]) -> str:
    by_lc, by_speed = pareto(rows, "lc", True), pareto(rows, "steps_per_second", False)
    lines = ["| model | target | datapath | cycles/step | logic cells | EBR | SPRAM | Fmax MHz (median, spread) "
             "| steps/s | test metric | Pareto |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in sorted(rows, key=lambda r: (r["model"], r["target"], r["lc"] or 0)):
        marks = [m for m, s in (("cells", by_lc), ("speed", by_speed)) if r["folder"] in s]
        fmax = f"{r['fmax']:.1f} ({r['fmax_spread']:.1f})" if r["fmax"] is not None else "-"
        metric = f"{r['metric']} {r['value']:.3f}" if r["value"] is not None else "-"
        lines.append(f"| {r['model']} | {r['target']} | {r['style']}, {r['lanes']} lanes, {r['weights']} | "
                     f"{r['cycles']:,} | {r['lc'] or '-'}{ {'estimate': ' (est.)', 'gates': ' (gates)'}.get(r['lc_how'], '')} | "
                     f"{r['ebr'] if r['ebr'] is not None else '-'} | {r['spram'] if r['spram'] is not None else '-'} | "
                     f"{fmax} | {r['steps_per_second'] or '-'} | {metric} | {', '.join(marks)} |")
    return "\n".join(lines) + "\n"


def design_plot(rows: list[dict], path: Path) -> Path | None:
    """Accuracy against logic cells and against steps per second, the Pareto fronts joined."""
    usable = [r for r in rows if r["value"] is not None and r["lc"] is not None]
    if not usable:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=100)
    axes = fig.subplots(1, 2)
    metric = usable[0]["metric"]
    panels = [(axes[0], "lc", "logic cells", True), (axes[1], "steps_per_second", "time steps per second", False)]
    for ax, cost, label, minimize in panels:
        pts = [r for r in usable if r[cost] is not None]
        front = pareto(pts, cost, minimize)
        models = sorted({r["model"] for r in pts})
        for i, model in enumerate(models):
            mine = [r for r in pts if r["model"] == model]
            ax.scatter([r[cost] for r in mine], [r["value"] for r in mine], label=model, color=f"C{i}", s=28)
            for r in mine:
                ax.annotate(f"P{r['lanes']}", (r[cost], r["value"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        line = sorted((r for r in pts if r["folder"] in front), key=lambda r: r[cost])
        if line:
            ax.plot([r[cost] for r in line], [r["value"] for r in line], color="black", linewidth=1,
                    linestyle="--", label="Pareto front")
        ax.set_xlabel(label)
        ax.set_ylabel(f"test {metric} ({'lower' if lower_is_better(metric) else 'higher'} is better)")
        ax.grid(alpha=0.3)
        if cost == "steps_per_second" and pts and max(r[cost] for r in pts) > 20 * max(1, min(r[cost] for r in pts)):
            ax.set_xscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle("design space: accuracy against cost")
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", metadata={"Software": None}), binary=True)
    return path


# ------------------------------------------------------------------------------------------------


def write_report(results: Path, name: str, command: str, out: Path | None = None, spec=None) -> Path:
    """``report.md`` (and ``design_space.png`` when there are hardware points) in ``out``
    (default: the results folder), ending with ``out/notes.md`` where a person wrote one. With the
    ``spec``, the report says how much of its grid has not run yet."""
    results = Path(results)
    out = Path(out or results)
    out.mkdir(parents=True, exist_ok=True)
    points = load_points(results)
    ok = [p for p in points if p["status"] == "ok"]
    bad = [p for p in points if p["status"] != "ok"]
    lines = [f"# Sweep {name}", "", f"Command: `{command}`. {len(ok)} point(s) finished, {len(bad)} failed.", ""]
    if spec is not None:
        waiting = [p for p in spec.train if read_point(results / p.folder) is None]
        if waiting:
            lines += [f"**Unfinished grid**: {len(waiting)} of its {len(spec.train)} training points have not "
                      f"finished yet (the command above resumes it): "
                      + ", ".join(p.folder.split("/", 1)[1] for p in waiting) + ".", ""]
    tables = paper_tables(points)
    if tables:
        lines += ["## Training: the paper table", ""] + tables
    rows = design_rows(points)
    if rows:
        plot = design_plot(rows, out / "design_space.png")
        lines += ["## Hardware: the design space", "",
                  "Logic cells as placed by nextpnr where the point was placed and routed (else yosys's "
                  "estimate, marked; a generic target counts gate-level cells); Fmax the median over the place-and-route seeds (spread: best minus "
                  "worst); steps per second at that median; the test metric is the one the model's "
                  "checkpoint records (its quantized float model). Pareto: no other design is at least as "
                  "good on both the metric and logic cells (cells) or steps per second (speed).", "",
                  design_table(rows)]
        if plot is not None:
            lines += [f"![design space]({plot.name})", ""]
    if bad:
        lines += ["## Failed points", "", "| point | error |", "|---|---|"]
        lines += [f"| {p['folder']} | {p.get('error', '').replace('|', '/')[:300]} |" for p in bad]
        lines.append("")
    notes = out / "notes.md"  # a person's reading of the results, kept when the report is rewritten
    if notes.exists():
        lines += ["", notes.read_text().strip(), ""]
    path = out / "report.md"
    write_atomic(path, lambda f: f.write("\n".join(lines).rstrip() + "\n"))
    return path
