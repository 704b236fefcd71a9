"""Reproduce the shape of Ott et al. (2016)'s table with hwgen's own training.

Trains every quantizer (float baseline, binary det/stoch, ternary det/stoch, pow2-ternary,
exponential det/stoch) for every cell (RNN, GRU, LSTM) on a dataset with `hwgen train`, two runs
at a time (one thread each, the machine has two cores), and writes a markdown table of the test
metric beside the float baseline of the same run.

    .venv/bin/python bench/paper_table.py ptb      # PTB characters: test bits per character
    .venv/bin/python bench/paper_table.py vowels   # Japanese Vowels: test accuracy

Checkpoints land in out/paper/<suite>/ (not committed); the table goes to
docs/results/paper_table_<suite>.md with the settings and the command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
QUANTIZERS = ["float", "binary", "binary_stochastic", "ternary", "ternary_stochastic",
              "pow2_ternary", "exponential", "exponential_stochastic"]
LABELS = {"float": "float baseline", "binary": "binary (det.)", "binary_stochastic": "binary (stoch.)",
          "ternary": "ternary (det.)", "ternary_stochastic": "ternary (stoch.)",
          "pow2_ternary": "pow2-ternary", "exponential": "exponential (det.)",
          "exponential_stochastic": "exponential (stoch.)"}
CELLS = ["rnn", "gru", "lstm"]

#: Settings per suite, sized so that each suite finishes in about an hour (PTB: 1,000 steps of
#: 32 x 50 characters, about a third of an epoch, per run) or minutes (vowels) on the 2-core
#: development machine. Test metrics are always on the whole test split.
SUITES = {
    "ptb": {"dataset": "ptb-char", "hidden": 128, "epochs": 1, "steps": 1000, "args": ["--eval-every", "1000"],
            "metric": "bpc", "better": "lower"},
    "vowels": {"dataset": "japanese-vowels", "hidden": 32, "epochs": 60, "args": ["--batch", "16"],
               "metric": "accuracy", "better": "higher"},
}


def settings(suite: str, hidden: int | None, epochs: int | None, steps: int | None) -> dict:
    spec = dict(SUITES[suite])
    spec["hidden"] = hidden or spec["hidden"]
    spec["epochs"] = epochs or spec["epochs"]
    spec["steps"] = steps or spec.get("steps")
    budget = ["--epochs", str(spec["epochs"])] + (["--steps", str(spec["steps"])] if spec["steps"] else [])
    spec["args"] = ["--hidden", str(spec["hidden"]), *budget, *spec["args"]]
    spec["tag"] = f"h{spec['hidden']}-e{spec['epochs']}" + (f"-s{spec['steps']}" if spec["steps"] else "")
    return spec


def run_one(spec: dict, cell: str, quantizer: str, seed: int, out_dir: Path) -> dict:
    out = out_dir / f"{cell}-{quantizer}-s{seed}.pt"
    key = f"test_{spec['metric']}"
    if out.exists() and key not in torch.load(out, weights_only=True)["metrics"]:
        out.unlink()  # an interrupted run's best-so-far checkpoint: train it again
    trained = not out.exists()
    if trained:
        cmd = [str(ROOT / ".venv" / "bin" / "hwgen"), "train", "--dataset", spec["dataset"],
               "--cell", cell, "--quantizer", quantizer, "--seed", str(seed), "--out", str(out),
               "--quiet", *spec["args"]]
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        t0 = time.time()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  {cell:4} {quantizer:22} FAILED: {proc.stderr.strip()[-300:]}", flush=True)
            why = "diverged" if "not finite" in proc.stderr else "failed"
            return {"cell": cell, "quantizer": quantizer, "seed": seed, "value": None, "trained": True, "why": why}
        print(f"  {cell:4} {quantizer:22} done in {time.time() - t0:.0f} s", flush=True)
    ckpt = torch.load(out, weights_only=True)
    value = ckpt["metrics"][key]
    return {"cell": cell, "quantizer": quantizer, "seed": seed, "value": float(value), "trained": trained}


def table(suite: str, spec: dict, results: list[dict], seeds: list[int], wall: float, command: str) -> str:
    metric = "test bits per character" if spec["metric"] == "bpc" else "test accuracy"
    by = {(r["cell"], r["quantizer"], r["seed"]): r["value"] for r in results}
    reused = sum(not r["trained"] for r in results)

    def mean(cell, q):
        vals = [by[(cell, q, s)] for s in seeds if by.get((cell, q, s)) is not None]
        return sum(vals) / len(vals) if vals else None

    lines = [f"# {spec['dataset']}: {metric}, every quantizer and cell", "",
             f"Command: `{command}` "
             f"(seeds {', '.join(map(str, seeds))}; {wall / 60:.0f} min wall on the 2-core machine, two runs at a time"
             + (f"; {reused} of the {len(results)} runs were reused from an earlier, interrupted invocation "
                "and are not in that time" if reused else "") + ").",
             "", f"Settings: `hwgen train --dataset {spec['dataset']} {' '.join(spec['args'])}` with hwgen's "
             "defaults otherwise (the ott2016 preset: smooth activations, BatchNorm on the input with gamma "
             "0.1, one bias per gate, the output layer in full precision; one-hot / feature input, Adam 2e-3 "
             "with the plateau schedule and early stopping, batch 32 unless set, gradient clip 1.0, Glorot "
             "init; docs/training.md).", "",
             "Each cell: the mean over seeds; in brackets the difference from the float baseline of the "
             f"same cell ({'lower' if spec['better'] == 'lower' else 'higher'} is better). \"diverged\": "
             "training stopped because the loss or gradient became infinite.", "",
             "| quantizer | " + " | ".join(c.upper() for c in CELLS) + " |",
             "|---|" + "---|" * len(CELLS)]
    for q in QUANTIZERS:
        row = []
        for cell in CELLS:
            v, base = mean(cell, q), mean(cell, "float")
            if v is None:
                row.append(next((r.get("why", "failed") for r in results
                                 if (r["cell"], r["quantizer"]) == (cell, q) and r["value"] is None), "failed"))
            elif q == "float" or base is None:
                row.append(f"{v:.3f}")
            else:
                row.append(f"{v:.3f} ({v - base:+.3f})")
        lines.append(f"| {LABELS[q]} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("suite", choices=sorted(SUITES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--hidden", type=int, help="hidden size (default: the suite's)")
    p.add_argument("--epochs", type=int, help="epochs (default: the suite's)")
    p.add_argument("--steps", type=int, help="optimizer steps at most (default: the suite's)")
    args = p.parse_args()
    spec = settings(args.suite, args.hidden, args.epochs, args.steps)
    command = ".venv/bin/python bench/paper_table.py " + " ".join(sys.argv[1:])
    out_dir = ROOT / "out" / "paper" / args.suite / spec["tag"]
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(cell, q, s) for s in args.seeds for q in QUANTIZERS for cell in CELLS]
    print(f"{len(jobs)} runs of {args.suite}, {args.jobs} at a time", flush=True)
    t0 = time.time()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda j: run_one(spec, *j, out_dir), jobs))
    text = table(args.suite, spec, results, args.seeds, time.time() - t0, command)
    dest = ROOT / "docs" / "results" / f"paper_table_{args.suite}_{spec['tag']}.md"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    print(text)
    print(f"wrote {dest}")
    if any(r["value"] is None for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
