"""The `hwgen` command line: one module per command, each adding its sub-parser and its runner.

Building the parser imports argparse and the commands' light modules only (`hwgen --version`
and `--help` answer in a fraction of a second); each command imports its work when it runs.
"""

from __future__ import annotations

import argparse
import sys
import threading

from .. import __version__
from . import build, evaluate, export, golden, inspect, simulate, sweep, train
from .common import CliError, console

__all__ = ["CliError", "build_parser", "console", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hwgen", description="Low-precision RNN/GRU/LSTM to verified RTL.")
    p.add_argument("--version", action="version", version=f"hwgen {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (inspect, golden, train, export, evaluate, build, simulate, sweep):
        command.add_parsers(sub)
    return p


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every cleanup on the way out runs."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """The command line. Ctrl-C and SIGTERM unwind like an error: each command's cleanup runs
    (staging folders removed, child tools and simulators ended), then exit 130 / 143."""
    import signal

    previous = signal.signal(signal.SIGTERM, _terminate) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except CliError as e:
        print(f"hwgen: error: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Terminated) as e:
        _stop_children()
        print("hwgen: " + ("terminated" if isinstance(e, Terminated) else "interrupted"), file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _stop_children() -> None:
    """End tools still running (in case a command's own cleanup did not get to them)."""
    if "hwgen.toolchain.tools" in sys.modules:
        sys.modules["hwgen.toolchain.tools"].stop_tools()


if __name__ == "__main__":
    sys.exit(main())
