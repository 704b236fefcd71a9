"""hwgen: low-precision recurrent networks to verified, synthesizable RTL.

The Python interface (docs/python-api.md) is importable from here: :func:`load`,
:func:`export_model`, :func:`save`, :func:`describe`, :func:`golden`, :func:`predict`, :func:`plan`,
:func:`run_build`, :func:`simulate` (:mod:`hwgen.api`), and the types they take and give: :class:`QModel`,
:class:`DesignParams`, :class:`DesignPlan`, :class:`BuildOptions`, :class:`ExportOptions`. They are
imported on first use, so ``import hwgen`` stays light.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hwgen")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

_NAMES = {
    **{name: "hwgen.api" for name in ("load", "export_model", "save", "describe", "golden", "predict", "plan",
                                      "run_build", "simulate")},
    "QModel": "hwgen.spec.ir", "DesignParams": "hwgen.generator.plan", "DesignPlan": "hwgen.generator.plan",
    "BuildOptions": "hwgen.build", "ExportOptions": "hwgen.export",
}

__all__ = ["__version__", *sorted(_NAMES)]


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module 'hwgen' has no attribute {name!r}")
    value = getattr(import_module(_NAMES[name]), name)
    globals()[name] = value
    return value
