"""Simulation speed: simulated cycles per second under Icarus and Verilator, and where the time goes.

    .venv/bin/python bench/sim_speed.py                   # example + Python-overhead probe
    .venv/bin/python bench/sim_speed.py --regression      # also: wall time of the CI regression per simulator
    .venv/bin/python bench/sim_speed.py --json out.json

1. The shipped example (the trained PTB GRU if present, else the untrained character GRU;
   folded datapath, 4 lanes) on PTB text: compile time, simulated cycles, wall time of the
   simulation, cycles/s, and how many times the bench's Python woke up.
2. The Python per-cycle cost, measured on the stand-in design (tests/sim_standin/) that moves a
   beat every cycle: the bench must wake every cycle there, so cycles/s is bounded by Python.
   The same design with 200 busy cycles per step shows the bench asleep while the design works.
   ``sleep=False`` rows force a wake-up every cycle (the naive bench) for comparison.
3. ``--regression``: wall time of `pytest -m "sim and not slow"` restricted to one simulator.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim import runner  # noqa: E402

STANDIN = ROOT / "tests" / "sim_standin"


def row(label, sim, result, extra=""):
    s = result.summary
    return {"case": label, "sim": sim, "compile_s": round(result.compile_s, 2), "cycles": s["cycles"],
            "steps": s["steps"], "sim_wall_s": round(s["sim_wall_s"], 3),
            "cycles_per_s": round(result.cycles_per_s), "wakeups": s["wakeups"],
            "wakeups_per_cycle": round(s["wakeups"] / max(s["cycles"], 1), 4), "note": extra}


def example_rows(sims, root, chars, lanes):
    from sim.designs import DesignParams, example_model, golden_spec, ptb_text, qmodel_design, text_to_tokens

    qm, source = example_model()
    design, qpath = qmodel_design(qm, DesignParams(style="folded", lanes=lanes), root / "designs")
    tokens = text_to_tokens(qm, ptb_text(chars))
    rows = []
    for sim in sims:
        # first call compiles; a second, separate measurement of the compile alone is the build
        ref = golden_spec(qpath, None, sequences=1, seed=1, tokens=[tokens], cycles_per_step=design.cycles_per_step)
        r = runner.run(design, sim, ref, seed=1, root=root, idle=0.0, backpressure=0.0, waves="never")
        if not r.ok:
            raise SystemExit(r.describe())
        rows.append(row(f"example {Path(source).name} ({chars} chars, folded p{lanes})", sim, r))
    return rows


def standin_rows(sims, root):
    rows = []
    for busy, sleep in ((0, True), (200, True), (200, False)):
        design = runner.Design(f"accum_echo-b{busy}", "accum_echo", (STANDIN / "accum_echo.v",),
                               {"BUSY": busy, "BUG": 0}, payload_widths=(9, 9))
        steps = 20000 if busy == 0 else 500
        ref = {"factory": "accum_ref:AccumReference", "path": [str(STANDIN)],
               "kwargs": {"sequences": steps // 10, "min_len": 10, "max_len": 10, "busy": busy}}
        for sim in sims:
            r = runner.run(design, sim, ref, seed=1, root=root, idle=0.0, backpressure=0.0,
                           waves="never", options={"sleep": sleep})
            if not r.ok:
                raise SystemExit(r.describe())
            what = "a beat every cycle" if busy == 0 else f"{busy} busy cycles per step"
            rows.append(row(f"stand-in, {what}, sleep={sleep}", sim, r))
    return rows


def regression_rows(sims):
    rows = []
    for sim in sims:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "sim and not slow", "-k", sim,
                               "tests/test_sim_bench.py", "tests/test_sim_regression.py"],
                              cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]
        rows.append({"case": "CI regression (quick set)", "sim": sim, "wall_s": round(wall, 1), "pytest": last})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sim", action="append", choices=runner.SIMULATORS, help="default: both")
    p.add_argument("--chars", type=int, default=200, help="PTB characters for the example (default 200)")
    p.add_argument("--lanes", type=int, default=4)
    p.add_argument("--regression", action="store_true", help="also time the quick regression per simulator")
    p.add_argument("--no-example", action="store_true", help="skip the example (e.g. without the generator)")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    sims = args.sim or list(runner.SIMULATORS)
    for sim in sims:
        runner.find_simulator(sim)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sim_speed-") as tmp:
        root = Path(tmp)
        if not args.no_example:
            rows += example_rows(sims, root, args.chars, args.lanes)
        rows += standin_rows(sims, root)
    if args.regression:
        rows += regression_rows(sims)
    for r in rows:
        if "cycles_per_s" in r:
            print(f"{r['case']:58s} {r['sim']:9s} compile {r['compile_s']:6.1f} s  {r['cycles']:>9,} cycles "
                  f"in {r['sim_wall_s']:7.2f} s = {r['cycles_per_s']:>9,} cycles/s  "
                  f"({r['wakeups_per_cycle']:.3f} Python wake-ups per cycle)")
        else:
            print(f"{r['case']:58s} {r['sim']:9s} wall {r['wall_s']:6.1f} s  ({r['pytest']})")
    by = {(r["case"], r["sim"]): r for r in rows if "cycles_per_s" in r}
    for case in dict.fromkeys(r["case"] for r in rows if "cycles_per_s" in r):
        if (case, "icarus") in by and (case, "verilator") in by:
            ratio = by[case, "verilator"]["cycles_per_s"] / max(by[case, "icarus"]["cycles_per_s"], 1)
            print(f"Verilator / Icarus, {case}: {ratio:.1f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
