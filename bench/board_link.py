"""End-to-end time steps per second through the board's UART for a build, simulated.

Reads a `hwgen build --bitstream` folder (its model, design.json and the report's clock, baud and
UART divisor), simulates the whole board top under Verilator (sim/board.py: the host sends the
weights image, then steps with two in flight; every answer checked against the golden model) and
turns the cycles the host waited per step into steps per second at the board's clock. Beside it,
the report's arithmetic (link_rates) and, as the baseline, the same arithmetic for the bridge as
it was before the PLL (the 12 MHz oscillator, 115,200 baud, the build's payloads).

    python bench/board_link.py BUILD_DIR [--steps N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", type=Path, help="a hwgen build folder made with --bitstream")
    ap.add_argument("--steps", type=int, default=4, help="steps per sequence, two sequences (default 4)")
    args = ap.parse_args()

    from hwgen.board_build import link_rates
    from hwgen.generator.plan import DesignPlan
    from hwgen.qmodel_file import load
    from hwgen.toolchain.boards import BoardClock
    from sim.board import simulate_board

    report = json.loads((args.build / "build_report.json").read_text())
    b = report.get("bitstream")
    if b is None:
        sys.exit(f"{args.build}: not a --bitstream build (no bitstream entry in build_report.json)")
    qmodel = load(args.build / "model.qmodel.json")
    plan = DesignPlan.from_json(json.loads((args.build / "design.json").read_text()))
    clock_hz = round(b["clock_mhz"] * 1e6)
    t0 = time.perf_counter()
    run = simulate_board(qmodel, plan, b["uart_divisor"], sim="verilator", steps=args.steps, sequences=2)
    wall = time.perf_counter() - t0
    simulated = clock_hz / run["cycles_per_step"]
    rates = b["link"]
    before = link_rates(BoardClock(12_000_000, None, 115_200), plan)
    print(f"{report['model']['name']}: {plan.cycles_per_step:,} cycles per step, output {plan.params.output}, "
          f"{rates['bytes_in']} byte(s) in, {rates['bytes_out']} out")
    print(f"board clock {b['clock_mhz']:g} MHz ({'PLL' if b['pll'] else 'oscillator'}), {b['baud']:,} baud, "
          f"divisor {b['uart_divisor']}")
    print(f"simulated (Verilator, {run['steps']} steps, 0 mismatches, {wall:.0f} s): "
          f"{run['cycles_per_step']:,.0f} cycles per step = {simulated:,.0f} steps/s end to end")
    print(f"arithmetic: link {rates['link_steps_per_second']:,.0f}, design {rates['design_steps_per_second']:,.0f}, "
          f"end to end {rates['steps_per_second']:,.0f}, one at a time {rates['one_at_a_time_steps_per_second']:,.0f}")
    print(f"baseline (12 MHz oscillator, 115,200 baud, same design and payloads): "
          f"{before['steps_per_second']:,.0f} steps/s; simulated/baseline {simulated / before['steps_per_second']:.1f}x")


if __name__ == "__main__":
    main()
