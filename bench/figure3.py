"""Ott et al. (2016), Figure 3: a GRU with ternarization applied to the recurrent weights only, the
input weights only, the input weights and biases, and all of them, against float; mean and spread
over seeds. Runs (or resumes) the sweep of docs/results/figure3.toml, then writes
docs/results/figure3.md and figure3.png (validation curves and test BPC).

    .venv/bin/python bench/figure3.py [--report-only]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwgen.sweep.report import load_points  # noqa: E402
from hwgen.sweep.run import run_sweep  # noqa: E402
from hwgen.sweep.spec import load_spec  # noqa: E402

SPEC = ROOT / "docs" / "results" / "figure3.toml"
RESULTS = ROOT / "out" / "sweeps" / "figure3"
ORDER = ["float", "recurrent", "input", "input_bias", "all"]
LABELS = {"float": "float", "recurrent": "recurrent weights only", "input": "input weights only",
          "input_bias": "input weights and biases", "all": "all (input, recurrent, biases)"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--report-only", action="store_true", help="do not run the sweep's missing points")
    args = p.parse_args()
    if not args.report_only:
        run_sweep(load_spec(SPEC), RESULTS, say=print)
    import torch

    runs: dict[str, list[dict]] = {v: [] for v in ORDER}
    for rec in load_points(RESULTS):
        if rec["status"] == "ok" and rec["params"].get("variant") in runs:
            ckpt = torch.load(RESULTS / rec["folder"] / "model.pt", weights_only=True)
            runs[rec["params"]["variant"]].append({"test": rec["metrics"]["test_bpc"], "history": ckpt["history"]})

    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), dpi=100)
    ax_curve, ax_test = fig.subplots(1, 2)
    rows = []
    for i, v in enumerate(ORDER):
        if not runs[v]:
            continue
        steps = [h["step"] for h in runs[v][0]["history"] if "valid_bpc" in h]
        curves = [[h["valid_bpc"] for h in r["history"] if "valid_bpc" in h][:len(steps)] for r in runs[v]]
        n = min(len(c) for c in curves)
        mean = [statistics.fmean(c[k] for c in curves) for k in range(n)]
        ax_curve.plot(steps[:n], mean, label=LABELS[v], color=f"C{i}")
        if len(curves) > 1:
            sd = [statistics.stdev(c[k] for c in curves) for k in range(n)]
            ax_curve.fill_between(steps[:n], [m - s for m, s in zip(mean, sd)], [m + s for m, s in zip(mean, sd)],
                                  color=f"C{i}", alpha=0.15)
        tests = [r["test"] for r in runs[v]]
        m, sd = statistics.fmean(tests), statistics.stdev(tests) if len(tests) > 1 else 0.0
        ax_test.bar(i, m, yerr=sd, color=f"C{i}", capsize=4)
        rows.append((v, m, sd, statistics.variance(tests) if len(tests) > 1 else 0.0, len(tests)))
    ax_curve.set(xlabel="optimizer step", ylabel="validation BPC", title="validation (mean ± sd over seeds)")
    ax_curve.legend(fontsize=8)
    ax_test.set_xticks(range(len(ORDER)), [LABELS[v].replace(" (", "\n(").replace("weights ", "weights\n")
                                           for v in ORDER], fontsize=7)
    ax_test.set(ylabel="test BPC", title="test BPC (mean ± sd)")
    lo = min(r[1] - r[2] for r in rows) if rows else 0
    ax_test.set_ylim(bottom=max(0.0, lo - 0.1))
    for ax in (ax_curve, ax_test):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = ROOT / "docs" / "results"
    fig.savefig(out / "figure3.png", metadata={"Software": None})
    base = next((r[1] for r in rows if r[0] == "float"), None)
    lines = ["# Figure 3 of Ott et al. (2016) with hwgen's training", "",
             "Command: `.venv/bin/python bench/figure3.py` (the sweep `hwgen sweep docs/results/figure3.toml "
             "-o out/sweeps/figure3`: GRU 64 on Penn Treebank characters, 6,000 steps each, the ott2016 preset, "
             "TernaryConnect on the parts named, seeds 0-2).", "",
             "| ternarized | test BPC, mean | sd | variance | runs | difference from float |",
             "|---|---:|---:|---:|---:|---:|"]
    for v, m, sd, var, n in rows:
        diff = f"{m - base:+.3f}" if base is not None and v != "float" else ""
        lines.append(f"| {LABELS[v]} | {m:.3f} | {sd:.3f} | {var:.5f} | {n} | {diff} |")
    lines += ["", "![figure 3](figure3.png)", ""]
    notes = out / "figure3.notes.md"  # a person's reading, kept when the figure is remade
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    (out / "figure3.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
