"""Hot-column reads: a token input's matrix-vector product as one column of codes.

A character model's input is one-hot over its vocabulary; folded into its first layer (batch norm
on the layer input, as the ``ott2016`` set-up trains it) the embedding table becomes a one-hot
table plus a row ``b`` that every token shares: ``table[t] = b + d_t e_c(t)``. Then

    W_ih table[t] = W_ih b + d_t W_ih[:, c(t)]

where ``W_ih b`` is the same for every token: a per-row constant added at the row end (with the
bias), exactly, at the accumulator's binary point. So a row's input part costs one chunk read (the
chunk that holds column ``c(t)``) instead of ``⌈I / P⌉``: the embedding stage publishes ``d_t e_c(t)``
and the chunk index of ``c(t)``, and the layer reads only that chunk of its codes. The codes stay
where they are in memory (the load image does not change); only the visiting order does.

Everything is exact integer arithmetic on the QModel's own values, so the design still equals the
golden model bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spec.fixedpoint import Fmt
from ..spec.ir import EmbeddingInput, QModel, WeightCodes
from .code_memory import chunks


@dataclass(frozen=True)
class HotSplit:
    """``table = base + hot`` with at most one non-zero per row of ``hot``; ``columns[t]``: the
    column of token ``t``'s non-zero (0 for a token whose ``hot`` row is all zero)."""

    base: np.ndarray  # (E,) integers at the table's binary point
    hot: np.ndarray  # (V, E)
    columns: tuple[int, ...]


def split_table(table: np.ndarray, fmt: Fmt) -> HotSplit | None:
    """The split of an embedding table into a shared row and a one-hot rest, or None where the
    table is not of that form (or the rest does not fit the input format)."""
    table = np.asarray(table, dtype=np.int64)
    base = np.array([_mode(table[:, c]) for c in range(table.shape[1])], dtype=np.int64)
    hot = table - base
    nonzero = hot != 0
    if (nonzero.sum(axis=1) > 1).any() or hot.min(initial=0) < fmt.min_int or hot.max(initial=0) > fmt.max_int:
        return None
    columns = tuple(int(np.argmax(row)) if row.any() else 0 for row in nonzero)
    return HotSplit(base, hot, columns)


def _mode(column: np.ndarray) -> int:
    """The most common value (the smallest on ties, so the split is reproducible)."""
    values, counts = np.unique(column, return_counts=True)
    return int(values[np.argmax(counts)])


def hot_split(qmodel: QModel, layer: int, style: str, lanes: int) -> HotSplit | None:
    """The split that layer ``layer`` reads its input through, or None where hot-column reads do
    not apply: only the first layer of a token model, folded, where the input takes more than one
    chunk (one chunk is already one read)."""
    if layer != 0 or style != "folded" or not isinstance(qmodel.input, EmbeddingInput):
        return None
    if chunks(qmodel.input.out_size, lanes) <= 1:
        return None
    return split_table(qmodel.input.table, qmodel.input.fmt)


def row_offsets(w: WeightCodes, base: np.ndarray) -> np.ndarray:
    """``W b`` per row (torch row order), in codes times table integers: an exact integer at the
    row accumulator's binary point."""
    return np.asarray(w.q, dtype=object) @ np.asarray(base, dtype=object)


def hot_chunks(split: HotSplit, lanes: int) -> list[int]:
    """The chunk (of ``lanes`` words) holding each token's hot column."""
    return [c // lanes for c in split.columns]
