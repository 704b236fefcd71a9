"""Reading a model.pt for export: an hwgen checkpoint (through train.checkpoint) or a plain torch
checkpoint (:mod:`hwgen.export.plain_torch`), always with ``torch.load(weights_only=True)``; both
become a :class:`hwgen.export.source.Source`."""

from __future__ import annotations

import hashlib
import pickle
import warnings
from pathlib import Path

import torch

from ..files import TORCH_MAGIC
from .plain_torch import plain_source
from .source import ExportError, Source


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _torch_load(path: Path):
    if not path.exists():
        raise ExportError(f"{path}: no such file")
    if path.is_dir():
        raise ExportError(f"{path}: is a directory, not a model file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Weights only load failed" in str(e):
            raise ExportError(f"{path}: refused: loading it needs Python code, which torch.load("
                              f"weights_only=True) does not run; save a state_dict (tensors and plain "
                              f"values), see docs/export.md") from None
        raise ExportError(f"{path}: not a torch checkpoint ({type(e).__name__})") from None
    except Exception as e:  # torch raises many kinds for a file that is not its format
        head = path.read_bytes()[:64]
        if head.lstrip().startswith(b"{"):
            raise ExportError(f"{path}: is JSON text, not a torch checkpoint (a QModel file goes to "
                              f"`hwgen build`, `hwgen sim` or `hwgen inspect` as it is)") from None
        if head and not head.startswith(TORCH_MAGIC):
            raise ExportError(f"{path}: is not a torch checkpoint (it does not start like one; a "
                              f"model.pt from `hwgen train` or `torch.save` is expected)") from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExportError(f"{path}: not a torch checkpoint ({type(e).__name__}: {first[:120]})") from None


def load_source(path, quantize: str | None = None, exp_window: tuple[int, int] | None = None) -> Source:
    """Read ``path``: an hwgen model.pt, or a plain torch checkpoint (then ``quantize`` is required)."""
    path = Path(path)
    obj = _torch_load(path)
    if isinstance(obj, dict) and obj.get("format") == "hwgen-model":
        if quantize is not None:
            raise ExportError(f"{path}: --quantize is for plain torch models; this hwgen model was "
                              f"trained with its own quantizer (drop --quantize)")
        return _hwgen_source(path)
    return plain_source(path, obj, quantize, exp_window, _sha256(path))


def _hwgen_source(path: Path) -> Source:
    from train.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint

    try:
        ckpt = load_checkpoint(path)
        model = model_from_checkpoint(ckpt, path)
    except CheckpointError as e:
        raise ExportError(str(e)) from None
    stored = ckpt.get("quantized")
    if stored is not None and stored != model.quantized_tensors():
        raise ExportError(f"{path}: its 'quantized' entry disagrees with the quantizers its config "
                          f"builds; the file was edited or written by another hwgen (re-train or "
                          f"re-save it with this hwgen)")
    vocab = tuple(ckpt["vocab"]) if ckpt.get("vocab") else None
    dataset = (ckpt.get("dataset") or {}).get("name")
    return Source(path, "hwgen-model", model, _sha256(path), ckpt["task"], vocab, dataset)
