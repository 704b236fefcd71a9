"""`hwgen build`: a model to Verilog, reports, test vectors and (optionally) Fmax and a bitstream.

Every file is written into a fresh staging folder next to OUTDIR; only a build that succeeds is
installed into OUTDIR (hwgen/outdir.py: a user's files there are never removed or overwritten),
so a failed build never leaves half-written output behind. A build that fails in a tool keeps its
staging folder, whose log the message names, until the next build into the same place.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .fit import Candidate, Fit, FitError, Need, choose, label, memory_only
from .spec.ir import QModel
from .toolchain.limits import LimitError, check_onchip
from .outdir import OutdirError, clean_stale, install, make_staging
from .outdir import check_outdir as _check_outdir
from .qmodel_file import digest, save
from .toolchain.synth import SynthReport, synthesize
from .toolchain.targets import RESOURCES, Target, get_target
from .toolchain.tools import stop_tools

TOP = "hwgen_top"
Say = Callable[[str], None]


class BuildError(RuntimeError):
    """A build that cannot go on; the message says why and what to do."""


@dataclass
class BuildOptions:
    target: str = "ice40"
    lanes: int | None = None  # None: the largest that fits (--lanes auto)
    style: str = "auto"  # auto | folded | unrolled
    output: str | None = None  # logits | hidden | argmax (None: logits when there is an output layer)
    multipliers: int | None = None  # gate multipliers; None: auto (see point_plan)
    weights: str = "auto"  # rom | spram | auto (rom, or spram when the codes do not fit block RAM)
    hot_column: bool | None = None  # a token input read one hot column at a time; None: auto (--input-reads)
    skip_zeros: bool | None = None  # rows skip W_hh's zero codes; None: where that takes fewer cycles (--state-reads)
    lane_dsps: bool | None = None  # pow2 and fixed lanes on the target's hard multipliers; None: auto (--lane-products)
    min_steps_per_second: float | None = None  # a floor on throughput (at freq_mhz, or the measured Fmax)
    objective: str | None = None  # speed | area; None: area with a floor, else speed
    pnr: bool = False
    pnr_seeds: int = 3  # nextpnr seeds 1..N; Fmax is their median
    freq_mhz: float = 48.0
    bitstream: bool = False
    board: str | None = None
    board_clock_mhz: float | None = None  # the board top's clock; None: auto (under the measured Fmax)
    baud: int | None = None  # the board's UART rate; None: the board's default
    check: bool = False
    sim: str = "icarus"
    vector_sequences: int = 4
    vector_steps: int = 32
    seed: int = 0
    force: bool = False  # build into a non-empty folder that is not an earlier build (files kept)
    export: object | None = None  # hwgen.export.ExportOptions for model.pt inputs

    def need(self, clock_mhz: float | None = None) -> Need:
        """The fitter's requirement, checked at ``clock_mhz`` (default: the --freq goal)."""
        objective = self.objective or ("area" if self.min_steps_per_second is not None else "speed")
        return Need(self.min_steps_per_second, objective, clock_mhz or self.freq_mhz)


@dataclass
class BuildResult:
    outdir: Path
    report: dict
    files: list[str] = field(default_factory=list)


def max_lanes(qmodel: QModel) -> int:
    """The longest weight row: more lanes than that would sit idle."""
    rows = [layer.input_size + layer.hidden_size for layer in qmodel.layers]
    if qmodel.output is not None:
        rows.append(qmodel.output.w.shape[1])
    return max(rows)


def code_bits(qmodel: QModel) -> int:
    """Bits of the layers' weight codes, as the folded datapath stores them."""
    from .generator.code_memory import common_format

    bits = sum((L.w_ih.q.size + L.w_hh.q.size) * common_format([L.w_ih, L.w_hh]).width for L in qmodel.layers)
    return bits + (qmodel.output.w.q.size * common_format([qmodel.output.w]).width if qmodel.output else 0)


def weight_count(qmodel: QModel) -> int:
    n = sum(layer.w_ih.q.size + layer.w_hh.q.size for layer in qmodel.layers)
    return n + (qmodel.output.w.q.size if qmodel.output is not None else 0)


def point_plan(qmodel: QModel, options: BuildOptions, target: Target, style: str, lanes: int,
               weights: str | None = None, hot: bool | None = None):
    """The plan (:class:`hwgen.generator.plan.DesignPlan`) of one design point (style and lanes)
    under these options. Gate multipliers left to auto: none (the products formed on the serial
    shift-add unit, a few dozen logic cells and no long combinational path) where a unit's rows
    leave it the time, else one (a DSP block where the device has them, else built from logic)."""
    from .generator.plan import DesignParams
    from .generator.planner import plan_design

    weights = weights or ("rom" if options.weights == "auto" else options.weights)
    if options.lane_dsps is True and not target.available("dsp"):
        raise BuildError(f"--lane-products dsp needs a target with hard multipliers (ice40-up5k); {target.name} "
                         "has none: use --lane-products logic")
    if weights == "spram" and not target.available("spram"):
        raise BuildError(f"--weights spram needs a target with SPRAM (ice40-up5k); {target.name} has none")
    try:
        params = DesignParams(lanes=lanes, style=style, output=options.output, multipliers=options.multipliers,
                              weights=weights, hot_column=_hot(options, hot),
                              # an unrolled datapath has no wiring for zero weights anyway
                              skip_zeros=options.skip_zeros is True and style == "folded",
                              lane_dsps=options.lane_dsps is True and style == "folded")
        return plan_design(qmodel, params)
    except ValueError as e:
        raise BuildError(f"{e} (--multipliers, --lanes, --weights, --state-reads)") from None


