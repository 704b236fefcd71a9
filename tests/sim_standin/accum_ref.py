"""The reference model of tests/sim_standin/accum_echo.v: per sequence, a running W-bit sum."""

from __future__ import annotations

import numpy as np

from sim.reference import Reference, sequence_lengths


class AccumReference(Reference):
    def __init__(self, width: int = 8, sequences: int = 8, min_len: int = 1, max_len: int = 12,
                 seed: int = 0, busy: int = 0):
        rng = np.random.default_rng(seed)
        lengths = sequence_lengths(rng, sequences, min_len, max_len)
        mask = (1 << width) - 1
        inputs, expected, seq, step, self.acc, self.data = [], [], [], [], [], []
        acc = 0
        for s, n in enumerate(lengths):
            for t in range(n):
                d = int(rng.integers(0, 1 << width))
                first = int(t == 0)
                acc = ((0 if first else acc) + d) & mask
                inputs.append(d | first << width)
                expected.append(acc | first << width)
                seq.append(s)
                step.append(t)
                self.acc.append(acc)
                self.data.append(d)
        self.width = width
        super().__init__(f"accum_echo-w{width}", width + 1, width + 1, inputs, expected, seq, step,
                         cycles_per_step=busy + 2)

    def describe(self, k: int, actual: int) -> str:
        w = self.width
        lines = [f"first mismatch at output beat {k}: sequence {self.seq[k]}, time step {self.step[k]}",
                 "  stage:    accumulator (acc)",
                 f"  expected: acc={self.expected[k] & ((1 << w) - 1)} first={self.expected[k] >> w}",
                 f"  actual:   acc={actual & ((1 << w) - 1)} first={actual >> w}",
                 "  reference trace around it:"]
        for j in range(max(0, k - 3), min(len(self.seq), k + 2)):
            mark = ">>" if j == k else "  "
            lines.append(f"  {mark} beat {j} seq {self.seq[j]} step {self.step[j]}: data={self.data[j]} acc={self.acc[j]}")
        return "\n".join(lines)
