"""The model.pt file: a versioned plain dict of tensors and Python values (docs/model-pt-format.md).

Written by ``hwgen train``; read by :func:`load_checkpoint` and, later, ``hwgen export`` /
``hwgen build``. It loads with ``torch.load(path, weights_only=True)``: no pickled code, so opening
a model file never runs anything. Saving is atomic (a temporary file in the same folder, then a
rename), so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch

from .model import ConfigError, RecurrentModel, normalize_config

__all__ = ["FORMAT", "VERSION", "CheckpointError", "make_checkpoint", "save_checkpoint",
           "load_checkpoint", "model_from_checkpoint", "finished_model", "REQUIRED_KEYS"]

FORMAT = "hwgen-model"
VERSION = 1
TASKS = ("lm", "classify")
REQUIRED_KEYS = ("format", "version", "config", "state_dict", "vocab", "task", "metrics", "history",
                 "train_state")


class CheckpointError(Exception):
    """A model.pt that cannot be read or is not a valid hwgen model; one clear message."""


def make_checkpoint(model: RecurrentModel, *, task: str, vocab=None, metrics: Mapping | None = None,
                    history: list | None = None, train_state: Mapping | None = None,
                    extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint dict for ``model`` (tensors are cloned, so later training does not alter it)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, not {task!r}")
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": normalize_config(model.config),
        "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
        "quantized": model.quantized_tensors(),
        "vocab": None if vocab is None else [str(t) for t in vocab],
        "task": task,
        "metrics": dict(metrics or {}),
        "history": list(history or []),
        "train_state": None if train_state is None else dict(train_state),
    }
    if extra:
        ckpt.update(extra)
    return ckpt


def save_checkpoint(path: str | os.PathLike, ckpt: Mapping[str, Any]) -> Path:
    """Write ``ckpt`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            torch.save(dict(ckpt), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


#: the parts of ``train_state`` that only ``hwgen train --resume`` reads
RESUME_ONLY = ("optimizer", "scheduler", "generator", "torch_rng", "hidden", "losses")


def finished_model(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """``ckpt`` less the state only resuming needs (the optimizer's moments are twice the weights):
    a finished model to keep, still a valid model.pt whose settings say how it was trained."""
    slim = dict(ckpt)
    if isinstance(slim.get("train_state"), Mapping):
        slim["train_state"] = {k: v for k, v in slim["train_state"].items() if k not in RESUME_ONLY}
    return slim


def _nonfinite(state_dict: Mapping[str, Any]) -> str | None:
    for name, t in state_dict.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all():
            return name
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a model.pt; raises :class:`CheckpointError` with one message."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a model file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "weights_only" in msg or "Weights only load failed" in msg:
            found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", msg)
            what = f" ({found.group(1)})" if found else ""
            raise CheckpointError(
                f"{path}: refused: loading it needs Python code{what}, which torch.load(weights_only="
                f"True) does not run; an hwgen model file holds only tensors and plain values"
            ) from None
        raise CheckpointError(f"{path}: not a torch file ({_first_line(e)})") from None
    except Exception as e:  # torch raises many kinds (KeyError, RuntimeError, EOFError, ...) for junk
        raise CheckpointError(f"{path}: not a torch file ({_first_line(e)})") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not an hwgen model file (holds a {type(ckpt).__name__}, "
                              f"not a dict with format {FORMAT!r})")
    if ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an hwgen model file (format {ckpt.get('format')!r}, "
                              f"expected {FORMAT!r})")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path}: hwgen model file version {ckpt.get('version')!r} is not "
                              f"supported (this hwgen reads version {VERSION})")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: hwgen model file is missing keys {missing}")
    if ckpt["task"] not in TASKS:
        raise CheckpointError(f"{path}: task {ckpt['task']!r} is not one of {list(TASKS)}")
    try:
        ckpt["config"] = normalize_config(ckpt["config"])
    except ConfigError as e:
        raise CheckpointError(f"{path}: bad model config: {e}") from None
    sd = ckpt["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path}: state_dict must be a dict of tensors")
    bad = _nonfinite(sd)
    if bad is not None:
        raise CheckpointError(f"{path}: weight tensor {bad!r} holds NaN or infinite values")
    return ckpt


def model_from_checkpoint(ckpt: Mapping[str, Any], path: str | os.PathLike = "model") -> RecurrentModel:
    """The model a loaded checkpoint describes, its weights loaded, in evaluation mode."""
    try:
        model = RecurrentModel.from_config(ckpt["config"])
    except (ConfigError, ValueError) as e:
        raise CheckpointError(f"{path}: bad model config: {e}") from None
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as e:
        first = " ".join(str(e).split())
        raise CheckpointError(f"{path}: state_dict does not fit the config: {first}") from None
    return model.eval()
