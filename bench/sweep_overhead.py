"""What running a grid through Ray costs and gains: N small CPU-bound training points (synthetic
text, a GRU trained for a few hundred steps, one thread each) run by `hwgen sweep` on a local Ray
with two workers, against the same points run one after another in this process, in the same run.
Also Ray's fixed start-up cost (``ray.init`` to ready, and shutdown).

    .venv/bin/python bench/sweep_overhead.py [--points 12] [--steps 1200]

Target on the 2-core machine: the Ray sweep's wall time at most 0.6x the sequential one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwgen.sweep.run import run_sweep  # noqa: E402
from hwgen.sweep.spec import parse_spec  # noqa: E402


def spec(points: int, steps: int):
    return parse_spec({"name": "overhead", "train": {
        "dataset": "synthetic-text", "cell": "gru", "hidden": 32, "quantizer": "ternary",
        "seed": list(range(points)), "steps": steps, "limit": 20000,
        "extra": ["--eval-every", str(steps), "--batch", "16", "--bptt", "32"]}}, ROOT)


def ray_startup() -> tuple[float, float]:
    import ray

    t0 = time.monotonic()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    up = time.monotonic() - t0
    t0 = time.monotonic()
    ray.shutdown()
    return up, time.monotonic() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=12)
    p.add_argument("--steps", type=int, default=1200)
    args = p.parse_args()
    s = spec(args.points, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.monotonic()
        for point in s.train:  # one after another, in this process (each its `hwgen train` child)
            folder = tmp / "sequential" / point.folder
            folder.mkdir(parents=True)
            point.run(folder)
        sequential = time.monotonic() - t0
        t0 = time.monotonic()
        outcome = run_sweep(s, tmp / "ray", workers=2, say=lambda m: None)
        swept = time.monotonic() - t0
        assert outcome.ran == args.points and outcome.failed == 0, outcome
    up, down = ray_startup()
    print(f"| what | wall s |\n|---|---:|\n| {args.points} points one after another, one process | {sequential:.1f} |\n"
          f"| the same points, `hwgen sweep` on a local Ray, 2 workers | {swept:.1f} |\n"
          f"| ratio Ray / sequential (target at most 0.6) | {swept / sequential:.2f} |\n"
          f"| Ray start-up (init to ready) / shutdown | {up:.1f} / {down:.1f} |")
    print(f"(each point: GRU 32 on synthetic text, {args.steps} steps, about {sequential / args.points:.1f} s)")


if __name__ == "__main__":
    main()
