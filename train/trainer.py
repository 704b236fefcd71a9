"""Quantization-aware training of a :class:`~train.model.RecurrentModel` (``hwgen train``).

Two tasks, chosen by the dataset's type (train/datasets.py):

* **language model** (``TextCorpus``): truncated back-propagation through time over
  ``lm_batches(train, batch, bptt)``; the hidden state is carried, detached, from one chunk to the
  next, and reset to zero at each epoch and every ``reset_every`` chunks (default 20, i.e. 1,000
  characters at bptt 50). The resets matter: hard gates saturate exactly (a GRU's z = 1 keeps a
  unit forever), and a model that only meets a zero state once per epoch learns to lean on values
  latched long ago, which the hardware, starting from zero, never reaches (measured on PTB after one
  epoch without resets: 2.3 bits per character from the carried state, 14.5 from zero).
  Metric: bits per character, the mean cross-entropy / ln 2, on the valid split (lanes as long as
  possible, each from a zero state, carried across chunks); lower is better.
* **classification** (``SequenceDataset``): each sequence's label is predicted from the output at
  its last valid step (``lengths - 1``). Metric: accuracy; higher is better.

Adam, gradient-norm clipping, and :meth:`RecurrentModel.clip_weights_` (the shadow-weight clipping
of the paper) after every optimizer step. Stochastic quantizers sample only in training mode from
the model's own :class:`torch.Generator`; evaluation is deterministic.

Files: the best checkpoint (by valid metric) at ``out``; the latest state at :func:`last_path`
(``model.pt`` → ``model.last.pt``), from which ``resume=True`` continues to exactly the result of an
uninterrupted run; a training-curve PNG at :func:`curve_path` (``model.curve.png``).
Everything depends only on the seed (CPU): ``torch.manual_seed(seed)`` before the model is built,
the quantizers' generator seeded with ``seed``, and each epoch's shuffling from a generator seeded
with ``(seed, epoch)``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointError, load_checkpoint, make_checkpoint, save_checkpoint
from .model import ConfigError, RecurrentModel, detach_state, map_state, normalize_config

__all__ = ["TrainSettings", "TrainResult", "TrainingError", "train", "evaluate", "model_config_for",
           "last_path", "curve_path", "load_data", "task_of", "resume_settings",
           "check_writable", "check_device", "param_groups", "SCHEDULES", "LR_SCALES"]

LN2 = math.log(2.0)
EVAL_CHUNK = 256  # characters per evaluation call: long, since nothing is back-propagated
PLOT_EVERY_S = 60.0
#: plateau: halve (``lr_factor``) the learning rate after ``lr_patience`` evaluations without a
#: better valid metric; cosine: cosine decay to zero over the run's step budget; none: constant.
SCHEDULES = ("plateau", "cosine", "none")
#: none: one learning rate; glorot: each quantized tensor's rate times ``1/sqrt(1.5/(fan_in +
#: fan_out))``, the reference's ``W_LR_scale`` (BinaryConnect's): steps in units of the clip range.
LR_SCALES = ("none", "glorot")


class TrainingError(Exception):
    """Training cannot start or had to stop (bad settings, unwritable output, NaN loss)."""


@dataclass
class TrainSettings:
    """How to train. ``epochs`` and ``steps`` (optimizer steps) both bound the run; with neither,
    one epoch. ``eval_every`` steps, or ``None`` for once per epoch (and always at the end).
    Language models carry the hidden state from chunk to chunk and reset it to zero at each epoch
    and every ``reset_every`` chunks (0: only at each epoch); see the module docstring."""

    dataset: str
    limit: int | None = None
    epochs: int | None = None
    steps: int | None = None
    batch: int = 32
    bptt: int = 50
    lr: float = 2e-3
    clip: float = 1.0
    eval_every: int | None = None
    seed: int = 0
    reset_every: int = 20
    schedule: str = "plateau"
    lr_factor: float = 0.5
    lr_patience: int = 1
    patience: int = 4
    weight_decay: float = 0.0
    decay_quantized: bool = False
    lr_scale: str = "none"
    eval_batch: int = 128
    device: str = "cpu"

    #: settings a resumed run must share with the saved one (the others set the budget, or where
    #: it runs: epochs, steps, eval_every, patience, device).
    FIXED = ("dataset", "limit", "batch", "bptt", "lr", "clip", "seed", "reset_every", "schedule",
             "lr_factor", "lr_patience", "weight_decay", "decay_quantized", "lr_scale", "eval_batch")

    def validate(self) -> None:
        for name in ("epochs", "steps", "eval_every", "limit"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise TrainingError(f"{name} must be a positive integer, not {v!r}")
        if isinstance(self.reset_every, bool) or not isinstance(self.reset_every, int) or self.reset_every < 0:
            raise TrainingError(f"reset_every must be an integer >= 0, not {self.reset_every!r}")
        for name in ("batch", "bptt"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise TrainingError(f"{name} must be a positive integer, not {v!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise TrainingError(f"lr must be a positive number, not {self.lr!r}")
        if not (isinstance(self.clip, (int, float)) and math.isfinite(self.clip) and self.clip >= 0):
            raise TrainingError(f"clip must be a number >= 0 (0: no clipping), not {self.clip!r}")
        if self.schedule not in SCHEDULES:
            raise TrainingError(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if self.lr_scale not in LR_SCALES:
            raise TrainingError(f"lr_scale must be one of {', '.join(LR_SCALES)}, not {self.lr_scale!r}")
        if not (isinstance(self.lr_factor, (int, float)) and 0 < self.lr_factor < 1):
            raise TrainingError(f"lr_factor must lie strictly between 0 and 1, not {self.lr_factor!r}")
        for name in ("lr_patience", "patience"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise TrainingError(f"{name} must be an integer >= 0, not {v!r}")
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0):
            raise TrainingError(f"weight_decay must be a number >= 0, not {self.weight_decay!r}")
        if isinstance(self.eval_batch, bool) or not isinstance(self.eval_batch, int) or self.eval_batch < 1:
            raise TrainingError(f"eval_batch must be a positive integer, not {self.eval_batch!r}")
        check_device(self.device)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    out: Path
    last: Path
    curve: Path | None
    task: str
    metric: str
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    steps: int
    seconds: float
    losses: list[float] = field(repr=False, default_factory=list)


# ------------------------------------------------------------------------------------------------
# Paths
# ------------------------------------------------------------------------------------------------


def _stem(out: Path) -> str:
    return out.name[:-3] if out.name.endswith(".pt") and len(out.name) > 3 else out.name


def last_path(out: str | os.PathLike) -> Path:
    """``model.pt`` → ``model.last.pt`` (the latest state, for resuming)."""
    out = Path(out)
    return out.with_name(_stem(out) + ".last.pt")


def curve_path(out: str | os.PathLike) -> Path:
    """``model.pt`` → ``model.curve.png``."""
    out = Path(out)
    return out.with_name(_stem(out) + ".curve.png")


def check_writable(out: Path) -> None:
    """Fail before any work if ``out`` cannot be written (the folder is probed with a temp file)."""
    if out.is_dir():
        raise TrainingError(f"--out {out} is a directory; give a file name such as {out / 'model.pt'}")
    from hwgen.files import FileWriteError
    from hwgen.files import check_writable as writable

    try:
        writable(out, "--out")
    except FileWriteError as e:
        raise TrainingError(str(e)) from None


def check_device(device: str) -> torch.device:
    """``device`` as a torch.device: ``cpu`` or ``cuda[:N]`` of a GPU torch can see."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise TrainingError(f"device {device!r} is not a device; use cpu or cuda (cuda:N)") from None
    if dev.type not in ("cpu", "cuda"):
        raise TrainingError(f"device {device!r}: hwgen trains on cpu or cuda, not {dev.type}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise TrainingError(f"--device {device}: torch sees no CUDA GPU here (torch "
                                f"{torch.__version__}, {build}); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise TrainingError(f"--device {device}: only {torch.cuda.device_count()} CUDA "
                                f"device(s) are visible")
    return dev


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def load_data(name: str, limit: int | None = None):
    """``train.datasets.load_dataset(name, limit=limit)``; DatasetUnavailable passes through."""
    from . import datasets

    return datasets.load_dataset(name, limit=limit)


def task_of(data) -> str:
    from . import datasets

    if isinstance(data, datasets.TextCorpus):
        return "lm"
    if isinstance(data, datasets.SequenceDataset):
        return "classify"
    raise TrainingError(f"cannot train on a {type(data).__name__}; expected a TextCorpus or SequenceDataset")


def model_config_for(data, *, cell: str = "gru", hidden=(128,), embed: int = 0,
                     preset: str | None = None, activation: str | None = None, quantizer=None,
                     quantize: Mapping[str, bool] | None = None, batch_norm: bool | str | None = None,
                     bn_gamma: float | None = None, bias: str | None = None,
                     nonlinearity: str = "tanh", init: str = "glorot") -> dict[str, Any]:
    """A model config whose input and output sizes fit ``data`` (raises ConfigError otherwise).

    Settings left None come from ``preset`` (train/presets.py; None: the default preset, whose
    settings the others may change; a named preset refuses contradicting ones). ``quantize``'s
    ``"output"`` entry is the preset's unless given.
    """
    from .presets import PresetConflict, apply_preset

    quantize = dict(quantize or {})
    try:
        s = apply_preset(preset, {"activation": activation, "batch_norm": batch_norm,
                                  "bn_gamma": bn_gamma, "bias": bias,
                                  "quantize_output": quantize.get("output")})
    except PresetConflict as e:
        raise ConfigError(str(e)) from None
    quantize["output"] = s["quantize_output"]
    if task_of(data) == "lm":
        inp = {"kind": "embedding", "vocab_size": len(data.vocab), "dim": embed}
        out = len(data.vocab)
    else:
        inp = {"kind": "features", "size": int(data.n_features)}
        out = int(data.n_classes)
    return normalize_config({
        "input": inp, "cell": cell, "hidden": list(hidden) if not isinstance(hidden, int) else [hidden],
        "activation": s["activation"], "nonlinearity": nonlinearity, "quantizer": quantizer,
        "quantize": quantize, "batch_norm": s["batch_norm"], "bn_gamma": s["bn_gamma"],
        "bias": s["bias"], "init": init, "output_size": out,
    })


def _check_fits(config: Mapping[str, Any], data, task: str) -> None:
    inp = config["input"]
    if task == "lm":
        if inp["kind"] != "embedding" or inp["vocab_size"] != len(data.vocab) \
                or config["output_size"] != len(data.vocab):
            raise TrainingError(f"the model does not fit dataset {data.name!r}: it needs token input "
                                f"and output of size {len(data.vocab)} (the vocabulary)")
    else:
        if inp["kind"] != "features" or inp["size"] != data.n_features \
                or config["output_size"] != data.n_classes:
            raise TrainingError(f"the model does not fit dataset {data.name!r}: it needs "
                                f"{data.n_features} input features and {data.n_classes} outputs")


def _lm_batches(ids: np.ndarray, batch: int, bptt: int, *, drop_last: bool = True
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    from . import datasets

    for x, y in datasets.lm_batches(ids, batch, bptt, drop_last=drop_last):
        yield torch.as_tensor(np.asarray(x), dtype=torch.long), torch.as_tensor(np.asarray(y), dtype=torch.long)


def _count_lm_batches(data, batch: int, bptt: int) -> int:
    from . import datasets

    try:
        return sum(1 for _ in datasets.lm_batches(np.asarray(data.train), batch, bptt))
    except ValueError as e:
        raise TrainingError(f"the train split of {data.name!r} cannot be batched: {e}") from None


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=g)


# ------------------------------------------------------------------------------------------------
# Loss and evaluation
# ------------------------------------------------------------------------------------------------


def _last_step_logits(logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return logits[torch.arange(logits.shape[0]), lengths - 1]


def _classify_batch(split, idx: torch.Tensor):
    x, lengths, y = split
    idx_np = idx.numpy()
    ln = torch.as_tensor(np.asarray(lengths)[idx_np], dtype=torch.long)
    if torch.any(ln < 1):
        raise TrainingError("a sequence has length 0; every sequence needs at least one step")
    t = int(ln.max())
    xb = torch.as_tensor(np.asarray(x)[idx_np, :t], dtype=torch.float32)
    yb = torch.as_tensor(np.asarray(y)[idx_np], dtype=torch.long)
    return xb, ln, yb


def evaluate(model: RecurrentModel, data, split: str, settings: TrainSettings,
             progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """``{"loss": mean cross-entropy (nats), metric: value}`` on ``split`` ("valid" / "test"),
    in evaluation mode (deterministic quantization, BatchNorm running statistics).

    Text: the split is cut into ``settings.eval_batch`` lanes (fewer where a lane would be shorter
    than ``bptt``), each read from a zero state with the state carried along it, in calls of
    :data:`EVAL_CHUNK` characters; every token but each lane's first is a target. Sequences:
    batches of ``eval_batch``. ``progress(done, total)`` is called after each call of the model.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.inference_mode():
            if task_of(data) == "lm":
                return _evaluate_lm(model, data, split, settings, device, progress)
            return _evaluate_classify(model, data, split, settings, device, progress)
    finally:
        model.train(was_training)


def _evaluate_lm(model, data, split, settings, device, progress) -> dict[str, float]:
    ids = np.asarray(getattr(data, split))
    too_short = TrainingError(f"the {split} split of {data.name!r} is too short to evaluate "
                              f"({len(ids)} tokens)")
    if len(ids) < 2:
        raise too_short
    lanes = max(1, min(settings.eval_batch, len(ids) // max(2, settings.bptt)))
    chunk = max(settings.bptt, EVAL_CHUNK)
    calls = math.ceil((len(ids) // lanes - 1) / chunk)
    total, count, state = 0.0, 0, None
    for k, (x, y) in enumerate(_lm_batches(ids, lanes, chunk, drop_last=False)):
        logits, state = model(x.to(device), state)
        total += float(nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.to(device).reshape(-1), reduction="sum"))
        count += y.numel()
        if progress is not None:
            progress(k + 1, calls)
    if count == 0:
        raise too_short
    loss = total / count
    return {"loss": loss, "bpc": loss / LN2}


def _evaluate_classify(model, data, split, settings, device, progress) -> dict[str, float]:
    x, lengths, y = getattr(data, split)
    n = len(y)
    if n == 0:
        raise TrainingError(f"the {split} split of {data.name!r} is empty")
    total, correct, size = 0.0, 0, settings.eval_batch
    calls = math.ceil(n / size)
    for k, s in enumerate(range(0, n, size)):
        xb, ln, yb = _classify_batch(getattr(data, split), torch.arange(s, min(n, s + size)))
        logits, _ = model(xb.to(device))
        last = _last_step_logits(logits, ln.to(device))
        yb = yb.to(device)
        total += float(nn.functional.cross_entropy(last, yb, reduction="sum"))
        correct += int((last.argmax(-1) == yb).sum())
        if progress is not None:
            progress(k + 1, calls)
    return {"loss": total / n, "accuracy": correct / n}


def _better(metric: str, new: float, old: float | None) -> bool:
    if old is None:
        return True
    return new < old if metric == "bpc" else new > old


# ------------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------------


class _Progress:
    """A rich progress bar (or nothing when quiet)."""

    def __init__(self, console, total: int, done: int, label: str):
        self.console = console
        self.bar = None
        self.eval_task = None
        if console is None:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                            console=console, transient=False)
        self.task = self.bar.add_task(label, total=total, completed=done, info="")

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, step: int, info: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, info=info)

    def print(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text)

    def evaluating(self, done: int, total: int) -> None:
        """Progress of a validation pass, as a second bar that goes away when it is done."""
        if self.bar is None:
            return
        if self.eval_task is None:
            self.eval_task = self.bar.add_task("  validating", total=total, info="")
        self.bar.update(self.eval_task, completed=done, total=total)
        if done >= total:
            self.bar.remove_task(self.eval_task)
            self.eval_task = None


def _metric_name(task: str) -> str:
    return "bpc" if task == "lm" else "accuracy"


def param_groups(model: RecurrentModel, settings: TrainSettings) -> list[dict[str, Any]]:
    """The optimizer's parameter groups.

    Quantized tensors (the shadow weights) take no weight decay unless ``decay_quantized``: decay
    pulls shadow weights towards zero, which for ternary and pow2-ternary codes means towards the
    zero code, a sparsity prior nobody asked for. With ``lr_scale="glorot"`` each quantized
    tensor's rate is scaled by ``1/sqrt(1.5/(fan_in + fan_out))`` (the reference's ``W_LR_scale``).
    Frozen tensors (a per-gate layer's zero ``b_hh``) are left out.
    """
    scaled: dict[int, float] = {}
    for module in model.modules():
        for name, fans in _quantized_fans(module).items():
            p, q = getattr(module, name, None), module.quantizers.get(name)
            if p is not None and q is not None and p.requires_grad:
                scaled[id(p)] = (1.0 / math.sqrt(1.5 / sum(fans))) if settings.lr_scale == "glorot" else 1.0
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for p in model.parameters():
        if not p.requires_grad:
            continue
        quantized = id(p) in scaled
        groups.setdefault((quantized, scaled.get(id(p), 1.0)), []).append(p)
    out = []
    for (quantized, scale), params in sorted(groups.items()):
        decay = settings.weight_decay if (settings.decay_quantized or not quantized) else 0.0
        out.append({"params": params, "lr": settings.lr * scale, "weight_decay": decay})
    return out


def _quantized_fans(module: nn.Module) -> dict[str, tuple[int, int]]:
    """``{tensor name: (fan_in, fan_out)}`` of a cell's or the output layer's tensors."""
    from .cells import QuantCell
    from .model import QuantLinear

    if isinstance(module, QuantCell):
        ih, hh = (module.input_size, module.hidden_size), (module.hidden_size, module.hidden_size)
        return {"weight_ih": ih, "bias_ih": ih, "weight_hh": hh, "bias_hh": hh}
    if isinstance(module, QuantLinear):
        return {"weight": (module.in_features, module.out_features),
                "bias": (module.in_features, module.out_features)}
    return {}


def _scheduler(optimizer, settings: TrainSettings, metric: str, total: int):
    if settings.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min" if metric == "bpc" else "max", factor=settings.lr_factor,
            patience=settings.lr_patience, threshold=1e-3)
    if settings.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total))
    return None


def _place(model: RecurrentModel, device: torch.device) -> RecurrentModel:
    """``model`` on ``device``, its stochastic quantizers' generator there too (same seed state)."""
    model.to(device)
    if device.type != "cpu":
        state = model.generator.get_state()
        g = torch.Generator(device=device)
        g.set_state(state)
        model.use_generator(g)
    return model


def _saved_setting(prev: Mapping[str, Any], name: str) -> Any:
    """A setting of a saved run; settings added since it was written have their defaults."""
    if name in prev:
        return prev[name]
    return next(f.default for f in dataclasses.fields(TrainSettings) if f.name == name)


def _saved_state(out: Path) -> dict[str, Any]:
    """The checkpoint at ``out``'s ``.last.pt`` with its training state; one message otherwise."""
    last = last_path(out)
    if not last.exists():
        raise TrainingError(f"--resume: no saved state at {last} (written by an earlier run with "
                            f"--out {out})")
    try:
        saved = load_checkpoint(last)
    except CheckpointError as e:
        raise TrainingError(f"--resume: {e}") from None
    ts = saved.get("train_state")
    if not isinstance(ts, dict) or not isinstance(ts.get("settings"), dict):
        raise TrainingError(f"--resume: {last} holds no training state to resume from")
    return saved


def _load_resume(out: Path, settings: TrainSettings) -> dict[str, Any]:
    saved = _saved_state(out)
    ts = saved["train_state"]
    for name in TrainSettings.FIXED:
        if _saved_setting(ts["settings"], name) != getattr(settings, name):
            raise TrainingError(
                f"--resume: {name} is {getattr(settings, name)!r} but the saved run used "
                f"{_saved_setting(ts['settings'], name)!r}; a resumed run keeps its settings (only "
                f"the budget, --epochs/--steps/--eval-every/--patience, and --device may change)")
    return saved


def train(config: Mapping[str, Any] | None, settings: TrainSettings, out: str | os.PathLike, *,
          data=None, resume: bool = False, console=None, plot: bool = True) -> TrainResult:
    """Train and write the checkpoints; returns the best checkpoint's metrics and the history.

    ``config`` is the model config (ignored, may be None, when resuming: the saved one is used).
    ``data`` is a loaded dataset (else ``settings.dataset`` is loaded). ``console`` (a rich
    Console) shows a progress bar and one line per evaluation; None is quiet. Raises
    :class:`TrainingError` (and ``train.datasets.DatasetUnavailable``) with one-line messages.
    Training ends at the step budget, or earlier when the valid metric has not improved for
    ``settings.patience`` evaluations (early stopping; 0 turns it off).
    """
    settings.validate()
    device = check_device(settings.device)
    out = Path(out)
    last, curve = last_path(out), curve_path(out)
    check_writable(out)

    saved = _load_resume(out, settings) if resume else None
    if saved is not None:
        config = saved["config"]
    if config is None:
        raise TrainingError("a model config is needed unless resuming")
    try:
        config = normalize_config(config)
    except ConfigError as e:
        raise TrainingError(f"model: {e}") from None

    if data is None:
        data = load_data(settings.dataset, settings.limit)
    task = task_of(data)
    metric = _metric_name(task)
    _check_fits(config, data, task)
    if task == "lm":
        n_batches = _count_lm_batches(data, settings.batch, settings.bptt)
        vocab = list(data.vocab)
    else:
        n_train = len(data.train[2])
        if n_train == 0:
            raise TrainingError(f"the train split of {data.name!r} is empty")
        n_batches = math.ceil(n_train / settings.batch)
        vocab = None
    budgets = [b for b in (settings.steps,
                           None if settings.epochs is None else settings.epochs * n_batches) if b]
    if not budgets:
        budgets = [n_batches]  # neither --epochs nor --steps: one epoch
    total = min(budgets)

    torch.manual_seed(settings.seed)
    model = RecurrentModel.from_config(config)
    model.generator.manual_seed(settings.seed)
    model.train()
    optimizer = torch.optim.Adam(param_groups(model, settings))
    scheduler = _scheduler(optimizer, settings, metric, total)

    step, epoch, batch_in_epoch = 0, 0, 0
    hidden = None
    losses: list[float] = []
    history: list[dict[str, Any]] = []
    best_value: float | None = None
    best_ckpt: dict[str, Any] | None = None
    elapsed0 = 0.0
    if saved is not None:
        ts = saved["train_state"]
        model.load_state_dict(saved["state_dict"])
        optimizer.load_state_dict(ts["optimizer"])
        if scheduler is not None and ts.get("scheduler") is not None:
            scheduler.load_state_dict(ts["scheduler"])
        model.generator.set_state(ts["generator"])
        torch.set_rng_state(ts["torch_rng"])
        step, epoch, batch_in_epoch = ts["step"], ts["epoch"], ts["batch_in_epoch"]
        hidden = ts["hidden"]
        if ts.get("batches_per_epoch") != n_batches:
            raise TrainingError(f"--resume: the dataset has {n_batches} batches per epoch, the saved "
                                f"run had {ts.get('batches_per_epoch')}; it changed since")
        losses = list(ts["losses"])
        history = list(saved["history"])
        best_value = ts["best"]
        elapsed0 = float(ts.get("seconds", 0.0))
        if out.exists():
            try:
                best_ckpt = load_checkpoint(out)
            except CheckpointError:
                best_ckpt = None
        if best_ckpt is None or (best_ckpt.get("train_state") or {}).get("step") != ts.get("best_step"):
            best_ckpt, best_value = None, None  # the best file is gone or from another run
    _place(model, device)
    hidden = map_state(hidden, lambda t: t.to(device))

    t0 = time.perf_counter()
    last_plot = [time.perf_counter()]
    label = f"{config['cell']} {'×'.join(map(str, config['hidden']))} " \
            f"{(config['quantizer'] or {'name': 'float'})['name']}"

    def seconds() -> float:
        return elapsed0 + time.perf_counter() - t0

    def train_state() -> dict[str, Any]:
        return {
            "settings": settings.to_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "generator": model.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch,
            "batches_per_epoch": n_batches,
            "hidden": map_state(hidden, lambda t: t.detach().cpu()),
            "losses": list(losses),
            "best": best_value,
            "best_step": best_step,
            "seconds": seconds(),
        }

    best_step = None if best_ckpt is None else best_ckpt["train_state"]["step"]

    no_plot_said = False

    def do_plot() -> Path | None:
        nonlocal no_plot_said
        if not plot:
            return None
        from .plot import plot_training_curve

        try:
            return plot_training_curve(curve, losses, history, metric,
                                       title=f"{data.name}: {label}")
        except ImportError:  # matplotlib missing: the checkpoints matter, the picture does not
            if console is not None and not no_plot_said:
                console.print("training curve not drawn: matplotlib is not installed "
                              "(pip install 'hwgen[plots]')")
                no_plot_said = True
            return None

    def evaluate_and_save(bar: _Progress) -> None:
        nonlocal best_value, best_ckpt, best_step
        r = evaluate(model, data, "valid", settings, progress=bar.evaluating)
        since = history[-1]["step"] if history else 0
        window = losses[since:step]
        rec = {"step": step, "epoch": round(step / n_batches, 4),
               "train_loss": (sum(window) / len(window)) if window else None,
               "valid_loss": r["loss"], f"valid_{metric}": r[metric], "seconds": round(seconds(), 3),
               "lr": optimizer.param_groups[0]["lr"]}
        history.append(rec)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and step > 0:
            scheduler.step(r[metric])
        improved = _better(metric, r[metric], best_value)
        if improved:
            best_value, best_step = r[metric], step
        metrics = {"metric": metric, f"valid_{metric}": r[metric], "valid_loss": r["loss"], "step": step}
        ckpt = make_checkpoint(model, task=task, vocab=vocab, metrics=metrics, history=history,
                               train_state=train_state(), extra=_extra(data, settings))
        if improved:
            best_ckpt = ckpt
            save_checkpoint(out, ckpt)
        save_checkpoint(last, ckpt)
        tl = "" if rec["train_loss"] is None else f"train loss {rec['train_loss']:.4f}  "
        bar.print(f"step {step:>6}  epoch {rec['epoch']:.2f}  {tl}valid {metric} {r[metric]:.4f}"
                  f"  lr {rec['lr']:.2g}{'  (best)' if improved else ''}")
        if time.perf_counter() - last_plot[0] > PLOT_EVERY_S:
            do_plot()
            last_plot[0] = time.perf_counter()

    def stalled() -> bool:
        """Early stopping: ``patience`` evaluations in a row without a better valid metric."""
        if not settings.patience or best_step is None:
            return False
        return sum(1 for h in history if h["step"] > best_step) >= settings.patience

    def stop_nan(what: str, value: float) -> None:
        do_plot()
        where = (f"the best checkpoint so far (step {best_step}, valid {metric} {best_value:.4f}) is "
                 f"at {out}" if best_step is not None else "no checkpoint was kept")
        raise TrainingError(f"training stopped at step {step + 1}: the {what} is {value} (not finite); "
                            f"{where}; try a lower --lr or a --clip")

    params = [p for p in model.parameters() if p.requires_grad]
    stopped_early = False
    if console is not None:
        n_params = sum(p.numel() for p in params)
        path = "torch's fused kernels" if all(c.fused for c in model.stack.layers) else "a per-step loop"
        console.print(f"[bold]hwgen train[/bold] {data.name} ({'language model' if task == 'lm' else 'classification'}): "
                      f"{label}, {n_params:,} parameters, {path} on {device}; "
                      f"{'resuming at step ' + str(step) + ', ' if step else ''}"
                      f"{total} steps, {n_batches} per epoch")
    with _Progress(console, total, step, label) as bar:
        if not history:  # a fresh run: the untrained model is the first point of the curve
            evaluate_and_save(bar)
        latest = history[-1][f"valid_{metric}"] if history else float("nan")
        while step < total and not stopped_early:
            if task == "lm":
                if batch_in_epoch == 0:
                    hidden = None
                batches = _lm_batches(np.asarray(data.train), settings.batch, settings.bptt)
                for _ in range(batch_in_epoch):
                    next(batches)
            else:
                order = _epoch_order(n_train, settings.seed, epoch)
                batches = (order[s:s + settings.batch]
                           for s in range(batch_in_epoch * settings.batch, n_train, settings.batch))
            for batch in batches:
                if task == "lm":
                    if settings.reset_every and batch_in_epoch % settings.reset_every == 0:
                        hidden = None  # hardware starts from zero: train from zero starts often
                    x, y = (t.to(device) for t in batch)
                    logits, hidden = model(x, hidden)
                    hidden = detach_state(hidden)
                    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
                else:
                    xb, ln, yb = (t.to(device) for t in _classify_batch(data.train, batch))
                    logits, _ = model(xb)
                    loss = nn.functional.cross_entropy(_last_step_logits(logits, ln), yb)
                value = float(loss.detach())
                if not math.isfinite(value):
                    stop_nan("loss", value)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = nn.utils.clip_grad_norm_(params, settings.clip if settings.clip > 0 else float("inf"))
                if not math.isfinite(float(norm)):
                    stop_nan("gradient norm", float(norm))
                optimizer.step()
                if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
                    scheduler.step()
                model.clip_weights_()
                losses.append(value)
                step += 1
                batch_in_epoch += 1
                end_of_epoch = batch_in_epoch == n_batches
                due = (step % settings.eval_every == 0) if settings.eval_every else end_of_epoch
                if due or step == total:
                    evaluate_and_save(bar)
                    latest = history[-1][f"valid_{metric}"]
                    if stalled():
                        stopped_early = True
                        bar.print(f"early stop at step {step}: valid {metric} has not improved "
                                  f"since step {best_step} ({settings.patience} evaluations)")
                        break
                if bar.bar is not None:
                    recent = losses[-50:]
                    bar.update(step, f"loss {sum(recent) / len(recent):.4f}  valid {metric} {latest:.4f}")
                if step >= total:
                    break
            if stopped_early or (step >= total and batch_in_epoch < n_batches):
                break
            epoch += 1
            batch_in_epoch = 0

    # The final metrics, with the best weights: valid (again, for the record) and test.
    if best_ckpt is None:  # resumed after the best file vanished: the latest state is the best we have
        best_ckpt = make_checkpoint(model, task=task, vocab=vocab, history=history,
                                    train_state=train_state(), extra=_extra(data, settings))
    best_model = _place(RecurrentModel.from_config(config), device)
    best_model.load_state_dict(best_ckpt["state_dict"])
    rv = evaluate(best_model, data, "valid", settings)
    rt = evaluate(best_model, data, "test", settings)
    metrics = {"metric": metric, f"valid_{metric}": rv[metric], "valid_loss": rv["loss"],
               f"test_{metric}": rt[metric], "test_loss": rt["loss"],
               "step": best_ckpt["train_state"]["step"], "steps_trained": step,
               "stopped_early": stopped_early, "seconds": round(seconds(), 3)}
    best_ckpt = dict(best_ckpt, metrics=metrics, history=history)
    save_checkpoint(out, best_ckpt)
    png = do_plot()
    if console is not None:
        console.print(f"best: step {metrics['step']}  valid {metric} {rv[metric]:.4f}  "
                      f"test {metric} {rt[metric]:.4f}  →  {out}  (latest state {last.name}"
                      f"{', curve ' + png.name if png else ''})")
    return TrainResult(out=out, last=last, curve=png, task=task, metric=metric, metrics=metrics,
                       history=history, steps=step, seconds=seconds(), losses=losses)


def _extra(data, settings: TrainSettings) -> dict[str, Any]:
    extra: dict[str, Any] = {"dataset": {"name": data.name, "limit": settings.limit}}
    names = getattr(data, "class_names", None)
    if names is not None:
        extra["class_names"] = [str(n) for n in names]
    return extra


def resume_settings(out: str | os.PathLike, **explicit) -> TrainSettings:
    """The saved run's settings from ``out``'s ``.last.pt``, with ``explicit`` ones laid over them
    (only the budget, ``epochs`` / ``steps`` / ``eval_every``, may differ; :func:`train` checks)."""
    ts = _saved_state(Path(out))["train_state"]
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    merged = {k: v for k, v in ts["settings"].items() if k in known}
    merged.update(explicit)
    settings = TrainSettings(**merged)
    settings.validate()
    return settings
