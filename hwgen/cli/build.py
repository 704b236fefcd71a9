"""`hwgen build` and `hwgen targets` wiring (the command's work: hwgen/cli/build_command.py and hwgen/build.py)."""

from __future__ import annotations

from .common import CliError, console


def cmd_build(args) -> None:
    from .build_command import BUILD_ERRORS, run_build

    try:
        run_build(args, console)
    except BUILD_ERRORS as e:
        raise CliError(str(e)) from None


def cmd_targets(args) -> None:
    from .build_command import run_targets

    run_targets(args, console)


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
