"""Accuracy on real data: the golden model (the hardware's arithmetic) beside float models.

Text models are scored in bits per character over ``lanes`` contiguous pieces of the split, each
run from a zero state (the layout `hwgen train` evaluates with), so every character but each
lane's first is predicted. Sequence classifiers are scored in accuracy at each sequence's last real
step. The golden model and the float models see the same lanes and sequences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .spec import golden
from .spec.ir import EmbeddingInput, QModel

Progress = Callable[[str, int, int], None]
LANES = 32
LN2 = math.log(2.0)


class EvalError(Exception):
    """Evaluation data that does not fit the model; one clear message."""


@dataclass
class Data:
    """A text stream (``ids``) or sequences (``x``, ``lengths``, ``y``)."""

    name: str
    ids: np.ndarray | None = None
    x: np.ndarray | None = None
    lengths: np.ndarray | None = None
    y: np.ndarray | None = None

    @property
    def metric(self) -> str:
        return "bpc" if self.ids is not None else "accuracy"

    @property
    def size(self) -> int:
        return len(self.ids) if self.ids is not None else len(self.y)


def load_split(dataset: str, split: str, limit: int | None = None, vocab=None) -> Data:
    """``split`` of a train/datasets.py dataset, the first ``limit`` characters / sequences."""
    from train.datasets import DatasetUnavailable, load_dataset

    try:
        d = load_dataset(dataset, limit=limit)
    except DatasetUnavailable as e:
        raise EvalError(str(e)) from None
    except ValueError as e:
        raise EvalError(f"--dataset {dataset}: {e}") from None
    part = getattr(d, split)
    if hasattr(d, "vocab"):
        if vocab is not None and tuple(vocab) != tuple(d.vocab):
            raise EvalError(f"dataset {dataset!r} has another vocabulary than the model: "
                            f"{_vocab_difference(tuple(d.vocab), tuple(vocab))}; evaluate on the "
                            f"dataset it was trained on")
        return Data(f"{dataset}/{split}", ids=np.asarray(part, np.int64))
    x, lengths, y = part
    return Data(f"{dataset}/{split}", x=np.asarray(x, np.float32), lengths=np.asarray(lengths), y=np.asarray(y))


def _vocab_difference(data: tuple, model: tuple) -> str:
    """What differs between two vocabularies, in a few words (sizes, missing symbols, order)."""
    only_data, only_model = sorted(set(data) - set(model)), sorted(set(model) - set(data))
    if only_data or only_model:
        parts = [f"{len(data)} vs {len(model)} symbols"]
        if only_data:
            parts.append(f"only the data has {only_data[:8]!r}")
        if only_model:
            parts.append(f"only the model has {only_model[:8]!r}")
        return ", ".join(parts)
    k = next(i for i, (a, b) in enumerate(zip(data, model)) if a != b)
    return (f"the same {len(data)} symbols in another order (token {k} is {data[k]!r} in the data, "
            f"{model[k]!r} in the model)")


def lanes_of(ids: np.ndarray, lanes: int = LANES) -> np.ndarray:
    """``(lanes, L)`` contiguous pieces (the remainder dropped); at least 2 tokens per lane."""
    n = max(1, min(lanes, len(ids) // 2))
    L = len(ids) // n
    if L < 2:
        raise EvalError(f"{len(ids)} tokens are too few to evaluate (need at least 2)")
    return ids[: n * L].reshape(n, L)


def _groups(n: int, size: int):
    return [(s, min(n, s + size)) for s in range(0, n, size)]


def _score_lm(logits: np.ndarray, targets: np.ndarray) -> tuple[float, int]:
    lp = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), -1)
    nll = -lp.gather(-1, torch.as_tensor(targets)[..., None]).sum()
    return float(nll), targets.size


def _score_cls(logits: np.ndarray, lengths: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    last = logits[np.arange(len(y)), lengths - 1]
    return float(np.sum(np.argmax(last, -1) == y)), len(y)


def _evaluate(data: Data, forward: Callable[[np.ndarray], np.ndarray], what: str,
              progress: Progress | None, group: int) -> float:
    """Metric of ``forward`` (inputs -> float logits) over ``data``, in groups for progress."""
    total, count = 0.0, 0
    if data.ids is not None:
        lanes = lanes_of(data.ids)
        parts = _groups(len(lanes), group)
        for k, (a, b) in enumerate(parts):
            s, n = _score_lm(forward(lanes[a:b, :-1]), lanes[a:b, 1:])
            total, count = total + s, count + n
            if progress:
                progress(what, k + 1, len(parts))
        return total / count / LN2
    order = np.argsort(data.lengths, kind="stable")  # batches of similar length: less padding
    parts = _groups(len(order), 64)
    for k, (a, b) in enumerate(parts):
        idx = order[a:b]
        t = int(data.lengths[idx].max())
        s, n = _score_cls(forward(data.x[idx, :t]), data.lengths[idx], data.y[idx])
        total, count = total + s, count + n
        if progress:
            progress(what, k + 1, len(parts))
    return total / count


def golden_inputs(qm: QModel, x: np.ndarray) -> np.ndarray:
    """Token ids as they are; features through the host affine (folded input BatchNorm) and
    rounded into the input format."""
    if isinstance(qm.input, EmbeddingInput):
        return np.asarray(x, np.int64)
    v = np.asarray(x, np.float64)
    affine = qm.meta.get("input_affine")
    if affine is not None:
        v = v * np.asarray(affine["scale"]) + np.asarray(affine["shift"])
    return qm.input.fmt.from_float(v)


def check_fits(qm: QModel, data: Data) -> None:
    stage = qm.input
    if data.ids is not None:
        if not isinstance(stage, EmbeddingInput):
            raise EvalError(f"{data.name} is text, but the model takes {stage.size} features per step")
        if data.ids.size and data.ids.max() >= stage.vocab_size:
            raise EvalError(f"{data.name} has token ids up to {data.ids.max()}, but the model's vocabulary "
                            f"has {stage.vocab_size} entries")
        if qm.out_size != stage.vocab_size:
            raise EvalError(f"the model predicts {qm.out_size} outputs, not the {stage.vocab_size} tokens of "
                            f"its vocabulary: it is not a language model")
    else:
        if isinstance(stage, EmbeddingInput) or stage.size != data.x.shape[2]:
            raise EvalError(f"{data.name} has {data.x.shape[2]} features per step; the model takes "
                            f"{'token ids' if isinstance(stage, EmbeddingInput) else stage.size}")
        if data.y.size and data.y.max() >= qm.out_size:
            raise EvalError(f"{data.name} has {data.y.max() + 1} classes; the model has {qm.out_size} outputs")


def golden_metric(qm: QModel, data: Data, progress: Progress | None = None) -> float:
    """The metric of the golden model, i.e. of the hardware's exact arithmetic."""
    check_fits(qm, data)

    def forward(x):
        return qm.out_fmt.to_float(golden.run(qm, golden_inputs(qm, x)).outputs)

    return _evaluate(data, forward, "golden", progress, group=8)


def float_metric(net, data: Data, what: str = "float", progress: Progress | None = None) -> float:
    """The metric of a :class:`hwgen.export.floatnet.FloatNet`."""
    from .export.floatnet import run

    def forward(x):
        return run(net, x)[0].numpy()

    return _evaluate(data, forward, what, progress, group=LANES)
