"""The one way commands read the model they are given: a QModel file as it is, a checkpoint (an
hwgen model.pt, or a plain torch one) through the export. Which it is comes from the file's
content (JSON text, or a torch file's first bytes), not from its name, so `hwgen build m.pt`,
`hwgen build m.qmodel.json` and a renamed file all behave the same in `build` and `sim`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .files import TORCH_MAGIC

__all__ = ["ModelError", "model_kind", "load_model"]



class ModelError(ValueError):
    """A model file that cannot be read or exported; one line naming the file and the fix."""


def model_kind(path: Path) -> str:
    """``"qmodel"`` (JSON text) or ``"checkpoint"`` (a torch file); ModelError otherwise."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file (give a model.pt from `hwgen train` or a .qmodel.json "
                         f"from `hwgen export`)") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a folder, not a model file") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror or e})") from None
    if head.startswith(TORCH_MAGIC):
        return "checkpoint"
    if head.lstrip().startswith(b"{"):
        return "qmodel"
    raise ModelError(f"{path}: neither a QModel file (JSON from `hwgen export`) nor a torch checkpoint "
                     f"(a model.pt from `hwgen train` or torch.save)")


def load_model(path, *, export_options=None, say: Callable[[str], None] = lambda m: None,
               progress=None, before_export: Callable[[Path], None] | None = None):
    """``(qmodel, export report or None)`` for the model at ``path``. A checkpoint is exported with
    ``export_options`` (hwgen.export.ExportOptions; default options if None) after
    ``before_export(path)`` (a command's quick refusals). Every failure is a ModelError."""
    from .qmodel_file import QModelFileError, load

    path = Path(path)
    if model_kind(path) == "qmodel":
        try:
            return load(path), None
        except QModelFileError as e:
            raise ModelError(str(e)) from None
    from .export import ExportError, ExportOptions, export_model

    if before_export is not None:
        before_export(path)
    options = export_options or ExportOptions()
    say(f"exporting {path} (weights to codes, formats from calibration"
        f"{', accuracy on the valid split' if options.eval_limit != 0 else ''})")
    try:
        options.check()
        result = export_model(path, options, progress=progress)
    except ExportError as e:
        raise ModelError(str(e)) from None
    return result.qmodel, result.report
