"""Fitting a design to a target: the fastest datapath (style and lane count) whose synthesized
resources fit the device with a stated margin, or a refusal that gives the numbers.

The search synthesizes few points: P = 1 (if even that is over on logic cells or multipliers,
nothing will fit; memory alone can shrink with more lanes, see :func:`memory_only`) and, at the
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
Cycles = Callable[[str, int], int]  # (style, lanes) -> cycles per time step (from the plan)


class FitError(ValueError):
    """The design does not fit the target; the message has the numbers and what would help,
    ``over`` the resources over their limit (``{resource: (used, limit)}``), ``tried`` the
    candidates weighed against a floor on steps per second (for a caller that tries another kind
    of datapath and reports them all)."""

    def __init__(self, message: str, over: dict | None = None, tried: tuple = ()):
        super().__init__(message)
        self.over, self.tried = over or {}, tuple(tried)


@dataclass(frozen=True)
class Need:
    """What the user asks of a design: a floor on time steps per second (``min_steps``, checked at
    ``clock_mhz``: the place-and-route goal before anything is placed, the measured Fmax after) and
    what to minimise: ``speed`` takes the fastest design that fits (and meets the floor), ``area``
    the smallest that meets the floor."""

    min_steps: float | None = None
    objective: str = "speed"
    clock_mhz: float = 48.0
    #: a refusal searches for the fastest design that fits to name it; False where the caller
    #: weighs several kinds of datapath and names the fastest of them all itself
    name_fastest: bool = True

    def __post_init__(self):
        if self.objective not in ("speed", "area"):
            raise ValueError(f"objective {self.objective!r}: speed or area")
        if self.min_steps is not None and not self.min_steps > 0:
            raise ValueError(f"min_steps_per_second {self.min_steps}: a positive number")
        if not self.clock_mhz > 0:
            raise ValueError(f"clock {self.clock_mhz} MHz: a positive number")

    def rate(self, cycles: int) -> float:
        return self.clock_mhz * 1e6 / cycles

    def met(self, cycles: int) -> bool:
        return self.min_steps is None or self.rate(cycles) >= self.min_steps

    def too_slow(self, cycles: int) -> str:
        return (f"too slow: {cycles:,} cycles per step, {self.rate(cycles):,.0f} steps/s at "
                f"{self.clock_mhz:g} MHz (needs {self.min_steps:,.0f})")


@dataclass(frozen=True)
class Candidate:
    """One design the fitter considered, and why it was not taken (``rejected``; empty for the
    one chosen). ``fits`` is None for a design rejected without synthesizing it: on its cycle
    count alone, or on the resources the search's line predicts for it."""

    style: str
    lanes: int
    fits: bool | None
    cycles: int | None = None
    rejected: str = ""
    variant: str = ""  # "hot" or "dense" input reads where both were fitted
    state: str = ""  # "sparse" or "dense" state reads where both were fitted
    products: str = ""  # "dsp" for lanes on hard multipliers where those were fitted

    @property
    def label(self) -> str:
        """``unrolled`` or ``folded, P lane(s)``: an unrolled datapath's lane count is not a choice."""
        return (label(self.style, self.lanes) + (f", {self.variant} input" if self.variant else "")
                + (f", {self.state} state reads" if self.state else "")
                + (", lanes on hard multipliers" if self.products == "dsp" else ""))

    def to_json(self) -> dict:
        return {"style": self.style, "lanes": self.lanes, "fits": self.fits,
                **({"input_reads": self.variant} if self.variant else {}),
                **({"state_reads": self.state} if self.state else {}),
                **({"lane_products": self.products} if self.products else {}),
                **({"cycles_per_step": self.cycles} if self.cycles is not None else {}),
                **({"rejected": self.rejected} if self.rejected else {})}


@dataclass(frozen=True)
class Fit:
    style: str
    lanes: int
    report: SynthReport
    tried: tuple[Candidate, ...]  # in the order considered


def label(style: str, lanes: int) -> str:
    return style if style == "unrolled" else f"{style}, {lanes} lane(s)"