def _hot(options: BuildOptions, hot: bool | None) -> bool:
    """Hot-column reads for one design point: ``hot`` where the fit chose, else the options' (auto: on)."""
    return hot if hot is not None else options.hot_column is not False


def make_design(qmodel: QModel, plan):
    """The Amaranth top of ``plan`` (for the board wrapper)."""
    from .generator.top import HwgenTop

    return HwgenTop(qmodel, plan)


def make_netlists(qmodel: QModel, plan) -> tuple[str, str]:
    """The design's Verilog (the deliverable) and RTLIL (what synthesis reads: the same netlist)."""
    from .generator.emit import emit_design

    return emit_design(qmodel, plan, name=TOP)


def synth_measure(qmodel: QModel, options: BuildOptions, target: Target, workdir: Path, say: Say,
                  pool: ThreadPoolExecutor, weights: str = "rom", memo: dict | None = None,
                  hot: bool | None = None):
    """The fitter's cost function: generate and synthesize one (style, lanes) point. Its
    ``prefetch(points)`` starts points in ``pool`` ahead of need (yosys uses one core).
    ``memo``: reports of points synthesized before in this build (a fit that runs again)."""
    started: dict[tuple[str, int], Future] = {}
    memo = {} if memo is None else memo

    sparse, dsp = options.skip_zeros is True, options.lane_dsps is True

    def synth(style: str, lanes: int, texts: tuple[str, str]) -> SynthReport:
        point = workdir / "fit" / point_name(style, lanes, weights, _hot(options, hot), sparse, dsp)
        point.mkdir(parents=True, exist_ok=True)
        (point / f"{TOP}.v").write_text(texts[0])
        (point / f"{TOP}.il").write_text(texts[1])
        report = synthesize(point / f"{TOP}.il", TOP, target, point, packed=True, announce=say)
        memo[(style, lanes, weights, hot, sparse, dsp)] = report
        return report

    def start(style: str, lanes: int) -> Future:
        key = (style, lanes)
        if key not in started and (style, lanes, weights, hot, sparse, dsp) in memo:
            started[key] = Future()
            started[key].set_result(memo[(style, lanes, weights, hot, sparse, dsp)])
        if key not in started:
            texts = make_netlists(qmodel, point_plan(qmodel, options, target, style, lanes, weights, hot))
            where = ((" (weights in SPRAM)" if weights == "spram" else "") +
                     ("" if _hot(options, hot) else ", input read densely") + (", zero-skipping" if sparse else "")
                     + (", lanes on hard multipliers" if dsp else ""))
            say(f"synthesizing the {style} datapath with {lanes} lane(s){where} for {target.name}")
            started[key] = pool.submit(synth, style, lanes, texts)
        return started[key]

    def measure(style: str, lanes: int) -> SynthReport:
        return start(style, lanes).result()

    measure.prefetch = lambda points: [start(*p) for p in points]
    return measure


def test_vectors(qmodel: QModel, output: str | None, sequences: int, steps: int, seed: int) -> dict:
    """Seeded inputs (a new sequence every ``steps`` beats) and the golden outputs they must give."""
    from .expected import expected_outputs

    from .spec.stimulus import random_inputs

    inputs = random_inputs(qmodel, np.random.default_rng(seed), (sequences, steps))
    first = np.zeros((sequences, steps), bool)
    first[:, 0] = True
    return {"inputs": inputs, "first": first, "expected": expected_outputs(qmodel, output, inputs, first)}


def write_vectors(qmodel: QModel, output: str | None, vectors: dict, folder: Path) -> None:
    """``vectors.npz`` plus ``input_payloads.hex`` / ``output_payloads.hex``: one payload per line
    in stream order (sequence after sequence), for $readmemh in a user's own bench."""
    from .generator.interface import input_format, output_format

    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "vectors.npz", **vectors)
    fin, fout = input_format(qmodel), output_format(qmodel, output)
    digits_in, digits_out = (fin.width + 3) // 4, (fout.width + 3) // 4
    lines_in, lines_out = [], []
    for b in range(vectors["inputs"].shape[0]):
        for t in range(vectors["inputs"].shape[1]):
            first = bool(vectors["first"][b, t])
            lines_in.append(f"{fin.pack(vectors['inputs'][b, t], first):0{digits_in}x}")
            lines_out.append(f"{fout.pack(vectors['expected'][b, t], first):0{digits_out}x}")
    (folder / "input_payloads.hex").write_text("\n".join(lines_in) + "\n")
    (folder / "output_payloads.hex").write_text("\n".join(lines_out) + "\n")


def resource_rows(target: Target, synth: SynthReport) -> list[dict]:
    rows = []
    if target.family == "ecp5":  # "lc" counts LUT4 sites, each with a flip-flop
        for key in ("lut4", "carry", "dram", "dff"):
            rows.append({"resource": key, "used": synth.counts[key], "available": target.available("lc")})
        for key in ("ebr", "dsp"):
            rows.append({"resource": key, "used": synth.counts[key], "available": target.available(key)})
    elif target.family == "ice40":
        for key in ("lut4", "carry", "dff") + (("lc_packed",) if "lc_packed" in synth.counts else ()):
            rows.append({"resource": key, "used": synth.counts[key], "available": target.available("lc")})
        for key in RESOURCES[1:]:
            rows.append({"resource": key, "used": synth.counts[key], "available": target.available(key)})
    else:
        rows += [{"resource": k, "used": v, "available": None} for k, v in synth.counts.items()]
    return rows


