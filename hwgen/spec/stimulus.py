"""Seeded random inputs for a model: the one generator of stimulus, for the build's test vectors,
``hwgen golden``, the simulation references and the tests.

Token models get ids drawn uniformly from the vocabulary; feature models words drawn uniformly
from a share ``scale`` of their format's range, and optionally a share ``rails`` of words set
exactly to the format's limits (they drive the datapath into its saturating corners).
"""

from __future__ import annotations

import numpy as np

from .ir import EmbeddingInput, QModel

__all__ = ["random_inputs"]


def random_inputs(qmodel: QModel, rng: np.random.Generator, shape: tuple[int, ...], *, scale: float = 1.0,
                  rails: float = 0.0) -> np.ndarray:
    """Inputs of ``shape`` leading dimensions (``(batch, steps)`` for :func:`hwgen.spec.golden.run`):
    token ids, or feature vectors (one more dimension, the input size)."""
    stage = qmodel.input
    if isinstance(stage, EmbeddingInput):
        return rng.integers(0, stage.vocab_size, shape)
    lo, hi = stage.fmt.min_int, stage.fmt.max_int
    x = rng.integers(int(lo * scale), int(hi * scale) + 1, (*shape, stage.size))
    if rails:
        at_rail = rng.random(x.shape) < rails
        x = np.where(at_rail, np.where(rng.random(x.shape) < 0.5, lo, hi), x)
    return x