def limit(target: Target, resource: str, packing: float | None = None) -> int:
    available = target.available(resource)
    return int(available * LC_MARGIN) if resource == "lc" and not packing else available


def over(report: SynthReport, target: Target, packing: float | None = None) -> dict[str, tuple[int, int]]:
    """Resources used beyond their limit: ``{resource: (used, limit)}``. ``packing``: packed logic
    cells per synthesized estimate, as nextpnr's packer measured on a design of this model; the
    logic-cell estimate is then scaled by it and held to the whole device (the packer checks it
    exactly before placement)."""
    if not target.has_pnr:  # a generic target has no capacity
        return {}
    out = {}
    for r in RESOURCES:
        used, cap = scaled_use(report.used(r), r, packing), limit(target, r, packing)
        if used > cap:
            out[r] = (used, cap)
    return out


def scaled_use(used: float, resource: str, packing: float | None) -> int:
    return round(used * packing) if packing and resource == "lc" else round(used)


def over_text(excess: dict[str, tuple[int, int]]) -> str:
    """``logic cells (LUT4+DFF) 6,020 > 4,488 (+1,532); ...``"""
    return "; ".join(f"{RESOURCE_NAMES[r]} {u:,} > {l:,} (+{u - l:,})" for r, (u, l) in excess.items())


def lane_candidates(max_lanes: int) -> list[int]:
    """1, 2, 4, ... up to ``max_lanes`` (which is included)."""
    out, p = [], 1
    while p < max_lanes:
        out.append(p)
        p *= 2
    return out + [max_lanes]


class _Search:
    """The fitter's state: the cost function, the cycle counts, the requirement and the record."""

    def __init__(self, target: Target, measure: Measure, cycles: Cycles | None, need: Need,
                 packing: float | None = None):
        if need.min_steps is not None and cycles is None:
            raise ValueError("a steps-per-second floor needs the designs' cycle counts")
        self.target, self.measure, self.cycles, self.need = target, measure, cycles, need
        self.packing = packing
        self.tried: list[Candidate] = []

    def over(self, report: SynthReport) -> dict[str, tuple[int, int]]:
        return over(report, self.target, self.packing)

    def predicted_fit(self, used: dict[str, float]) -> bool:
        """Whether estimated use (``{resource: used}``) is within every limit."""
        return all(scaled_use(u, r, self.packing) <= limit(self.target, r, self.packing) for r, u in used.items())

    def predicted_over(self, style: str, lanes: int, used: dict[str, float], probe: int) -> None:
        """Record a lane count left unsynthesized because the line through the designs of 1 and
        ``probe`` lanes puts it over (``used``: its predicted use)."""
        excess = {r: (scaled_use(u, r, self.packing), limit(self.target, r, self.packing)) for r, u in used.items()
                  if scaled_use(u, r, self.packing) > limit(self.target, r, self.packing)}
        self.tried.append(Candidate(style, lanes, None, self.cycles_of(style, lanes),
                                    f"predicted over from the designs of 1 and {probe} lanes, not synthesized: "
                                    + over_text(excess)))

    def cycles_of(self, style: str, lanes: int) -> int | None:
        return None if self.cycles is None else self.cycles(style, lanes)

    def attempt(self, style: str, lanes: int) -> SynthReport | None:
        """Synthesize; the report if it fits, else None (recorded either way)."""
        report = self.measure(style, lanes)
        excess = self.over(report)
        self.tried.append(Candidate(style, lanes, not excess, self.cycles_of(style, lanes), over_text(excess)))
        return None if excess else report

    def slow(self, style: str, lanes: int, note: str = "") -> None:
        self.tried.append(Candidate(style, lanes, None, self.cycles_of(style, lanes),
                                    self.need.too_slow(self.cycles_of(style, lanes)) + note))

    def fit(self, style: str, lanes: int, report: SynthReport) -> Fit:
        """The chosen design; an earlier record of it says it was taken, not rejected."""
        tried = [c for c in self.tried if (c.style, c.lanes) != (style, lanes)]
        return Fit(style, lanes, report, tuple(tried) + (Candidate(style, lanes, True, self.cycles_of(style, lanes)),))


