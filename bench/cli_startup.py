"""Start-up of the `hwgen` command: wall time and peak memory of `hwgen --version` and
`hwgen --help`, against a bare `python -c pass` measured in the same run (the machine is shared:
the difference is the figure). Median of --repeat runs each.

    .venv/bin/python bench/cli_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HWGEN = str(Path(sys.executable).with_name("hwgen"))


def once(cmd: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return time.perf_counter() - t0, max(peak, before)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    print("| command | median wall s | peak KB (largest child so far) |")
    print("|---|---:|---:|")
    for label, cmd in (("python -c pass", [sys.executable, "-c", "pass"]),
                       ("hwgen --version", [HWGEN, "--version"]), ("hwgen --help", [HWGEN, "--help"])):
        runs = [once(cmd) for _ in range(args.repeat)]
        print(f"| {label} | {statistics.median(r[0] for r in runs):.3f} | {max(r[1] for r in runs):,} |")


if __name__ == "__main__":
    main()
