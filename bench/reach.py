"""What the throughput goals ask of the datapath: for each goal, the lanes that reach it at the
clock measured, and the clock that reaches it at the lanes that fit. Arithmetic on the designs'
plans (cycles per step, exact: the figure simulation measures), no synthesis; the measured facts
it starts from (lanes that fit, Fmax) are the inputs of each case, with where they were measured.

    .venv/bin/python bench/reach.py [--markdown FILE]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

EXAMPLE = ROOT / "examples" / "ptb-gru128-exponential.pt"


@dataclass(frozen=True)
class Case:
    goal: str  # what was asked
    model: str  # "example" or "h256" (bench/fit.py's random ternary GRU)
    target: str
    steps: float  # the goal, time steps (characters) per second
    lanes: int  # the design that fits, as measured
    mhz: float  # the clock it runs at, as measured
    where: str  # where lanes and clock were measured
    output: str = "logits"
    dsp: bool = False


CASES = (
    Case("4x the 4-lane dense design (1,373 steps/s, stop-24 run)", "example", "ice40-up5k", 4 * 1373, 4, 39.3,
         "docs/results/throughput.md, median of 3 seeds", dsp=True),
    Case("hidden-256 ternary GRU, 4,000 steps/s", "h256", "ice40-up5k", 4000, 16, 36.8,
         "docs/results/fit_up5k.md, median of 3 seeds"),
    Case("iCEBreaker, 50,000 characters/s, argmax", "example", "ice40-up5k", 50_000, 7, 27.0,
         "docs/results/board_link.md: the PLL clock, placed at 31.9", output="argmax", dsp=True),
    Case("ULX3S, 50,000 characters/s, argmax", "example", "ecp5-25k", 50_000, 32, 35.0,
         "docs/board.md: the PLL clock, placed at 41.2", output="argmax"),
)


def load(name: str):
    if name == "example":
        from hwgen.api import load as load_model
        return load_model(EXAMPLE)
    from fit import char_gru
    return char_gru(256)


def cycles(qmodel, case: Case, lanes: int) -> int:
    from hwgen.generator.planner import plan_design
    weights = "spram" if case.target == "ice40-up5k" else "rom"
    return plan_design(qmodel, lanes=lanes, output=case.output, lane_dsps=case.dsp, weights=weights,
                       multipliers=None).cycles_per_step


def row(qmodel, case: Case) -> list[str]:
    from hwgen.build import max_lanes

    most = max_lanes(qmodel)  # a full weight row a cycle: more lanes would sit idle
    at = cycles(qmodel, case, case.lanes)
    budget = case.mhz * 1e6 / case.steps  # cycles per step the goal allows at the measured clock
    fewest = next((p for p in range(case.lanes, most + 1) if cycles(qmodel, case, p) <= budget), None)
    full = cycles(qmodel, case, most)
    need = (f"{fewest} ({cycles(qmodel, case, fewest):,} cycles)" if fewest is not None else
            f"none: a full row a cycle takes {full:,} cycles, {case.mhz * 1e6 / full:,.0f}/s")
    return [case.goal, case.target, f"{case.lanes} lanes, {at:,} cycles at {case.mhz:g} MHz ({case.where})",
            f"{case.mhz * 1e6 / at:,.0f}", f"{budget:,.0f}", need, f"{case.steps * at / 1e6:,.1f}",
            f"{case.steps * full / 1e6:,.1f}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", type=Path, help="also write the table here")
    args = ap.parse_args()
    models = {}
    head = ["goal", "target", "design that fits (measured)", "its steps/s", "cycles per step the goal allows",
            "fewest lanes that reach it at that clock", "MHz it needs at the lanes that fit",
            "MHz it needs with a full row a cycle"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in CASES:
        if case.model not in models:
            models[case.model] = load(case.model)
        lines.append("| " + " | ".join(row(models[case.model], case)) + " |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.markdown:
        cmd = " ".join(["bench/reach.py", *sys.argv[1:]])
        args.markdown.write_text(f"# What the throughput goals ask\n\nCommand: `.venv/bin/python {cmd}`\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