def choose(target: Target, measure: Measure, *, max_lanes: int, weights: int, lanes: int | None = None,
           style: str = "auto", cycles: Cycles | None = None, need: Need = Need(),
           packing: float | None = None) -> Fit:
    """The datapath to build; ``lanes``/``style`` fixed by the user are only checked. ``cycles``
    gives a design's cycles per step without synthesizing it (the plan's), which ``need`` reads;
    ``packing``: see :func:`over`."""
    search = _Search(target, measure, cycles, need, packing)
    unrolled_ok = style == "unrolled" or (style == "auto" and lanes is None and weights <= UNROLL_LIMIT)
    if lanes is not None:
        style = "folded" if style == "auto" else style
        report = measure(style, lanes)
        if search.over(report):
            raise _refuse(search, report, f"{lanes} lanes")
        fit = search.fit(style, lanes, report)
    elif need.objective == "area":
        fit = _smallest(search, max_lanes, style, unrolled_ok)
    else:
        fit = _fastest(search, max_lanes, style, unrolled_ok)
    c = search.cycles_of(fit.style, fit.lanes)
    if c is not None and not need.met(c):  # the design that fits, too slow, closes the record
        raise FitError(_unreachable(search, fit, max_lanes, style, unrolled_ok, lanes),
                       tried=(*search.tried, Candidate(fit.style, fit.lanes, True, c, need.too_slow(c))))
    return fit


def _fastest(search: _Search, max_lanes: int, style: str, unrolled_ok: bool) -> Fit:
    if unrolled_ok:
        report = search.attempt("unrolled", max_lanes)
        if report is not None:
            return search.fit("unrolled", max_lanes, report)
        if style == "unrolled":
            raise _refuse(search, search.measure("unrolled", max_lanes), "unrolled")
    return _search(search, max_lanes)


def _search(search: _Search, max_lanes: int) -> Fit:
    target, measure, attempt = search.target, search.measure, search.attempt
    candidates = lane_candidates(max_lanes)
    probe_lanes = candidates[min(3, len(candidates) - 1)]
    if hasattr(measure, "prefetch"):  # both are needed unless P = 1 fails: start them together
        measure.prefetch([("folded", 1), ("folded", probe_lanes)])
    one = attempt("folded", 1)
    if one is None and (len(candidates) == 1 or not memory_only(search.over(measure("folded", 1)))):
        raise _refuse(search, measure("folded", 1), "1 lane")
    if len(candidates) == 1:
        return search.fit("folded", 1, one)
    probe = attempt("folded", probe_lanes)
    known = {p: r for p, r in ((1, one), (probe_lanes, probe)) if r is not None}
    if probe is None:
        candidates = [p for p in candidates if p < probe_lanes]
    else:
        base = measure("folded", 1)
        slope = {r: (probe.used(r) - base.used(r)) / (probe_lanes - 1) for r in RESOURCES}
        kept = []
        for p in candidates:
            used = {r: base.used(r) + slope[r] * (p - 1) for r in RESOURCES}
            if p <= probe_lanes or search.predicted_fit(used):
                kept.append(p)
            else:
                search.predicted_over("folded", p, used, probe_lanes)
        candidates = kept
    for p in reversed(candidates):
        report = known.get(p) or (attempt("folded", p) if p > 1 else None)
        if report is not None:
            return search.fit("folded", p, report)
    raise _refuse(search, measure("folded", 1), "1 lane")


def memory_only(excess: dict[str, tuple[int, int]]) -> bool:
    """Whether only memories are over: more lanes read wider words, which a memory of fixed
    width (an SPRAM is 16 bits wide) packs with less waste, so a design over on memory at one
    lane can fit at more; one over on logic cells or multipliers cannot."""
    return bool(excess) and set(excess) <= {"ebr", "spram"}


