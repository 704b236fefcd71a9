"""In-order scoreboard: every output beat, bit for bit, against the reference's expected beat."""

from __future__ import annotations

from .reference import Reference


class Scoreboard:
    """Checks output beats in order. Counts every mismatch; keeps a readable report of the first
    (the reference explains it: step, layer, expected and actual words, golden trace around it)."""

    def __init__(self, ref: Reference):
        self.ref = ref
        self.received = 0
        self.mismatches = 0
        self.first_mismatch: str | None = None
        self.first_mismatch_beat: int | None = None

    @property
    def expected_count(self) -> int:
        return len(self.ref.expected)

    @property
    def done(self) -> bool:
        return self.received >= self.expected_count

    def check(self, actual: int | None, cycle: int, raw: str = "") -> bool:
        """Record output beat number ``self.received`` (``actual`` None: it had X/Z bits, shown in
        ``raw``), seen ``cycle`` cycles after reset. Returns whether it matched."""
        k = self.received
        self.received += 1
        if k >= self.expected_count:
            ok = False
            why = f"unexpected output beat {k} at cycle {cycle}: only {self.expected_count} input beats were sent"
        elif actual is None:
            ok = False
            why = (f"output beat {k} at cycle {cycle} (sequence {self.ref.seq[k]}, time step {self.ref.step[k]}) "
                   f"has unknown bits: {raw}")
        else:
            ok = actual == self.ref.expected[k]
            why = None if ok else f"{self.ref.describe(k, actual)}\n  (output beat seen at cycle {cycle} after reset)"
        if not ok:
            self.mismatches += 1
            if self.first_mismatch is None:
                self.first_mismatch, self.first_mismatch_beat = why, k
        return ok
