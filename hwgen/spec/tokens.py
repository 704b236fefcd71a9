"""Text to token ids for character models: one rule for every command that takes text.

A vocabulary that writes spaces as ``_`` and has no space of its own (Penn Treebank characters,
docs/datasets.md) reads a typed space as ``_``; one with a space but no ``_`` reads Penn
Treebank's ``_`` as a space, and one with a space but no newline reads a newline as a space. Any
other character outside the vocabulary is an error that names it.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["text_to_ids"]


def text_to_ids(vocab: Sequence[str], text: str) -> list[int]:
    """Token ids of ``text``; ValueError naming the characters the vocabulary lacks."""
    index = {tok: i for i, tok in enumerate(vocab)}
    if "_" in index and " " not in index:
        text = text.replace(" ", "_")
    elif " " in index:
        if "_" not in index:
            text = text.replace("_", " ")
        if "\n" not in index:
            text = text.replace("\n", " ")
    unknown = sorted({ch for ch in text if ch not in index})
    if unknown:
        raise ValueError(f"characters outside the model's vocabulary: {unknown!r}")
    return [index[ch] for ch in text]
