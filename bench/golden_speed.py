"""Throughput of the golden model: sequence-steps per second for a GRU with 128 hidden units and
64 inputs, batch 256 (the figure docs and closing notes quote), with the exact float64-BLAS
products against the same model forced onto int64 products (the baseline, same run).

    .venv/bin/python bench/golden_speed.py [--steps 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hwgen.spec import golden
from hwgen.spec.random_qmodel import random_qmodel


def measure(qmodel, x, repeats: int) -> float:
    """Best-of-``repeats`` sequence-steps per second (best: the machine is shared and noisy),
    after one warm-up run (BLAS thread start-up and first-touch page faults)."""
    golden.run(qmodel, x)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        golden.run(qmodel, x)
        best = min(best, time.perf_counter() - t0)
    return x.shape[0] * x.shape[1] / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    rows = []
    for code in ("pow2", "ternary"):
        m = random_qmodel("gru", 128, inputs=64, code=code, act="hard", width=16, seed=0)
        x = m.input.fmt.from_float(np.random.default_rng(0).uniform(-1, 1, (args.batch, args.steps, 64)))
        fast = measure(m, x, args.repeats)
        exact_bits = golden.FLOAT64_EXACT_BITS
        golden.FLOAT64_EXACT_BITS = 0  # every product through int64
        try:
            base = measure(m, x, args.repeats)
        finally:
            golden.FLOAT64_EXACT_BITS = exact_bits
        rows.append((code, fast, base))
    print(f"GRU 64->128, batch {args.batch}, {args.steps} steps, 16-bit formats, hard activations")
    print(f"{'codes':8} {'float64 BLAS':>16} {'int64 baseline':>16} {'speed-up':>9}")
    for code, fast, base in rows:
        print(f"{code:8} {fast:16,.0f} {base:16,.0f} {fast / base:8.1f}x   (sequence-steps/s)")


if __name__ == "__main__":
    main()
