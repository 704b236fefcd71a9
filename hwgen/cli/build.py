"""`hwgen build` and `hwgen targets`: arguments, progress and the printed report (the work:
hwgen/build.py). The command's imports wait until it runs, so building the parser stays light."""

from __future__ import annotations

import time
from pathlib import Path

from .common import CliError, console


def cmd_build(args) -> None:
    from ..build import BuildError
    from ..fit import FitError
    from ..toolchain.targets import TargetError
    from ..toolchain.tools import ToolError

    try:
        run_build(args)
    except (BuildError, FitError, TargetError, ToolError) as e:  # their messages say what to do
        raise CliError(str(e)) from None


def auto_float(value: str, flag: str) -> float | None:
    """``None`` for ``auto``, else a positive number."""
    from ..build import BuildError

    if value == "auto":
        return None
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    if not 0 < x < float("inf"):
        raise BuildError(f"{flag} {value!r}: a positive number (MHz), or auto")
    return x


def auto_int(value: str, flag: str, least: int) -> int | None:
    """``None`` for ``auto``, else an integer of at least ``least``."""
    from ..build import BuildError

    if value == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        raise BuildError(f"{flag} {value!r}: an integer of at least {least}, or auto") from None
    if n < least:
        raise BuildError(f"{flag} {n}: at least {least}")
    return n


def options_from(args):
    """The :class:`hwgen.build.BuildOptions` the arguments ask for."""
    from ..build import BuildError, BuildOptions

    lanes = auto_int(args.lanes, "--lanes", 1)
    multipliers = auto_int(args.multipliers, "--multipliers", 0)
    if args.pnr_seeds < 1:
        raise BuildError(f"--pnr-seeds {args.pnr_seeds}: at least 1")
    floor = args.min_steps_per_second
    if floor is not None and not 0 < floor < float("inf"):
        raise BuildError(f"--min-steps-per-second {floor:g}: a positive number of time steps per second")
    if args.freq <= 0:
        raise BuildError(f"--freq {args.freq:g}: a positive clock in MHz")
    board_clock = auto_float(args.board_clock, "--board-clock")
    return BuildOptions(target=args.target, lanes=lanes, style=args.style, output=args.output,
                        multipliers=multipliers, weights=args.weights,
                        hot_column={"auto": None, "hot": True, "dense": False}[args.input_reads],
                        skip_zeros={"auto": None, "sparse": True, "dense": False}[args.state_reads],
                        lane_dsps={"auto": None, "dsp": True, "logic": False}[args.lane_products],
                        pnr=args.pnr, pnr_seeds=args.pnr_seeds,
                        min_steps_per_second=floor, objective=args.objective,
                        freq_mhz=args.freq,
                        bitstream=args.bitstream, board=args.board, board_clock_mhz=board_clock, baud=args.baud,
                        check=args.check, sim=args.sim,
                        seed=args.seed, force=args.force)


def _refuse_oversized(path: Path, target: str) -> None:
    """Before the export (minutes for a big model): refuse weights no device memory can hold,
    counting each weight matrix's entries at one bit, from the checkpoint's tensor shapes."""
    import torch

    from ..build import BuildError
    from ..toolchain.limits import LimitError, check_onchip
    from ..toolchain.targets import get_target

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return  # not a readable checkpoint: the export says why
    sd = obj.get("state_dict", obj) if isinstance(obj, dict) else {}
    weights = sum(t.numel() for k, t in sd.items()
                  if isinstance(t, torch.Tensor) and t.dim() == 2 and "weight" in k and "embedding" not in k)
    try:
        check_onchip(weights, get_target(target), exact=False)
    except LimitError as e:
        raise BuildError(f"{path}: {e}") from None


def _stage_reporter(say):
    """An export progress callback that says each stage once, when it starts."""
    seen = set()

    def progress(what: str, done: int, total: int) -> None:
        if what not in seen:
            seen.add(what)
            say(f"  export: {what} ({total} part{'s' if total != 1 else ''})")
    return progress


def load_model(path: str, say, export_options=None, target: str = "ice40"):
    """The build's model (hwgen.models): a QModel file as is, a checkpoint exported, after the
    quick refusal of weights no device memory can hold; returns (qmodel, export report or None)."""
    from ..build import BuildError
    from ..models import ModelError
    from ..models import load_model as read

    try:
        return read(path, export_options=export_options, say=say, progress=_stage_reporter(say),
                    before_export=lambda p: _refuse_oversized(p, target))
    except ModelError as e:
        raise BuildError(str(e)) from None