REPORT = "build_report.json"


def check_outdir(outdir: Path, force: bool = False) -> Path:
    """OUTDIR resolved and its parents created; refuses a folder a build may not write into."""
    try:
        return _check_outdir(Path(outdir), kind="build", report=REPORT, force=force)
    except OutdirError as e:
        raise BuildError(str(e)) from None


def build(qmodel: QModel, outdir: Path, options: BuildOptions, *, say: Say = print,
          export_report: dict | None = None) -> BuildResult:
    """Everything `hwgen build` does after the model is a QModel."""
    from .toolchain.tools import ToolError

    target = get_target(options.target)
    if options.check:  # before the slow steps
        from .extras import MissingExtra, require

        try:
            require("cocotb", "sim", "hwgen build --check")
        except MissingExtra as e:
            raise BuildError(str(e)) from None
    if options.pnr and not target.has_pnr:
        raise BuildError(f"--pnr needs an FPGA target; {target.name} is synthesis only")
    board = _board(options, target)
    try:
        check_onchip(code_bits(qmodel), target, exact=True)
    except LimitError as e:
        raise BuildError(str(e)) from None
    outdir = check_outdir(Path(outdir), options.force)
    clean_stale(outdir, say)
    staging = make_staging(outdir)
    try:
        report = _build_into(qmodel, staging, options, target, board, say, export_report)
        shutil.rmtree(staging / "fit", ignore_errors=True)
        (staging / REPORT).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        files = install(staging, outdir, kind="build", report=REPORT)
    except (ToolError, BuildError) as e:
        if f"{staging}" in str(e):  # the message names a log in the staging folder: keep it
            raise type(e)(f"{e}\n  (the failed build's files stay in {staging} until the next "
                          f"build into {outdir.parent})") from None
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except OutdirError as e:
        raise BuildError(str(e)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildResult(outdir, report, files)


def point_name(style: str, lanes: int, weights: str, hot: bool = True, sparse: bool = False,
               dsp: bool = False) -> str:
    return (f"{style}-p{lanes}" + ("" if weights == "rom" else f"-{weights}") + ("" if hot else "-dense")
            + ("-sparse" if sparse else "") + ("-dsp" if dsp else ""))


def _fit_products(qmodel, staging, options, target, say, need, packing, below, memo):
    """The fit with the lanes' products placed: ``(weights, fit, hot, sparse, dsp)``.

    With ``--lane-products auto`` on a target with hard multipliers, the design with shift-add
    lanes is fitted first (:func:`_fit_reads`); then, for the speed objective, designs whose
    power-of-two and fixed-point lanes multiply on hard multipliers
    (hwgen.generator.lanes.takes_dsp), with the chosen state reads and the fastest input reads, at
    lane counts from the chosen one up to twice it (or the target's multiplier count, if more), as
    many as the multipliers allow (the plan counts one a lane) and only where they take fewer
    cycles per step. The fewest such lanes are synthesized first (over on logic cells or
    multipliers, nothing more will fit; over only on memory, the next count is tried: block RAM
    is not monotone in the lanes), then the most, then counts between (:func:`_between`). The
    fastest that fits wins, else the shift-add design: such lanes cost fewer logic cells, so more
    of them can fit. Where the shift-add design is over on logic cells at every lane count it may
    take (``--lanes N`` fixed: at N), the same fit runs with multiplier lanes, and the shift-add
    design's refusal stands if that fails too. A floor with the area objective weighs every kind
    of datapath instead (:func:`_fit_floor`)."""
    if need.objective == "area" and need.min_steps is not None:
        return _fit_floor(qmodel, staging, options, target, say, need, packing, below, memo)
    fixed = options.lane_dsps is not None or not target.available("dsp") or need.objective == "area"
    if fixed:
        dsp = options.lane_dsps is True
        return (*_fit_reads(qmodel, staging, dataclasses.replace(options, lane_dsps=dsp), target, say, need,
                            packing, below, memo), dsp)
    logic = dataclasses.replace(options, lane_dsps=False)
    try:
        weights, chosen, hot, sparse = _fit_reads(qmodel, staging, logic, target, say, need, packing, below, memo)
    except FitError as e:  # over on logic cells even at its fewest (or the user's) lanes: multipliers may fit
        if "lc" not in e.over:
            raise
        try:
            return (*_fit_reads(qmodel, staging, dataclasses.replace(options, lane_dsps=True), target, say, need,
                                packing, below, memo), True)
        except FitError:
            raise e from None
    if chosen.style != "folded":
        return weights, chosen, hot, sparse, False
    beat = point_plan(qmodel, dataclasses.replace(logic, skip_zeros=sparse), target, "folded", chosen.lanes,
                      weights, hot).cycles_per_step
    dsp_options = dataclasses.replace(options, lane_dsps=True, skip_zeros=sparse, weights=weights, style="folded")
    # Up to twice the shift-add lanes, or as many as the multipliers, if more: a shift-add fit a few
    # cells over at 4 lanes stops at 2, where multiplier lanes may fit 5.
    most = min(max(2 * chosen.lanes, target.available("dsp")), max_lanes(qmodel),
               min((below.get(sparse) or {}).values(), default=10**9) - 1)
    plans = {}
    if options.lanes is not None:  # fixed by the user: only its reads are still open
        most = chosen.lanes
    for p in range(most, chosen.lanes - 1, -1):
        for h in dict.fromkeys((True, hot) if options.hot_column is None else (hot,)):  # hot reads first
            plan = point_plan(qmodel, dsp_options, target, "folded", p, weights, h)
            if 0 < plan.dsp_lanes <= target.available("dsp") and plan.cycles_per_step < beat:
                plans.setdefault(p, (h, plan))
    tried, best = list(chosen.tried), None

    def attempt(p):
        h, plan = plans[p]
        try:
            return _fit_weights(qmodel, staging, dataclasses.replace(dsp_options, lanes=p, hot_column=h), target,
                                say, need, packing, None, memo, h)[1]
        except FitError as e:
            tried.append(Candidate("folded", p, False, plan.cycles_per_step, _over_text(e),
                                   "hot" if any(st.hot for st in plan.stages) else "dense",
                                   "sparse" if sparse else "", "dsp"))
            return e

    lanes = sorted(plans)
    for i, p in enumerate(lanes):  # the fewest lanes first: if they are over on logic, more will be too
        low = attempt(p)
        if isinstance(low, Fit):
            best, lanes = (p, low), lanes[i:]
            break
        if not memory_only(low.over):
            break
    if best is not None and len(lanes) > 1:
        high = attempt(lanes[-1])
        if isinstance(high, Fit):
            best = (lanes[-1], high)
        else:
            for p in _between(lanes, low, high):
                mid = attempt(p)
                if isinstance(mid, Fit):
                    best = (p, mid)
                    break
    if best is not None:
        p, got = best
        h, plan = plans[p]
        last = max(i for i, c in enumerate(tried) if (c.style, c.lanes) == (chosen.style, chosen.lanes)
                   and not c.rejected)
        tried[last] = dataclasses.replace(tried[last], rejected=f"slower: {beat:,} cycles per step against "
                                          f"{plan.cycles_per_step:,} with lanes on hard multipliers")
        return weights, dataclasses.replace(got, tried=tuple(tried) + tuple(
            dataclasses.replace(c, products="dsp") for c in got.tried)), h, sparse, True
    return weights, dataclasses.replace(chosen, tried=tuple(tried)), hot, sparse, False


#: How a floor's candidates of different kinds are compared: logic cells first.
AREA_ORDER = ("lc", "dsp", "ebr", "spram")


def _floor_kinds(qmodel, options, target) -> list[BuildOptions]:
    """The kinds of datapath a floor on steps per second may take: shift-add lanes with dense
    reads, and, where the user left them open and they apply, hot-column reads, lanes on hard
    multipliers and zero-skipping state reads, alone and together. Each buys cycles with logic,
    multipliers or memory, so which is smallest for a floor depends on the floor."""
    from .generator.hot_column import hot_split
    from .generator.sparse_layout import skippable

    def choices(given, applies):
        return [given is True] + ([True] if given is None and applies else [])

    def one_lane(**change):
        return point_plan(qmodel, dataclasses.replace(options, **change), target, "folded", 1)

    hots = choices(options.hot_column, hot_split(qmodel, 0, "folded", 1) is not None)
    if options.hot_column is None and len(hots) == 1:  # no one-hot input: nothing to choose
        hots = [None]
    dsps = choices(options.lane_dsps, target.available("dsp") > 0 and one_lane(lane_dsps=True).dsp_lanes > 0)
    sparse = choices(options.skip_zeros, any(skippable(layer.w_hh) for layer in qmodel.layers)
                     and one_lane(skip_zeros=True).cycles_per_step < one_lane(skip_zeros=False).cycles_per_step)
    return [dataclasses.replace(options, hot_column=h, lane_dsps=d, skip_zeros=z)
            for z in sparse for d in dsps for h in hots]


def _fit_floor(qmodel, staging, options, target, say, need, packing, below, memo):
    """The smallest design that meets a floor on steps per second (``--objective area``):
    ``(weights, fit, hot, sparse, dsp)``. Each kind of datapath (:func:`_floor_kinds`) gets its
    fewest lanes that meet the floor and fit; of those, the one with the fewest logic cells wins
    (then multipliers, block RAM, SPRAM), and its report says why each other candidate was not
    taken. If no kind meets the floor, the refusal lists every kind's candidates and names the
    fastest design that fits of them all (the one ``--lanes auto`` builds) at the floor's clock."""
    kinds = _floor_kinds(qmodel, options, target)
    if len(kinds) == 1:
        return (*_fit_reads(qmodel, staging, kinds[0], target, say, need, packing, below, memo), kinds[0].lane_dsps)
    quiet = dataclasses.replace(need, name_fastest=False)  # named once, below, of all kinds
    met, weighed = [], []
    for kind in kinds:
        try:
            met.append((kind, *_fit_reads(qmodel, staging, kind, target, say, quiet, packing, below, memo)))
        except FitError as e:  # a refusal without candidates (the user's lanes over) still says why
            weighed += _labelled(kind, e.tried or [Candidate("folded", kind.lanes or 1, False, None, _over_text(e))])
    if met:
        kind, weights, fit, hot, sparse = min(met, key=lambda m: tuple(m[2].report.used(r) for r in AREA_ORDER))
        for other in (m for m in met if m[0] is not kind):
            mine, theirs = fit.report.used("lc"), other[2].report.used("lc")
            weighed += [dataclasses.replace(c, rejected=c.rejected or f"larger: {theirs:,} logic cells against {mine:,}")
                        for c in _labelled(other[0], other[2].tried)]
        return weights, dataclasses.replace(fit, tried=tuple(weighed) + tuple(_labelled(kind, fit.tried))), hot, \
            sparse, kind.lane_dsps
    from .fit import floor_refusal

    try:
        weights, fit, hot, sparse, dsp = _fit_products(qmodel, staging, options, target, say,
                                                       dataclasses.replace(need, min_steps=None, objective="speed"),
                                                       packing, below, memo)
        plan = point_plan(qmodel, dataclasses.replace(options, skip_zeros=sparse, lane_dsps=dsp), target, fit.style,
                          fit.lanes, weights, hot)
        named = ("the fastest design that fits", Candidate(
            fit.style, fit.lanes, True, variant="hot" if any(st.hot for st in plan.stages) else "",
            state="sparse" if any(st.sparse for st in plan.stages) else "",
            products="dsp" if plan.dsp_lanes else "").label, plan.cycles_per_step)
    except FitError:
        named = None
    raise FitError(floor_refusal(need, target, weighed, named), tried=tuple(weighed))


def _labelled(kind: BuildOptions, tried) -> list[Candidate]:
    """``tried`` labelled with the kind of datapath they were fitted as (where not said yet)."""
    return [dataclasses.replace(c, variant=c.variant or ("hot" if kind.hot_column else
                                                         "dense" if kind.hot_column is False else ""),
                                state=c.state or ("sparse" if kind.skip_zeros else ""),
                                products=c.products or ("dsp" if kind.lane_dsps else "")) for c in tried]


#: Lane counts tried between the fewest and the most multiplier lanes after both are known.
BETWEEN_TRIES = 3


def _between(lanes: list[int], low: Fit, high: FitError) -> list[int]:
    """The lane counts to try, in order, between ``lanes[0]`` (which fits: ``low``) and
    ``lanes[-1]`` (which does not: ``high``): downwards from where the line between their logic
    cells crosses the limit (from the count below the most, where more than logic was over), at
    most :data:`BETWEEN_TRIES`. Memory is not monotone in the lanes (banks of a non-power-of-two
    count can take more block RAM than more lanes do), so one over on memory does not end it."""
    start = lanes[-1] - 1
    if "lc" in high.over:
        lo_lc, (hi_lc, cap) = low.report.used("lc"), high.over["lc"]
        start = min(start, lanes[0] + int((cap - lo_lc) * (lanes[-1] - lanes[0]) / max(1, hi_lc - lo_lc)))
    return [p for p in reversed(lanes) if lanes[0] < p <= start][:BETWEEN_TRIES]


def _fit_reads(qmodel, staging, options, target, say, need, packing, below, memo):
    """The fit with the state reads chosen: ``(weights, fit, hot, sparse)``. ``below``:
    ``{sparse: {hot: a lane count that did not place}}``.

    With ``--state-reads auto``, on a model whose rows have zero codes to skip, the design with
    dense state reads is fitted first (input reads as :func:`_fit` chooses them); then, for the
    speed objective, the zero-skipping design at that lane count and, if it does not fit, at the
    next smaller one, each only where it takes fewer cycles per step: the first that fits wins,
    else the dense one. Zero-skipping buys cycles with memory (column offsets beside the codes, a
    copy of the state per lane), so it can fit at fewer lanes than the dense design, and the area
    objective (a floor met at the least area) keeps the dense one."""
    from .generator.sparse_layout import skippable

    fixed = options.skip_zeros is not None or not any(skippable(layer.w_hh) for layer in qmodel.layers)
    sparse = options.skip_zeros is True
    if fixed:
        options = dataclasses.replace(options, skip_zeros=sparse)
        return (*_fit(qmodel, staging, options, target, say, need, packing, below.get(sparse), memo), sparse)
    dense_options = dataclasses.replace(options, skip_zeros=False)
    weights, dense, hot = _fit(qmodel, staging, dense_options, target, say, need, packing, below.get(False), memo)
    if dense.style != "folded" or need.objective == "area":  # zero-skipping buys speed with memory
        return weights, dense, hot, False
    beat = point_plan(qmodel, dense_options, target, "folded", dense.lanes, weights, hot).cycles_per_step
    sparse_options = dataclasses.replace(options, skip_zeros=True, weights=weights, style="folded", hot_column=hot)
    cycles = {}  # of the zero-skipping design, from the dense one's lanes down while it is faster
    for p in range(min(dense.lanes, (below.get(True) or {}).get(hot, dense.lanes + 1) - 1), 0, -1):
        cycles[p] = point_plan(qmodel, sparse_options, target, "folded", p, weights, hot).cycles_per_step
        if cycles[p] >= beat or len(cycles) == 2:
            break
    lanes = [p for p, c in cycles.items() if c < beat]
    if not lanes:  # no zeros worth skipping: the report says nothing of state reads
        return weights, dense, hot, False
    tried = [dataclasses.replace(c, state="dense") for c in dense.tried]
    variant = ("hot" if hot else "dense") if any(c.variant for c in tried) else ""  # where input reads were fitted
    for p in lanes:
        try:
            _, got = _fit_weights(qmodel, staging, dataclasses.replace(sparse_options, lanes=p), target, say, need,
                                  packing, None, memo, hot)
        except FitError as e:
            tried.append(Candidate("folded", p, False, cycles[p], _over_text(e), variant, "sparse"))
            continue
        chosen = tried.index(next(c for c in reversed(tried) if (c.style, c.lanes) == (dense.style, dense.lanes)
                                  and not c.rejected))
        tried[chosen] = dataclasses.replace(tried[chosen], rejected=f"slower: {beat:,} cycles per step against "
                                            f"{cycles[p]:,} with zero-skipping")
        return weights, dataclasses.replace(got, tried=tuple(tried) + tuple(
            dataclasses.replace(c, variant=variant, state="sparse") for c in got.tried)), hot, True
    return weights, dataclasses.replace(dense, tried=tuple(tried)), hot, False


def _fit(qmodel, staging, options, target, say, need: Need | None = None, packing: float | None = None,
         below: dict | None = None, memo: dict | None = None):
    """The fit: ``(weights, fit, hot)``. ``need``: the requirement (default: the options' own, at
    the --freq clock); ``packing`` and ``below`` (``{hot: a lane count that did not place}``):
    what a design that did not pack taught.

    A token model whose table allows hot-column reads, with ``--input-reads auto``, has two designs
    per lane count: hot reads take fewer cycles, dense ones fewer logic cells. The dense design is
    fitted first (the search below); then the hot design at that lane count and, if it is over,
    at the next smaller ones while they still take fewer cycles per step (two tries at most): the
    first that fits wins, else the dense one. With ``--objective area`` the hot design at the
    dense one's lanes is taken if it fits."""
    from .generator.hot_column import hot_split

    need, below = need or options.need(), below or {}
    if options.hot_column is not None or hot_split(qmodel, 0, "folded", 1) is None:
        hot = options.hot_column is not False
        return (*_fit_weights(qmodel, staging, options, target, say, need, packing, below.get(hot), memo, hot), hot)
    weights, dense = _fit_weights(qmodel, staging, options, target, say, need, packing, below.get(False), memo, False)
    plan = point_plan(qmodel, options, target, dense.style, dense.lanes, weights, True)
    if dense.style != "folded" or not any(st.hot for st in plan.stages):
        return weights, dense, False  # hot reads do not apply to this design
    beat = point_plan(qmodel, options, target, dense.style, dense.lanes, weights, False).cycles_per_step
    top = min(dense.lanes, below.get(True, dense.lanes + 1) - 1)
    lanes = [p for p in range(top, 0, -1)
             if point_plan(qmodel, options, target, "folded", p, weights, True).cycles_per_step < beat]
    tried = [dataclasses.replace(c, variant="dense") for c in dense.tried]
    fixed = dataclasses.replace(options, weights=weights, style="folded")
    for p in lanes[:1 if need.objective == "area" else 2]:
        try:
            _, hot = _fit_weights(qmodel, staging, dataclasses.replace(fixed, lanes=p), target, say, need,
                                  packing, None, memo, True)
        except FitError as e:
            tried.append(Candidate("folded", p, False, None, _over_text(e), "hot"))
            continue
        chosen = len(dense.tried) - 1
        tried[chosen] = dataclasses.replace(tried[chosen], rejected=f"slower: {beat:,} cycles per step against "
                                            f"{point_plan(qmodel, options, target, 'folded', p, weights, True).cycles_per_step:,}")
        return weights, dataclasses.replace(hot, tried=tuple(tried) + tuple(
            dataclasses.replace(c, variant="hot") for c in hot.tried)), True
    return weights, dataclasses.replace(dense, tried=tuple(tried)), False


def _over_text(e: FitError) -> str:
    from .fit import over_text

    return over_text(e.over) if e.over else str(e).splitlines()[0]


def _fit_weights(qmodel, staging, options, target, say, need, packing, below, memo, hot):
    """The fit of one input mode with the weights where ``--weights`` says; ``auto`` tries block
    RAM (ROM) first and, when the codes do not fit it, SPRAM on a target that has it (loaded at
    run time)."""
    most = max_lanes(qmodel) if below is None else min(max_lanes(qmodel), below - 1)
    choices = [options.weights] if options.weights != "auto" else ["rom"]
    if options.weights == "auto" and target.available("spram") > 0:
        bits, room = code_bits(qmodel), target.available("ebr") * target.ebr_bits
        if bits > room:  # cannot fit: no need to synthesize it to know
            if memo is not None and not memo.get("said spram"):
                say(f"the weight codes ({bits / 1024:,.0f} Kbit) exceed the block RAM ({room / 1024:,.0f} Kbit): "
                    "keeping them in SPRAM, loaded at run time")
                memo["said spram"] = True
            choices = ["spram"]
        else:
            choices.append("spram")
    for k, weights in enumerate(choices):
        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            try:
                measure = synth_measure(qmodel, options, target, staging, say, pool, weights, memo, hot)
                cycles = functools.cache(lambda s, p, w=weights: point_plan(qmodel, options, target, s, p, w, hot)
                                         .cycles_per_step)
                style = options.style if weights == "rom" and below is None else "folded"
                return weights, choose(target, measure, max_lanes=most, weights=weight_count(qmodel),
                                       lanes=options.lanes, style=style, cycles=cycles, need=need, packing=packing)
            except FitError as e:
                if k + 1 == len(choices) or "ebr" not in e.over:
                    raise
                say("the weight codes do not fit block RAM: trying them in SPRAM, loaded at run time")
            finally:
                stop_tools()  # points started ahead that the fit did not need


def _board(options: BuildOptions, target: Target):
    from .board_build import baud as board_baud
    from .toolchain.boards import BAUD_TOLERANCE, BOARDS, clocks, fixed_clock, get_board
    from .toolchain.targets import TargetError

    if not options.bitstream:
        return None
    if options.board is None:
        raise BuildError(f"--bitstream needs --board (valid boards: {', '.join(BOARDS)})")
    board = get_board(options.board)
    if target.name not in board.targets:
        raise BuildError(f"board {board.name} carries {' or '.join(board.targets)}, not {target.name}; "
                         f"use --target {board.targets[0]}")
    if options.baud is not None and not (isinstance(options.baud, int) and options.baud > 0):
        raise BuildError(f"--baud {options.baud}: a positive whole number of bits per second")
    rate = board_baud(board, options)
    if options.board_clock_mhz is not None:
        try:
            fixed_clock(board, rate, options.board_clock_mhz)
        except TargetError as e:
            raise BuildError(str(e)) from None
    elif not clocks(board, rate, float("inf")):
        raise BuildError(f"--baud {rate:,}: no clock of {board.name} has a whole number (4 or more) of "
                         f"cycles per bit within {BAUD_TOLERANCE:.0%}; its default is {board.default_baud:,}")
    return board


def _build_into(qmodel, staging, options, target, board, say, export_report) -> dict:
    save(qmodel, staging / "model.qmodel.json")
    if export_report is not None:
        (staging / "export_report.json").write_text(json.dumps(export_report, indent=1, sort_keys=True) + "\n")
    weights, fit, plan, report = _design(qmodel, staging, options, target, say, board)
    say("writing test vectors (golden model)")
    write_vectors(qmodel, options.output, test_vectors(qmodel, options.output, options.vector_sequences,
                                                      options.vector_steps, options.seed), staging / "vectors")
    if plan.loaded:
        from .generator.code_memory import image_text, load_image

        (staging / "vectors" / "load.hex").write_text(image_text(load_image(qmodel, plan)))
    if board is not None:  # placed in the fit's loop (_design): what is left is the bitstream itself
        from .toolchain.bitstream import build_bitstream

        say(f"writing the {board.name} bitstream")
        report["bitstream"]["file"] = build_bitstream(target, staging, qmodel.name, say).name
    if options.check:
        report["check"] = _check(staging, options, say)
    return report


#: rounds of fitting again at the measured Fmax when a placed design misses --min-steps-per-second
PNR_ROUNDS = 4


def _design(qmodel, staging, options, target, say, board=None):
    """Fit, install the chosen design's files and, with --pnr, place and route it. A floor on
    steps per second is first checked at the --freq goal; when the placed design's median Fmax
    misses it, the fit runs again at that Fmax (more lanes). A design whose packed logic cells
    exceed the device (synthesis only estimates them) is not placed: the fit runs again below its
    lane count with the estimate scaled by the packing measured. Up to :data:`PNR_ROUNDS` rounds."""
    from .toolchain.pack import Unplaceable

    clock, packing, below, unplaced, placed, memo = None, None, {}, [], False, {}
    for _ in range(PNR_ROUNDS):
        need, placed = options.need(clock), False
        try:
            weights, fit, hot, sparse, dsp = _fit_products(qmodel, staging, options, target, say, need, packing,
                                                           below, memo)
        except FitError as e:
            if clock is None and packing is None:
                raise
            why = (f"placed and routed, {label(fit.style, fit.lanes)} reaches a median Fmax of {clock:g} MHz, "
                   "under the --freq goal; at that clock" if clock is not None else
                   f"packed, {unplaced[-1].label} did not fit ({unplaced[-1].rejected}); with that packing")
            raise FitError(f"{why}, {e}", e.over) from None
        fit = dataclasses.replace(fit, tried=tuple(unplaced) + fit.tried)
        chosen_options = dataclasses.replace(options, skip_zeros=sparse, lane_dsps=dsp)
        plan = point_plan(qmodel, chosen_options, target, fit.style, fit.lanes, weights, hot)
        say(f"chosen datapath: {label(fit.style, fit.lanes)}" + (", weights in SPRAM" if weights == "spram" else "")
            + ("" if any(st.hot for st in plan.stages) or not _chosen(fit).variant else ", input read densely")
            + (", zero-skipping state reads" if sparse else "") + (", lanes on hard multipliers" if dsp else ""))
        _install_point(staging / "fit" / point_name(fit.style, fit.lanes, weights, hot, sparse, dsp), staging, plan)
        report = _report(qmodel, target, fit, plan, need)
        if not (options.pnr or options.bitstream):
            return weights, fit, plan, report
        try:
            _place(report, qmodel, options, target, plan, board, staging, say)
            placed = True
        except Unplaceable as e:
            if options.lanes is not None or "lc" not in e.over:
                raise
            packing = e.over["lc"][0] / fit.report.used("lc")
            below.setdefault(sparse, {})[hot] = fit.lanes if fit.style == "folded" else max_lanes(qmodel) + 1
            unplaced.append(dataclasses.replace(_chosen(fit), fits=False, rejected=e.rejected))
            say(f"{unplaced[-1].label} does not fit {target.name} ({e.rejected}; {packing:.2f} "
                "packed cells per synthesized estimate): fitting again below it with that packing")
            continue
        floor, reached = options.min_steps_per_second, report["pnr"]["steps_per_second"]
        if floor is None or reached >= floor or options.lanes is not None:
            break
        clock = report["pnr"]["fmax_mhz"]
        say(f"{reached:,.0f} steps/s at the measured {clock:g} MHz misses {floor:,.0f}: fitting again at that clock")
    if not placed:  # every round's design failed to pack or to place
        raise BuildError(f"no design placed in {target.name} in {PNR_ROUNDS} rounds: " + "; ".join(
            f"{c.label}: {c.rejected}" for c in unplaced) + "; options: --lanes with fewer lanes, a larger device "
            "(`hwgen targets`), a smaller model")
    floor = options.min_steps_per_second
    if floor is not None and report["pnr"]["steps_per_second"] < floor:
        p = report["pnr"]
        raise BuildError(f"placed and routed, the design ({label(fit.style, fit.lanes)}, {plan.cycles_per_step:,} "
                         f"cycles per step) reaches {p['fmax_mhz']:g} MHz (median of {len(p['seeds'])} seeds): "
                         f"{p['steps_per_second']:,.0f} time steps per second, under --min-steps-per-second "
                         f"{floor:,.0f}; options: a lower floor, a larger device, a smaller model")
    return weights, fit, plan, report


def _place(report, qmodel, options, target, plan, board, staging: Path, say: Say) -> None:
    """Places the design: in its harness (``report["pnr"]``) and, with a board, the board top
    (``report["bitstream"]``). The board top is packed first at the clock it would run at if the
    harness met the --freq goal (minutes of harness placement are not spent on a board top that
    cannot fit), then synthesized again at the clock the harness's median Fmax allows."""
    from . import board_build

    design = lambda: make_design(qmodel, plan)  # noqa: E731 (a fresh component per netlist)
    if board is not None:
        clock = board_build.board_clock(board, options, None)
        packed = board_build.synthesize(design, board, target, clock, staging, say)
    _pnr(report, options, target, plan, staging, say)
    if board is not None:
        fmax = report["pnr"]["fmax_mhz"]
        final = board_build.board_clock(board, options, fmax)
        if final != clock:
            clock, packed = final, board_build.synthesize(design, board, target, final, staging, say)
        report["bitstream"] = board_build.place(design, plan, board, target, options, staging, say, clock, packed,
                                                fmax)


def _chosen(fit) -> Candidate:
    """The fit's record of the design it took (not always the last one tried)."""
    return next(c for c in reversed(fit.tried) if (c.style, c.lanes) == (fit.style, fit.lanes) and not c.rejected)


def _install_point(point: Path, staging: Path, plan) -> None:
    for name in (f"{TOP}.v", f"{TOP}.il", "synth.ys", "synth_stat.json"):
        shutil.copyfile(point / name, staging / name)
    shutil.copytree(point / "logs", staging / "logs", dirs_exist_ok=True)
    (staging / "design.json").write_text(json.dumps(plan.to_json(TOP), indent=1, sort_keys=True) + "\n")


def _report(qmodel, target, fit, plan, need: Need) -> dict:
    return {
        "model": {"name": qmodel.name, "digest": digest(qmodel), "layers": [l.kind for l in qmodel.layers],
                  "weights": weight_count(qmodel)},
        "target": {"name": target.name, "description": target.description},
        "design": {**plan.params.to_json(), "hot_column_reads": any(st.hot for st in plan.stages),
                   "zero_skipping": any(st.sparse for st in plan.stages),
                   "lane_multipliers": plan.dsp_lanes,
                   "cycles_per_step": plan.cycles_per_step, "latency": plan.latency,
                   **({"load_words": plan.load_words, "load_image": "vectors/load.hex"} if plan.loaded else {})},
        "fit": {"objective": need.objective, "tried": [c.to_json() for c in fit.tried],
                **({"min_steps_per_second": need.min_steps, "clock_mhz": need.clock_mhz}
                   if need.min_steps is not None else {})},
        "synthesis": {**fit.report.to_json(), "rows": resource_rows(target, fit.report)},
    }


def _pnr(report, options, target, plan, staging, say) -> None:
    from .toolchain.pnr import place_and_route_seeds

    seeds = tuple(range(1, options.pnr_seeds + 1))
    say(f"placing and routing for {target.name} (nextpnr, goal {options.freq_mhz:g} MHz, "
        f"{'seeds 1-' + str(seeds[-1]) if len(seeds) > 1 else 'seed 1'})")
    pnr = place_and_route_seeds(staging / f"{TOP}.il", target, staging, plan.input_width, plan.output_width,
                                seeds=seeds, freq_mhz=options.freq_mhz, loaded=bool(plan.loaded), announce=say)
    cycles, fmax = plan.cycles_per_step, pnr.median_mhz
    report["pnr"] = {**pnr.to_json(), "steps_per_second": round(fmax * 1e6 / cycles, 1),
                     "step_latency_us": round(cycles / fmax, 3)}


def _check(staging: Path, options: BuildOptions, say: Say) -> dict:
    from sim import check_build  # the verification package's public surface

    say(f"checking the Verilog against the golden model ({options.sim})")
    try:
        summary = check_build(staging, options.sim, seed=options.seed + 1)
    except RuntimeError as e:  # a mismatch, or a simulator that is missing or failed
        raise BuildError(str(e)) from None
    shutil.rmtree(staging / "check", ignore_errors=True)
    return summary
