"""`hwgen sweep SPEC`: a grid of training runs and hardware designs on Ray, resumable, with the
paper table and the design space as its report (docs/sweep.md)."""

from __future__ import annotations

import shlex
from pathlib import Path

from .common import CliError, console


def cmd_sweep(args) -> None:
    from ..sweep.report import write_report
    from ..sweep.run import SweepError, run_sweep
    from ..sweep.spec import SpecError, load_spec

    from ..extras import MissingExtra, require

    try:
        spec = load_spec(args.spec)
        for module in ("ray", "matplotlib"):
            if module == "matplotlib" or not args.report:
                require(module, "sweep", "hwgen sweep")
    except (SpecError, MissingExtra) as e:
        raise CliError(str(e)) from None
    if args.workers is not None and args.workers < 1:
        raise CliError("--workers must be at least 1")
    results = Path(args.output or Path("out") / "sweeps" / Path(args.spec).stem)
    command = f"hwgen sweep {shlex.quote(args.spec)} -o {shlex.quote(str(results))}"  # what reproduces the results
    say = (lambda m: None) if args.quiet else (lambda m: console.print(m, soft_wrap=True, highlight=False))
    keep = Path(args.keep_models) if args.keep_models else None
    if keep is not None and keep.exists() and not keep.is_dir():
        raise CliError(f"--keep-models {keep}: is a file, not a folder")
    if not args.report:
        try:
            outcome = run_sweep(spec, results, address=args.address, workers=args.workers,
                                retry_failed=args.retry_failed, allow_spec_change=args.allow_spec_change,
                                keep=keep, say=say)
        except SweepError as e:
            raise CliError(str(e)) from None
        console.print(f"sweep {spec.name}: {outcome.ran} point(s) run ({outcome.failed} failed), "
                      f"{outcome.skipped} already done, {outcome.reused} reused, in {outcome.wall_s:.0f} s")
    elif not (results / "sweep.json").exists():
        raise CliError(f"--report: {results} holds no sweep results (run the sweep first, or give -o)")
    if args.report and keep is not None:
        from ..sweep.run import keep_models

        keep_models(spec, results, keep, say)
    path = write_report(results, spec.name, command, Path(args.report_dir) if args.report_dir else None, spec)
    console.print(f"wrote {path}")


def add_parsers(sub) -> None:
    s = sub.add_parser("sweep", help="grids of training runs and hardware designs on Ray (docs/sweep.md)",
                       description="Run every point of SPEC (a TOML grid) not yet finished in the results "
                                   "folder, as Ray tasks on this machine or a cluster, then write the "
                                   "report: the paper table and the accuracy x cost design space.")
    s.add_argument("spec", help="the SPEC file (.toml)")
    s.add_argument("-o", "--output", metavar="DIR", help="results folder (default out/sweeps/<SPEC's name>)")
    s.add_argument("--address", help="a running Ray cluster (Ray's forms: auto, HOST:PORT, ray://HOST:PORT); "
                                     "default: a local Ray started for the sweep")
    s.add_argument("--workers", type=int, metavar="N", help="local Ray: worker CPUs (default: all cores)")
    s.add_argument("--report", action="store_true", help="only write the report from the results folder")
    s.add_argument("--report-dir", metavar="DIR", help="write report.md and its plots here (default: the results folder)")
    s.add_argument("--retry-failed", action="store_true", help="run the points recorded as failed again")
    s.add_argument("--allow-spec-change", action="store_true",
                   help="add this SPEC's points to a results folder made by another SPEC")
    s.add_argument("--keep-models", metavar="DIR",
                   help="also copy each finished training point's model (less its resume state) into DIR, "
                        "a folder to list under the SPEC's reuse so the grid outlives its results folder")
    s.add_argument("--quiet", action="store_true", help="only the summary")
    s.set_defaults(func=cmd_sweep)
