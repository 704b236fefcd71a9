"""What every command shares: its console, its one-line error, its progress bars, the QModel file
loader and result-file writes."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console

console = Console()


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1, no traceback."""


def load_qmodel(path: str):
    from ..qmodel_file import QModelFileError, load

    try:
        return load(path)
    except QModelFileError as e:
        raise CliError(f"{e}\n  (hwgen reads QModel files written by `hwgen export`; see docs/qmodel-format.md)") from None


@contextmanager
def progress_bar(console: Console, quiet: bool = False):
    """A ``(what, done, total)`` callback drawing one bar per stage (nothing when quiet)."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(what: str, done: int, total: int):
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        yield update


def check_writable_file(path: str | None, flag: str) -> None:
    """Fail before the work if ``path`` cannot be written (its folder missing, not a folder, or
    not writable; or ``path`` itself a folder)."""
    from ..files import FileWriteError, check_writable

    try:
        check_writable(path, flag)
    except FileWriteError as e:
        raise CliError(str(e)) from None


def save_npz(path: str, **arrays) -> None:
    import numpy as np

    from ..files import FileWriteError, write_atomic

    try:
        write_atomic(path, lambda f: np.savez_compressed(f, **arrays), binary=True)
    except FileWriteError as e:
        raise CliError(str(e)) from None


# ------------------------------------------------------------------------------------------------
# hwgen train
# ------------------------------------------------------------------------------------------------
