"""The generated design's stream ports: payload layouts and their bit packing, the one definition.

One source of truth for everything outside the design that talks to it (the Amaranth tests, the
cocotb benches in sim/, the UART wrapper, test vectors): docs/hardware-interface.md describes it.

Input stream payload: ``{"data", "first"}``: ``data`` is a token id (unsigned) for an embedding
input or a vector of ``size`` words in the input format; ``first`` marks the first step of a
sequence (all layer states are zero before it). Output stream payload: ``{"data", "first"}``, one
beat per input beat, in order; ``first`` is echoed from the input beat it answers. ``data`` is, by
the ``output`` chosen at generation: ``"logits"`` (the dense layer's outputs in its format),
``"hidden"`` (the last recurrent layer's state) or ``"argmax"`` (the index of the largest model
output, lowest index on ties). Struct members are packed in that order from bit 0 (Amaranth's
``StructLayout``), array elements from element 0 at the lowest bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Shape, unsigned
from amaranth.lib import data

from ..spec.fixedpoint import Fmt
from ..spec.ir import EmbeddingInput, QModel
from .plan import OUTPUTS
from .shapes import fmt_shape
from .vectors import index_bits


def default_output(qmodel: QModel) -> str:
    """``logits`` when the model has a dense output layer, else ``hidden``."""
    return "logits" if qmodel.output is not None else "hidden"


def check_output(qmodel: QModel, output: str | None) -> str:
    """The validated output choice (``None`` picks :func:`default_output`)."""
    output = default_output(qmodel) if output is None else output
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}")
    if output == "logits" and qmodel.output is None:
        raise ValueError("output 'logits' needs a model with a dense output layer; use 'hidden' or 'argmax'")
    return output


@dataclass(frozen=True)
class Field:
    """A payload's ``data`` field: ``count`` words of ``shape`` (count 1 and ``vector`` False for a scalar)."""

    shape: Shape
    count: int
    vector: bool

    @property
    def width(self) -> int:
        return self.shape.width * self.count

    def layout(self):
        return data.ArrayLayout(self.shape, self.count) if self.vector else self.shape


@dataclass(frozen=True)
class StreamFormat:
    """Layout and packing of one stream's payload (``data`` then a 1-bit ``first``)."""

    field: Field
    fmt: Fmt | None  # the fixed-point format of each word, None for indices

    @property
    def layout(self) -> data.StructLayout:
        return data.StructLayout({"data": self.field.layout(), "first": 1})

    @property
    def width(self) -> int:
        return self.field.width + 1

    def pack(self, value, first: bool) -> int:
        """The payload's bits as an unsigned integer."""
        f = self.field
        words = np.atleast_1d(np.asarray(value, dtype=np.int64))
        if words.shape != (f.count,):
            raise ValueError(f"payload data must have {f.count} element(s), got shape {words.shape}")
        lo, hi = (-(1 << (f.shape.width - 1)), (1 << (f.shape.width - 1)) - 1) if f.shape.signed \
            else (0, (1 << f.shape.width) - 1)
        if words.min() < lo or words.max() > hi:
            raise ValueError(f"payload data outside [{lo}, {hi}]")
        mask, bits = (1 << f.shape.width) - 1, 0
        for i, w in enumerate(words.tolist()):
            bits |= (w & mask) << (i * f.shape.width)
        return bits | (int(bool(first)) << f.width)

    def unpack(self, bits: int) -> tuple[np.ndarray | int, bool]:
        """``(data, first)`` from a payload's bits; ``data`` is an int64 array for vectors."""
        f, w = self.field, self.field.shape.width
        mask = (1 << w) - 1
        words = [(bits >> (i * w)) & mask for i in range(f.count)]
        if f.shape.signed:
            words = [x - (1 << w) if x >> (w - 1) else x for x in words]
        first = bool((bits >> f.width) & 1)
        return (np.array(words, dtype=np.int64) if f.vector else words[0]), first


def index_format(n: int) -> StreamFormat:
    """A payload carrying one index in ``range(n)`` (a token id, an argmax)."""
    return StreamFormat(Field(unsigned(index_bits(n)), 1, False), None)


def vector_format(fmt: Fmt, n: int) -> StreamFormat:
    """A payload carrying ``n`` words in ``fmt``."""
    return StreamFormat(Field(fmt_shape(fmt), n, True), fmt)


def input_format(qmodel: QModel) -> StreamFormat:
    stage = qmodel.input
    if isinstance(stage, EmbeddingInput):
        return index_format(stage.vocab_size)
    return vector_format(stage.fmt, stage.size)


def output_format(qmodel: QModel, output: str | None = None) -> StreamFormat:
    output = check_output(qmodel, output)
    if output == "argmax":
        return index_format(qmodel.out_size)
    if output == "logits":
        return vector_format(qmodel.output.out, qmodel.output.out_size)
    last = qmodel.layers[-1]
    return vector_format(last.formats.state, last.hidden_size)