def run_build(args) -> None:
    from ..build import build, check_outdir
    from .export import export_options

    t0 = time.monotonic()
    say = (lambda msg: None) if args.quiet else (lambda msg: console.print(f"[dim]{time.monotonic() - t0:6.1f}s[/] {msg}"))
    options = options_from(args)
    check_outdir(Path(args.outdir), args.force)  # before the slow steps
    qmodel, export_report = load_model(args.model, say, export_options(args), args.target)
    result = build(qmodel, Path(args.outdir), options, say=say, export_report=export_report)
    print_report(result.report)
    console.print(f"wrote {result.outdir}/ ({len(result.files)} files) in {time.monotonic() - t0:.1f} s")


def print_report(report: dict) -> None:
    from rich.table import Table

    from ..fit import label

    d, t = report["design"], report["target"]
    console.print(f"[bold]{report['model']['name']}[/] on {t['name']}: {d['style']} datapath, {d['lanes']} lane(s), "
                  f"{d['cycles_per_step']:,} cycles per time step, latency {d['latency']:,} cycles")
    table = Table("resource", "used", "available", "use", title="synthesis (yosys)", title_justify="left")
    for row in report["synthesis"]["rows"]:
        avail = row["available"]
        share = f"{100 * row['used'] / avail:.1f}%" if avail else ""
        table.add_row(row["resource"], f"{row['used']:,}", f"{avail:,}" if avail else "-", share)
    console.print(table)
    fit = report["fit"]
    if "min_steps_per_second" in fit:
        console.print(f"fit: {fit['objective']}, at least {fit['min_steps_per_second']:,.0f} time steps per second "
                      f"at {fit['clock_mhz']:g} MHz")
    for c in fit["tried"]:
        if c.get("rejected"):
            variant = f", {c['input_reads']} input" if "input_reads" in c else ""
            variant += f", {c['state_reads']} state reads" if "state_reads" in c else ""
            variant += ", lanes on hard multipliers" if c.get("lane_products") == "dsp" else ""
            console.print(f"  rejected {label(c['style'], c['lanes'])}{variant}: {c['rejected']}")
    if "pnr" in report:
        p = report["pnr"]
        lc = p["utilization"].get("lc", {})
        seeds = p["seeds"]
        spread = (f" (median of {len(seeds)} placement seeds, {p['fmax_worst_mhz']:.1f}-{p['fmax_best_mhz']:.1f})"
                  if len(seeds) > 1 else f" (placement seed {seeds[0]['seed']})")
        console.print(f"place and route: Fmax {p['fmax_mhz']:.1f} MHz{spread}, {lc.get('used', 0):,}/"
                      f"{lc.get('available', 0):,} logic cells; {p['steps_per_second']:,.0f} time steps per "
                      f"second, {p['step_latency_us']:.2f} us per step")
    if "bitstream" in report:
        b = report["bitstream"]
        source = "the oscillator" if b["pll"] is None else f"the PLL from {b['oscillator_mhz']:g} MHz"
        link = b["link"]
        console.print(f"bitstream: {b['file']} for {b['board']}: clock {b['clock_mhz']:g} MHz from {source} "
                      f"({b['fmax_mhz']:.1f} MHz reached), UART {b['baud']:,} baud; end to end "
                      f"{link['steps_per_second']:,.0f} time steps per second (link {link['link_steps_per_second']:,.0f}, "
                      f"design {link['design_steps_per_second']:,.0f}; one at a time "
                      f"{link['one_at_a_time_steps_per_second']:,.0f})")
    if "check" in report:
        c = report["check"]
        console.print(f"check ({c['simulator']}): {c['steps']} steps, {c['mismatches']} mismatches")


def cmd_targets(args) -> None:
    from rich.table import Table

    from ..toolchain.boards import BOARDS
    from ..toolchain.targets import ALIASES, TARGETS

    table = Table("target", "description", "boards (--bitstream)", title="hwgen build --target",
                  title_justify="left")
    for name, target in TARGETS.items():
        aliases = [a for a, t in ALIASES.items() if t == name]
        boards = ", ".join(b.name for b in BOARDS.values() if name in b.targets)
        table.add_row(name + (f" ({', '.join(aliases)})" if aliases else ""), target.description, boards)
    console.print(table)


def add_parsers(sub) -> None:
    from .arguments import add_build_arguments

    s = sub.add_parser("build", help="model to Verilog, resource report, Fmax and bitstream (docs/build.md)",
                       description="Export (for model.pt), generate the datapath that fits the target, "
                                   "synthesize it and report its cost; optionally place and route, "
                                   "build a board bitstream and simulate against the golden model.")
    add_build_arguments(s)
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("targets", help="list the build targets")
    s.set_defaults(func=cmd_targets)
