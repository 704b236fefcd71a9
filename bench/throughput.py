"""Time steps per second of the shipped example (or ``--model``) on the UP5K: the design `hwgen
build` chooses by default against the dense reference (`--input-reads dense --state-reads dense
--lane-products logic`: every chunk of every row's codes read, shift-add lanes), both fitted, placed and routed in the same run (Fmax the
median of nextpnr seeds 1..N), so the ratio does not depend on how busy the machine is.

    .venv/bin/python bench/throughput.py [--model M] [--seeds 3] [--output argmax] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ptb-gru128-exponential.pt"
DESIGNS = {"default (auto)": [],
           "dense reference": ["--input-reads", "dense", "--state-reads", "dense", "--lane-products", "logic"]}


def build(model: str, out: Path, seeds: int, extra: list[str]) -> tuple[dict, float]:
    cmd = [str(ROOT / ".venv" / "bin" / "hwgen"), "build", model, "--target", "ice40", "-o", str(out),
           "--pnr", "--pnr-seeds", str(seeds), *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "build_report.json").read_text()), time.perf_counter() - t0


def row(name: str, r: dict) -> list[str]:
    d, p, syn = r["design"], r["pnr"], {x["resource"]: x["used"] for x in r["synthesis"]["rows"]}
    lc = p["utilization"].get("lc", {})
    reads = [what for what, on in (("hot input", d.get("hot_column_reads")), ("zero-skipping", d.get("zero_skipping")),
                                   ("lanes on DSPs", d.get("lane_multipliers"))) if on]
    return [name, f"{d['style']}, {d['lanes']}" + "".join(f", {r}" for r in reads), f"{d['cycles_per_step']:,}",
            f"{p['fmax_mhz']:.1f} ({p['fmax_worst_mhz']:.1f}-{p['fmax_best_mhz']:.1f})",
            f"{p['steps_per_second']:,.0f}", f"{lc.get('used', 0):,}",
            ", ".join(f"{k} {v:,}" for k, v in syn.items() if k in ("ebr", "spram", "dsp"))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(EXAMPLE))
    ap.add_argument("--seeds", type=int, default=3, help="nextpnr seeds per design (Fmax: their median)")
    ap.add_argument("--output", choices=("logits", "argmax"), help="the designs' output (default: the build's)")
    ap.add_argument("--markdown", type=Path, help="also write the table here")
    args = ap.parse_args()
    reports = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, extra) in enumerate(DESIGNS.items()):
            print(f"building {name} ...", flush=True)
            out = ["--output", args.output] if args.output else []
            reports[name], secs = build(args.model, Path(tmp) / f"d{k}", args.seeds, extra + out)
            print(f"  {secs:.0f} s", flush=True)
    (new, new_r), (old, old_r) = reports.items()
    ratio = new_r["pnr"]["steps_per_second"] / old_r["pnr"]["steps_per_second"]
    cycles = old_r["design"]["cycles_per_step"] / new_r["design"]["cycles_per_step"]
    head = ["design", "datapath (style, lanes)", "cycles per step", f"Fmax MHz, median of {args.seeds} seeds (range)",
            "time steps per second", "logic cells packed", "memories (synthesis)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row(n, r)) + " |" for n, r in reports.items()]
    text = "\n".join(lines) + (f"\n\n{Path(args.model).name} on {new_r['target']['name']}: {ratio:.2f}x the time steps "
                               f"per second of the dense reference ({cycles:.2f}x fewer cycles per step), measured in "
                               "one run by `bench/throughput.py`.\n")
    print(text)
    if args.markdown:
        cmd = " ".join(["bench/throughput.py", *sys.argv[1:]])
        args.markdown.write_text(f"# Throughput of {Path(args.model).name}\n\nCommand: `.venv/bin/python {cmd}`\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
