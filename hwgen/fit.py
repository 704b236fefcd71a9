"""Fitting a design to a target: the fastest datapath (style and lane count) whose synthesized
resources fit the device with a stated margin, or a refusal that gives the numbers.

The search synthesizes few points: P = 1 (if even that does not fit, nothing will) and, at the
same time where the cost function can run points in parallel, a second lane count to learn the
cost of one lane; then the largest lane count the line predicts to fit, stepping down until a
synthesized design really fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .toolchain.synth import SynthReport
from .toolchain.targets import RESOURCE_NAMES, RESOURCES, Target

#: Logic cells may fill at most this share of the device (place and route needs slack to route).
LC_MARGIN = 0.85
#: A model with at most this many weights is tried fully unrolled first (weights become wiring).
UNROLL_LIMIT = 2048

Measure = Callable[[str, int], SynthReport]  # (style, lanes) -> synthesized cost


class FitError(ValueError):
    """The design does not fit the target; the message has the numbers and what would help,
    ``over`` the resources over their limit (``{resource: (used, limit)}``)."""

    def __init__(self, message: str, over: dict | None = None):
        super().__init__(message)
        self.over = over or {}


@dataclass(frozen=True)
class Fit:
    style: str
    lanes: int
    report: SynthReport
    tried: tuple[tuple[str, int, bool], ...]  # (style, lanes, fitted) in the order synthesized


def limit(target: Target, resource: str) -> int:
    available = target.available(resource)
    return int(available * LC_MARGIN) if resource == "lc" else available


def over(report: SynthReport, target: Target) -> dict[str, tuple[int, int]]:
    """Resources used beyond their limit: ``{resource: (used, limit)}``."""
    if not target.has_pnr:  # a generic target has no capacity
        return {}
    return {r: (report.used(r), limit(target, r)) for r in RESOURCES
            if report.used(r) > limit(target, r)}


def lane_candidates(max_lanes: int) -> list[int]:
    """1, 2, 4, ... up to ``max_lanes`` (which is included)."""
    out, p = [], 1
    while p < max_lanes:
        out.append(p)
        p *= 2
    return out + [max_lanes]


def choose(target: Target, measure: Measure, *, max_lanes: int, weights: int, lanes: int | None = None,
           style: str = "auto") -> Fit:
    """The datapath to build; ``lanes``/``style`` fixed by the user are only checked."""
    tried: list[tuple[str, int, bool]] = []

    def attempt(s: str, p: int) -> SynthReport | None:
        report = measure(s, p)
        ok = not over(report, target)
        tried.append((s, p, ok))
        return report if ok else None

    if style in ("auto", "unrolled") and lanes is None and (style == "unrolled" or weights <= UNROLL_LIMIT):
        report = attempt("unrolled", max_lanes)
        if report is not None:
            return Fit("unrolled", max_lanes, report, tuple(tried))
        if style == "unrolled":
            raise _refuse(target, measure("unrolled", max_lanes), "unrolled")
    if lanes is not None:
        style = "folded" if style == "auto" else style
        report = measure(style, lanes)
        if over(report, target):
            raise _refuse(target, report, f"{lanes} lanes")
        return Fit(style, lanes, report, ((style, lanes, True),))
    return _search(target, attempt, measure, max_lanes, tried)


def _search(target, attempt, measure, max_lanes, tried) -> Fit:
    candidates = lane_candidates(max_lanes)
    probe_lanes = candidates[min(3, len(candidates) - 1)]
    if hasattr(measure, "prefetch"):  # both are needed unless P = 1 fails: start them together
        measure.prefetch([("folded", 1), ("folded", probe_lanes)])
    one = attempt("folded", 1)
    if one is None:
        raise _refuse(target, measure("folded", 1), "1 lane")
    if len(candidates) == 1:
        return Fit("folded", 1, one, tuple(tried))
    probe = attempt("folded", probe_lanes)
    known = {1: one} | ({probe_lanes: probe} if probe else {})
    if probe is None:
        candidates = [p for p in candidates if p < probe_lanes]
    else:
        slope = {r: (probe.used(r) - one.used(r)) / (probe_lanes - 1) for r in RESOURCES}
        candidates = [p for p in candidates
                      if all(one.used(r) + slope[r] * (p - 1) <= limit(target, r) for r in RESOURCES)
                      or p <= probe_lanes]
    for p in reversed(candidates):
        report = known.get(p) or attempt("folded", p)
        if report is not None:
            return Fit("folded", p, report, tuple(tried))
    return Fit("folded", 1, one, tuple(tried))


def _refuse(target: Target, report: SynthReport, what: str) -> FitError:
    return FitError(refusal(target, report, what), over(report, target))


def refusal(target: Target, report: SynthReport, what: str) -> str:
    lines = [f"the design does not fit {target.name} even with {what}:"]
    for r in RESOURCES:
        used, avail = report.used(r), target.available(r)
        mark = "  <-- over" if used > limit(target, r) else ""
        lines.append(f"  {RESOURCE_NAMES[r]:24} needs {used:7,}  available {avail:7,}"
                     f" (limit {limit(target, r):,}){mark}")
    spram = (" the weight codes in SPRAM (--weights spram, loaded at run time);"
             if target.available("spram") and not report.used("spram") else "")
    lines.append("options: fewer hidden units or layers; a narrower --width (smaller registers and adders); "
                 f"weight codes with fewer bits (ternary or pow2-ternary);{spram} a larger device "
                 "(`hwgen targets`: ice40-hx8k has 7,680 logic cells, ecp5-25k 24,288 LUT4s, ecp5-85k 83,640)")
    return "\n".join(lines)
