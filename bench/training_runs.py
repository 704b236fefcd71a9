"""A table and a plot of finished `hwgen train` runs, read from their checkpoints: the best
step, validation and test metric, steps, wall time, and every run's validation curve in one PNG.

    .venv/bin/python bench/training_runs.py out/runs/ptb-gru128-*.pt \\
        --title "PTB characters, GRU 128, ott2016 preset, seed 0" --out docs/results/ptb_gru128_seed0

writes OUT.md and OUT.png. The runs' commands are read from nothing: say them in --note.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from train.checkpoint import load_checkpoint


def describe(path: Path) -> dict:
    ck = load_checkpoint(path)
    m, cfg = ck["metrics"], ck["config"]
    q = (cfg["quantizer"] or {"name": "float"})["name"]
    metric = m["metric"]
    seed = ((ck.get("train_state") or {}).get("settings") or {}).get("seed", path.stem.rsplit("-s", 1)[-1])
    return {"run": path.stem, "seed": seed, "cell": cfg["cell"], "hidden": "x".join(map(str, cfg["hidden"])), "quantizer": q,
            "metric": metric, "valid": m.get(f"valid_{metric}"), "test": m.get(f"test_{metric}"),
            "best_step": m.get("step"), "steps": m.get("steps_trained"), "minutes": (m.get("seconds") or 0) / 60,
            "stopped_early": m.get("stopped_early"), "history": ck["history"]}


def plot(runs: list[dict], title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.subplots()
    for r in runs:
        h = [x for x in r["history"] if x["step"] > 0]
        ax.plot([x["epoch"] for x in h], [x[f"valid_{r['metric']}"] for x in h],
                label=f"{r['quantizer']} ({r['hidden']}, seed {r['seed']})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {runs[0]['metric']}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--title", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--note", default="")
    args = p.parse_args()
    runs = [describe(r) for r in args.runs]
    base = {(r["cell"], r["hidden"], r["seed"]): r for r in runs if r["quantizer"] == "float"}
    lines = [f"# {args.title}", "", args.note, "",
             f"| run | quantizer | hidden | best step | valid {runs[0]['metric']} | test {runs[0]['metric']} | test - float | steps | early stop | minutes |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---:|"]  # test - float: the same seed
    for r in runs:
        f = base.get((r["cell"], r["hidden"], r["seed"]))
        diff = "" if f is None or r is f else f"{r['test'] - f['test']:+.3f}"
        lines.append(f"| {r['run']} | {r['quantizer']} | {r['hidden']} | {r['best_step']} | {r['valid']:.3f} | "
                     f"{r['test']:.3f} | {diff} | {r['steps']} | {'yes' if r['stopped_early'] else 'no'} | "
                     f"{r['minutes']:.0f} |")
    lines += ["", "Over seeds (mean; in brackets the spread, lowest to highest; difference of the means "
              "from float of the same size):", "",
              f"| hidden | quantizer | seeds | test {runs[0]['metric']} | - float |", "|---|---|---:|---:|---:|"]
    groups: dict = {}
    for r in runs:
        groups.setdefault((r["cell"], r["hidden"], r["quantizer"]), []).append(r["test"])
    for (cell, hidden, q), vals in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2] != "float", kv[0][2])):
        mean = sum(vals) / len(vals)
        f = groups.get((cell, hidden, "float"))
        diff = "" if q == "float" or not f else f"{mean - sum(f) / len(f):+.3f}"
        spread = f" ({min(vals):.3f}-{max(vals):.3f})" if len(vals) > 1 else ""
        lines.append(f"| {hidden} | {q} | {len(vals)} | {mean:.3f}{spread} | {diff} |")
    lines += ["", f"![validation curves]({args.out.name}.png)", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.md").write_text("\n".join(lines))
    plot(runs, args.title, Path(f"{args.out}.png"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
