"""Writing result files: checked before the work, written atomically, pairs all or nothing.

Every file a command writes goes through here: :func:`check_writable` runs before the long work
(so a wrong path costs seconds, not the export), :func:`write_atomic` writes a temporary file in
the same folder and renames it (a reader sees the old file or the new one, never part of one;
a failure leaves nothing), and :func:`write_together` writes several files so that either all of
them are replaced or none is. Failures are :class:`FileWriteError` with one line naming the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, IO, Sequence

#: the first bytes of a torch.save file: a zip archive (current format) or a pickle (legacy)
TORCH_MAGIC = (b"PK\x03\x04", b"\x80")

__all__ = ["TORCH_MAGIC", "FileWriteError", "FolderInTheWay", "check_writable", "ensure_folder", "write_atomic",
           "write_together"]


class FileWriteError(OSError):
    """A result file that cannot be written; the message names it and why."""


def _why(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


class FolderInTheWay(FileWriteError):
    """A folder cannot be created because a file stands where it or a parent would be."""


def ensure_folder(folder: str | os.PathLike) -> None:
    """Create ``folder`` (and its parents) and probe that files can be written in it:
    :class:`FolderInTheWay` when a file is in the way, :class:`FileWriteError` when not writable."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".hwgen-write-probe-")
        os.close(fd)
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError):
        raise FolderInTheWay(f"{folder}: a file is in the way of that folder") from None
    except OSError as e:
        raise FileWriteError(f"{folder}: cannot write there ({_why(e)})") from None


def check_writable(path: str | os.PathLike | None, what: str) -> None:
    """Raise :class:`FileWriteError` unless a file can be created at ``path`` (None: nothing)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise FileWriteError(f"{what} {path}: is a folder; give a file name")
    parent = path.parent
    if not parent.exists():
        raise FileWriteError(f"{what} {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise FileWriteError(f"{what} {path}: {parent} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise FileWriteError(f"{what} {path}: cannot write in {parent} ({_why(e)})") from None


def _temp_for(path: Path, binary: bool, writer: Callable[[IO], None]) -> str:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp's 0600 would make results private
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def write_atomic(path: str | os.PathLike, writer: Callable[[IO], None], *, binary: bool = False,
                 what: str = "writing") -> Path:
    """``writer(file)`` into a temporary file beside ``path``, then renamed over it."""
    return write_together([(path, writer, binary)], what=what)[0]


def write_together(items: Sequence[tuple], *, what: str = "writing") -> list[Path]:
    """Write ``(path, writer, binary)`` items so that all are replaced or none is: every file is
    written to a temporary first (any failure removes them all), then each is renamed into place."""
    temps: list[tuple[str, Path]] = []
    try:
        for path, writer, binary in items:
            path = Path(path)
            try:
                temps.append((_temp_for(path, binary, writer), path))
            except OSError as e:
                raise FileWriteError(f"{what} {path}: {_why(e)}") from None
        for tmp, path in temps:
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise FileWriteError(f"{what} {path}: {_why(e)}") from None
    finally:
        for tmp, _ in temps:
            Path(tmp).unlink(missing_ok=True)
    return [path for _, path in temps]
