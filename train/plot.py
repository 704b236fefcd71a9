"""The training-curve PNG written beside a checkpoint: train loss and the valid metric vs step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

__all__ = ["plot_training_curve"]


def plot_training_curve(path: str | os.PathLike, losses: Sequence[float], history: Sequence[dict],
                        metric: str, title: str = "") -> Path:
    """Write a two-panel PNG: per-step train loss (with a moving average) and valid ``metric``.

    ``losses[i]`` is the loss of optimizer step ``i + 1``; ``history`` holds evaluation records
    with ``"step"`` and ``"valid_" + metric``. Written atomically (temporary file, then rename).
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(10, 4), dpi=100)
    ax_loss, ax_metric = fig.subplots(1, 2)
    steps = list(range(1, len(losses) + 1))
    if losses:
        ax_loss.plot(steps, losses, color="tab:blue", alpha=0.3, linewidth=0.8, label="step")
        w = max(1, len(losses) // 50)
        if w > 1:
            avg, acc = [], 0.0
            for i, v in enumerate(losses):
                acc += v
                if i >= w:
                    acc -= losses[i - w]
                avg.append(acc / min(i + 1, w))
            ax_loss.plot(steps, avg, color="tab:blue", linewidth=1.5, label=f"mean of {w}")
        ax_loss.legend(loc="upper right", fontsize=8)
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("train loss (cross-entropy, nats)")
    ax_loss.set_title("training loss")
    ax_loss.grid(alpha=0.3)

    key = f"valid_{metric}"
    pts = [(h["step"], h[key]) for h in history if h.get(key) is not None]
    if pts:
        xs, ys = zip(*pts)
        ax_metric.plot(xs, ys, marker="o", markersize=3, color="tab:orange")
        best = min(ys) if metric == "bpc" else max(ys)
        ax_metric.axhline(best, color="gray", linestyle=":", linewidth=1)
        ax_metric.annotate(f"best {best:.4g}", xy=(xs[list(ys).index(best)], best), fontsize=8,
                           xytext=(4, 4), textcoords="offset points")
    ax_metric.set_xlabel("optimizer step")
    ax_metric.set_ylabel({"bpc": "bits per character", "accuracy": "accuracy"}.get(metric, metric))
    ax_metric.set_title(f"validation {metric}")
    ax_metric.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
