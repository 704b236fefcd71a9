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
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointError, load_checkpoint, make_checkpoint, save_checkpoint
from .model import ConfigError, RecurrentModel, detach_state, normalize_config

__all__ = ["TrainSettings", "TrainResult", "TrainingError", "train", "evaluate", "model_config_for",
           "last_path", "curve_path", "load_data", "task_of", "resume_settings",
           "check_writable"]

LN2 = math.log(2.0)
EVAL_BATCH_CLASSIFY = 256
PLOT_EVERY_S = 60.0


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

    #: settings a resumed run must share with the saved one (the others set the budget).
    FIXED = ("dataset", "limit", "batch", "bptt", "lr", "clip", "seed", "reset_every")

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
    parent = out.parent
    if not parent.exists():
        raise TrainingError(f"--out {out}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise TrainingError(f"--out {out}: {parent} is not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise TrainingError(f"--out {out}: cannot write in {parent} ({e.strerror or e})") from None


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
                     activation: str = "hard", quantizer=None, quantize: Mapping[str, bool] | None = None,
                     batch_norm: bool | str = False, nonlinearity: str = "tanh",
                     init: str = "glorot") -> dict[str, Any]:
    """A model config whose input and output sizes fit ``data`` (raises ConfigError otherwise)."""
    if task_of(data) == "lm":
        inp = {"kind": "embedding", "vocab_size": len(data.vocab), "dim": embed}
        out = len(data.vocab)
    else:
        inp = {"kind": "features", "size": int(data.n_features)}
        out = int(data.n_classes)
    return normalize_config({
        "input": inp, "cell": cell, "hidden": list(hidden) if not isinstance(hidden, int) else [hidden],
        "activation": activation, "nonlinearity": nonlinearity, "quantizer": quantizer,
        "quantize": dict(quantize or {}), "batch_norm": batch_norm, "init": init, "output_size": out,
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


@torch.no_grad()
def evaluate(model: RecurrentModel, data, split: str, settings: TrainSettings) -> dict[str, float]:
    """``{"loss": mean cross-entropy (nats), metric: value}`` on ``split`` ("valid" / "test"),
    in evaluation mode (deterministic quantization, BatchNorm running statistics)."""
    was_training = model.training
    model.eval()
    try:
        if task_of(data) == "lm":
            ids = np.asarray(getattr(data, split))
            if len(ids) < 2:
                raise TrainingError(f"the {split} split of {data.name!r} is too short to evaluate "
                                    f"({len(ids)} tokens)")
            # As many lanes as --batch, but each at least bptt long; every token but each lane's
            # first is a target (drop_last=False), the state carried along the lane from zero.
            lanes = max(1, min(settings.batch, len(ids) // max(2, settings.bptt)))
            total, count, state = 0.0, 0, None
            for x, y in _lm_batches(ids, lanes, settings.bptt, drop_last=False):
                logits, state = model(x, state)
                total += float(nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
                count += y.numel()
            if count == 0:
                raise TrainingError(f"the {split} split of {data.name!r} is too short to evaluate "
                                    f"({len(ids)} tokens)")
            loss = total / count
            return {"loss": loss, "bpc": loss / LN2}
        x, lengths, y = getattr(data, split)
        n = len(y)
        if n == 0:
            raise TrainingError(f"the {split} split of {data.name!r} is empty")
        total, correct = 0.0, 0
        for s in range(0, n, EVAL_BATCH_CLASSIFY):
            xb, ln, yb = _classify_batch(getattr(data, split), torch.arange(s, min(n, s + EVAL_BATCH_CLASSIFY)))
            logits, _ = model(xb)
            last = _last_step_logits(logits, ln)
            total += float(nn.functional.cross_entropy(last, yb, reduction="sum"))
            correct += int((last.argmax(-1) == yb).sum())
        return {"loss": total / n, "accuracy": correct / n}
    finally:
        model.train(was_training)


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


def _metric_name(task: str) -> str:
    return "bpc" if task == "lm" else "accuracy"


def train(config: Mapping[str, Any] | None, settings: TrainSettings, out: str | os.PathLike, *,
          data=None, resume: bool = False, console=None, plot: bool = True) -> TrainResult:
    """Train and write the checkpoints; returns the best checkpoint's metrics and the history.

    ``config`` is the model config (ignored, may be None, when resuming: the saved one is used).
    ``data`` is a loaded dataset (else ``settings.dataset`` is loaded). ``console`` (a rich
    Console) shows a progress bar and one line per evaluation; None is quiet. Raises
    :class:`TrainingError` (and ``train.datasets.DatasetUnavailable``) with one-line messages.
    """
    settings.validate()
    out = Path(out)
    last, curve = last_path(out), curve_path(out)
    check_writable(out)

    saved = None
    if resume:
        if not last.exists():
            raise TrainingError(f"--resume: no saved state at {last} (written by an earlier run "
                                f"with --out {out})")
        try:
            saved = load_checkpoint(last)
        except CheckpointError as e:
            raise TrainingError(f"--resume: {e}") from None
        ts = saved.get("train_state")
        if not isinstance(ts, dict) or "settings" not in ts:
            raise TrainingError(f"--resume: {last} holds no training state to resume from")
        prev = ts["settings"]
        for name in TrainSettings.FIXED:
            if prev.get(name) != getattr(settings, name):
                raise TrainingError(
                    f"--resume: {name} is {getattr(settings, name)!r} but the saved run used "
                    f"{prev.get(name)!r}; a resumed run keeps its settings (only the budget, "
                    f"--epochs/--steps/--eval-every, may change)")
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
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)

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
            "generator": model.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch,
            "batches_per_epoch": n_batches,
            "hidden": detach_state(hidden),
            "losses": list(losses),
            "best": best_value,
            "best_step": best_step,
            "seconds": seconds(),
        }

    best_step = None if best_ckpt is None else best_ckpt["train_state"]["step"]

    def do_plot() -> Path | None:
        if not plot:
            return None
        from .plot import plot_training_curve

        try:
            return plot_training_curve(curve, losses, history, metric,
                                       title=f"{data.name}: {label}")
        except ImportError:  # matplotlib missing: the checkpoints matter, the picture does not
            return None

    def evaluate_and_save(bar: _Progress) -> None:
        nonlocal best_value, best_ckpt, best_step
        r = evaluate(model, data, "valid", settings)
        since = history[-1]["step"] if history else 0
        window = losses[since:step]
        rec = {"step": step, "epoch": round(step / n_batches, 4),
               "train_loss": (sum(window) / len(window)) if window else None,
               "valid_loss": r["loss"], f"valid_{metric}": r[metric], "seconds": round(seconds(), 3)}
        history.append(rec)
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
                  f"{'  (best)' if improved else ''}")
        if time.perf_counter() - last_plot[0] > PLOT_EVERY_S:
            do_plot()
            last_plot[0] = time.perf_counter()

    def stop_nan(what: str, value: float) -> None:
        do_plot()
        where = (f"the best checkpoint so far (step {best_step}, valid {metric} {best_value:.4f}) is "
                 f"at {out}" if best_step is not None else "no checkpoint was kept")
        raise TrainingError(f"training stopped at step {step + 1}: the {what} is {value} (not finite); "
                            f"{where}; try a lower --lr or a --clip")

    params = [p for p in model.parameters() if p.requires_grad]
    if console is not None:
        n_params = sum(p.numel() for p in params)
        console.print(f"[bold]hwgen train[/bold] {data.name} ({'language model' if task == 'lm' else 'classification'}): "
                      f"{label}, {n_params:,} parameters; {'resuming at step ' + str(step) + ', ' if step else ''}"
                      f"{total} steps, {n_batches} per epoch")
    with _Progress(console, total, step, label) as bar:
        if not history:  # a fresh run: the untrained model is the first point of the curve
            evaluate_and_save(bar)
        latest = history[-1][f"valid_{metric}"] if history else float("nan")
        while step < total:
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
                    x, y = batch
                    logits, hidden = model(x, hidden)
                    hidden = detach_state(hidden)
                    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
                else:
                    xb, ln, yb = _classify_batch(data.train, batch)
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
                model.clip_weights_()
                losses.append(value)
                step += 1
                batch_in_epoch += 1
                end_of_epoch = batch_in_epoch == n_batches
                due = (step % settings.eval_every == 0) if settings.eval_every else end_of_epoch
                if due or step == total:
                    evaluate_and_save(bar)
                    latest = history[-1][f"valid_{metric}"]
                if bar.bar is not None:
                    recent = losses[-50:]
                    bar.update(step, f"loss {sum(recent) / len(recent):.4f}  valid {metric} {latest:.4f}")
                if step >= total:
                    break
            if step >= total and batch_in_epoch < n_batches:
                break
            epoch += 1
            batch_in_epoch = 0

    # The final metrics, with the best weights: valid (again, for the record) and test.
    if best_ckpt is None:  # resumed after the best file vanished: the latest state is the best we have
        best_ckpt = make_checkpoint(model, task=task, vocab=vocab, history=history,
                                    train_state=train_state(), extra=_extra(data, settings))
    best_model = RecurrentModel.from_config(config)
    best_model.load_state_dict(best_ckpt["state_dict"])
    rv = evaluate(best_model, data, "valid", settings)
    rt = evaluate(best_model, data, "test", settings)
    metrics = {"metric": metric, f"valid_{metric}": rv[metric], "valid_loss": rv["loss"],
               f"test_{metric}": rt[metric], "test_loss": rt["loss"],
               "step": best_ckpt["train_state"]["step"], "steps_trained": step,
               "seconds": round(seconds(), 3)}
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
    last = last_path(out)
    if not last.exists():
        raise TrainingError(f"--resume: no saved state at {last} (written by an earlier run with "
                            f"--out {Path(out)})")
    try:
        ckpt = load_checkpoint(last)
    except CheckpointError as e:
        raise TrainingError(f"--resume: {e}") from None
    ts = ckpt.get("train_state")
    if not isinstance(ts, dict) or not isinstance(ts.get("settings"), dict):
        raise TrainingError(f"--resume: {last} holds no training state to resume from")
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    merged = {k: v for k, v in ts["settings"].items() if k in known}
    merged.update(explicit)
    settings = TrainSettings(**merged)
    settings.validate()
    return settings
