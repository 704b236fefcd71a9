"""`hwgen sim` wiring (the command lives with the verification code, sim/cli.py)."""

from __future__ import annotations

from .common import CliError, console


def cmd_sim(args) -> None:
    from ..extras import MissingExtra, require

    try:
        require("cocotb", "sim", "hwgen sim")
    except MissingExtra as e:
        raise CliError(str(e)) from None
    from sim.cli import SimCliError, run

    try:
        status = run(args, console)
    except SimCliError as e:
        raise CliError(str(e)) from None
    if status:
        raise CliError("the design does not match the golden model (report above)")


def add_parsers(sub) -> None:
    from sim.cli import add_arguments as add_sim_arguments

    s = sub.add_parser("sim", help="simulate the generated Verilog (cocotb; Icarus or Verilator) against the golden model",
                       description="Generate the design, drive random sequences (or --text) through it with "
                                   "random idle cycles and backpressure, check every output bit against the "
                                   "golden model (docs/simulation.md). Exit status 1 on any mismatch.")
    add_sim_arguments(s)
    s.set_defaults(func=cmd_sim)
