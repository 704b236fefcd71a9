"""What every command shares: its console, its one-line error, the QModel file loader and
result-file writes."""

from __future__ import annotations

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