def _smallest(search: _Search, max_lanes: int, style: str, unrolled_ok: bool) -> Fit:
    """The fewest lanes whose cycle count meets the floor (a linear scan of the plans, no
    synthesis), synthesized; a design over on logic or multipliers ends the search, as more lanes
    cost more, one over only on memory goes on to the next power of two (:func:`memory_only`).
    Without a floor: one lane."""
    need = search.need
    if style != "unrolled":
        first = next((p for p in range(1, max_lanes + 1)
                      if need.min_steps is None or need.met(search.cycles_of("folded", p))), None)
        if first is not None:
            if first > 1:
                search.slow("folded", first - 1, " (and so every smaller lane count)")
            for p in [first] + [q for q in lane_candidates(max_lanes) if q > first]:
                report = search.attempt("folded", p)
                if report is not None:
                    return search.fit("folded", p, report)
                if not memory_only(search.over(search.measure("folded", p))):
                    break  # more lanes only cost more
            raise FitError(_unreachable(search, None, max_lanes, style, unrolled_ok, None),
                           search.over(search.measure("folded", first)), search.tried)
        search.slow("folded", max_lanes, " (the most lanes a row can use)")
    if unrolled_ok:
        report = search.attempt("unrolled", max_lanes)
        if report is not None:
            return search.fit("unrolled", max_lanes, report)
    raise FitError(_unreachable(search, None, max_lanes, style, unrolled_ok, None), tried=search.tried)


def _unreachable(search: _Search, fastest: Fit | None, max_lanes: int, style: str, unrolled_ok: bool,
                 lanes: int | None) -> str:
    """Why no design meets the floor, with the numbers: each candidate's verdict and the fastest
    design that fits (searched for here when not known yet)."""
    need = search.need
    if fastest is None and lanes is None and need.name_fastest:
        try:
            fastest = _fastest(_Search(search.target, search.measure, search.cycles, Need(), search.packing),
                               max_lanes, style, unrolled_ok)
        except FitError:
            fastest = None
    named = None
    if fastest is not None:
        named = ("the chosen" if lanes is not None else "the fastest design that fits",
                 label(fastest.style, fastest.lanes), search.cycles_of(fastest.style, fastest.lanes))
    return floor_refusal(need, search.target, search.tried, named)


def floor_refusal(need: Need, target: Target, tried, named: tuple[str, str, int] | None) -> str:
    """The refusal of a floor no design reaches: each candidate's verdict (``tried``), then
    ``named = (what, design, cycles per step)``, the design it names instead (None: none)."""
    lines = [f"no design reaches {need.min_steps:,.0f} time steps per second on {target.name} at "
             f"{need.clock_mhz:g} MHz:"]
    lines += [f"  {c.label}: {c.rejected}" for c in tried if c.rejected]
    if named is not None:
        what, design, cycles = named
        lines.append(f"  {what}: {design}, {cycles:,} cycles per step, {need.rate(cycles):,.0f} steps/s at "
                     f"{need.clock_mhz:g} MHz")
    lines.append("options: a lower --min-steps-per-second; a faster clock (--freq; --pnr measures what "
                 "placement reaches); a larger device (`hwgen targets`); a smaller model")
    return "\n".join(lines)


def _refuse(search: _Search, report: SynthReport, what: str) -> FitError:
    return FitError(refusal(search.target, report, what, search.packing), search.over(report))


def refusal(target: Target, report: SynthReport, what: str, packing: float | None = None) -> str:
    lines = [f"the design does not fit {target.name} even with {what}:"]
    for r in RESOURCES:
        used, avail, cap = scaled_use(report.used(r), r, packing), target.available(r), limit(target, r, packing)
        mark = "  <-- over" if used > cap else ""
        lines.append(f"  {RESOURCE_NAMES[r]:24} needs {used:7,}  available {avail:7,} (limit {cap:,}){mark}")
    if packing:
        lines.append(f"  (logic cells: the synthesis estimate times {packing:.2f}, the packing nextpnr measured)")
    spram = (" the weight codes in SPRAM (--weights spram, loaded at run time);"
             if target.available("spram") and not report.used("spram") else "")
    lines.append("options: fewer hidden units or layers; a narrower --width (smaller registers and adders); "
                 f"weight codes with fewer bits (ternary or pow2-ternary);{spram} a larger device "
                 "(`hwgen targets`: ice40-hx8k has 7,680 logic cells, ecp5-25k 24,288 LUT4s, ecp5-85k 83,640)")
    return "\n".join(lines)
