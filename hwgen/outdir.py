"""Output folders that never lose a user's files.

A command that writes a folder of results (``hwgen build -o OUTDIR``) works in a staging folder
beside OUTDIR and installs the finished result at the end. Rules:

* OUTDIR may be new, empty, or hwgen's own earlier output of the same kind (it holds the manifest
  :data:`MANIFEST` listing every file hwgen wrote there, or, from hwgen versions before the
  manifest, the command's own report). Any other non-empty folder is refused unless ``force``.
* Installing replaces only files hwgen wrote: the earlier output's files (by its manifest) are
  replaced or removed; a user's files in OUTDIR are never removed or overwritten (a name clash
  is refused before anything moves, even with ``force``).
* A new OUTDIR is the staging folder renamed (atomic); an existing one receives the files one by
  one, under a manifest that covers old and new files until the move is done, so an interrupted
  install still knows which files are hwgen's.
* Staging folders are named ``.OUTDIR.building-PID-*``; one whose process is gone is left from a
  killed run and is removed by the next run into the same parent folder (which says so).
* Folders get the ordinary permissions (the umask's), not ``mkdtemp``'s 0700.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from .files import FileWriteError, FolderInTheWay, ensure_folder, write_atomic

__all__ = ["MANIFEST", "OutdirError", "check_outdir", "make_staging", "install", "clean_stale",
           "staging_pid"]

MANIFEST = ".hwgen-outputs.json"
#: Files a build wrote before the manifest existed (recognised by its report, ``build_report.json``).
_LEGACY_BUILD = ("build_report.json", "export_report.json", "model.qmodel.json", "hwgen_top.v",
                 "hwgen_top.il", "synth.ys", "synth_stat.json", "logs", "vectors", "pnr.ys",
                 "hwgen_pnr_harness.v", "pnr_report.json", "design.asc", "design.config", "hwgen_board.v",
                 "hwgen_board.il", "icebreaker.pcf", "netlist.json")


class OutdirError(Exception):
    """An output folder hwgen must not write into, or a write that failed; one clear message."""


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def previous_outputs(outdir: Path, kind: str, report: str) -> set[str] | None:
    """The files of hwgen's earlier ``kind`` output in ``outdir``, or None if it holds none."""
    manifest = outdir / MANIFEST
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text())
            if data.get("kind") == kind and isinstance(data.get("files"), list):
                return {str(f) for f in data["files"]} | {MANIFEST}
        except (OSError, ValueError, AttributeError):
            pass
        return None
    if (outdir / report).is_file():  # written by an hwgen from before the manifest
        return {f for f in _files(outdir) if f.split("/")[0] in _LEGACY_BUILD
                or ("/" not in f and f.endswith(".bin"))}
    return None


def check_outdir(outdir: Path, *, kind: str, report: str, force: bool = False) -> Path:
    """OUTDIR resolved, its parents created; refuses a folder hwgen may not write into."""
    outdir = Path(outdir).resolve()
    if outdir.exists() and not outdir.is_dir():
        raise OutdirError(f"output folder {outdir} exists and is not a folder; choose another -o")
    if outdir.is_dir() and any(outdir.iterdir()) and not force \
            and previous_outputs(outdir, kind, report) is None:
        theirs = sorted(p.name for p in outdir.iterdir())
        shown = ", ".join(theirs[:3]) + (", ..." if len(theirs) > 3 else "")
        raise OutdirError(
            f"output folder {outdir} is not empty and is not an earlier hwgen {kind} ({len(theirs)} "
            f"entries: {shown}); choose a new or empty folder, or add --force to write the {kind} "
            f"beside them (none of them is removed or overwritten)")
    try:
        ensure_folder(outdir.parent)
    except FolderInTheWay:
        raise OutdirError(f"cannot create the output folder {outdir}: a file is in the way; "
                          f"choose another -o") from None
    except FileWriteError:
        raise OutdirError(f"the folder {outdir.parent} is not writable; choose another -o") from None
    return outdir


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_staging(outdir: Path) -> Path:
    """A fresh staging folder beside ``outdir``, named with this process's id."""
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.building-{os.getpid()}-", dir=outdir.parent))
    os.chmod(staging, 0o777 & ~_umask())
    return staging


def staging_pid(folder: Path, name: str) -> int | None:
    """The process id in a staging folder's name ``.NAME.building-PID-*``, or None."""
    prefix = f".{name}.building-"
    if not folder.name.startswith(prefix):
        return None
    head = folder.name[len(prefix):].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(outdir: Path, say: Callable[[str], None]) -> None:
    """Remove staging folders of ``outdir`` left by runs that were killed (their process is gone)."""
    if not outdir.parent.is_dir():
        return
    for folder in outdir.parent.glob(f".{outdir.name}.building-*"):
        pid = staging_pid(folder, outdir.name)
        if folder.is_dir() and pid is not None and pid != os.getpid() and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            say(f"removed {folder.name}, the staging folder of an earlier run that did not finish "
                f"(process {pid} is gone)")


def _write_manifest(folder: Path, kind: str, files: Iterable[str]) -> None:
    text = json.dumps({"kind": kind, "files": sorted(set(files) - {MANIFEST})}, indent=1) + "\n"
    write_atomic(folder / MANIFEST, lambda f: f.write(text))


def install(staging: Path, outdir: Path, *, kind: str, report: str) -> list[str]:
    """Move the finished output from ``staging`` into ``outdir`` by the rules above; returns the
    output's files. ``report`` (the command's own report) moves last."""
    new = [f for f in _files(staging) if f != MANIFEST]
    if not outdir.exists():
        _write_manifest(staging, kind, new)
        staging.rename(outdir)
        return new
    old = previous_outputs(outdir, kind, report) or set()
    clashes = [f for f in new if (outdir / f).exists() and f not in old]
    if clashes:
        raise OutdirError(f"{outdir} holds {', '.join(clashes[:3])}{', ...' if len(clashes) > 3 else ''}, "
                          f"not written by hwgen, where the {kind} would write; move them or choose "
                          f"another -o (the {kind} is kept in {staging})")
    _write_manifest(outdir, kind, old | set(new))
    for f in sorted(new, key=lambda f: f == report):
        (outdir / f).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / f, outdir / f)
    for f in sorted(old - set(new) - {MANIFEST}, reverse=True):
        target = outdir / f
        if target.is_file() or target.is_symlink():
            target.unlink()
        _prune(target.parent, outdir)
    _write_manifest(outdir, kind, new)
    shutil.rmtree(staging, ignore_errors=True)
    return new


def _prune(folder: Path, root: Path) -> None:
    """Remove ``folder`` and its parents up to ``root`` while they are empty."""
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
