"""The folded datapath's code memories: their images, the load image and ranges, computed in
plain Python from a QModel.

Rows are visited unit by unit (``p = u * G + g`` is gate ``g`` of hidden unit ``u``), so each
unit's gates finish together and one shared gate unit can finish the unit while the next one is
being accumulated. A row is read as chunks of ``lanes`` codes: first every chunk of its first
matrix (``W_ih``), then every chunk of the second (``W_hh``); a chunk never mixes matrices, so
each matrix keeps its own binary point. Padding lanes get code 0 and input 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spec.ir import CodeKind, QModel, WeightCodes
from .codes import CodeFormat, encode_q
from .plan import LOAD_WIDTH, DesignPlan, StagePlan, pieces
from .sparse_layout import sparse_layout


def unit_order(gates: int, hidden: int) -> list[int]:
    """Original row index (torch order ``g * H + u``) of each visited row ``p = u * G + g``."""
    return [g * hidden + u for u in range(hidden) for g in range(gates)]


def common_format(ws: list[WeightCodes]) -> CodeFormat:
    """One code format that can store the codes of every matrix (they share one memory)."""
    kinds = {w.kind for w in ws}
    if len(kinds) == 1:
        kind = kinds.pop()
        return CodeFormat(kind, max(w.span for w in ws))
    if kinds <= {CodeKind.BINARY, CodeKind.TERNARY}:
        return CodeFormat(CodeKind.TERNARY, 0)
    if CodeKind.FIXED not in kinds:  # +-1 and 0 are pow2 codes with k = 0
        return CodeFormat(CodeKind.POW2, max(w.span for w in ws))
    need = max(int(np.abs(w.q).max(initial=0)).bit_length() for w in ws)
    try:
        return CodeFormat(CodeKind.FIXED, max(1, need))
    except ValueError:
        raise ValueError(
            f"the matrices of one layer mix code kinds {sorted(k.value for k in kinds)} with codes "
            f"too wide for a shared {need}-bit fixed mantissa; use one code kind per layer"
        ) from None


@dataclass(frozen=True)
class BaselineFormat:
    """Baseline weights: plain two's-complement integers ``q`` of ``width`` bits, multiplied."""

    width: int


def word_bits(fmt: CodeFormat | BaselineFormat) -> int:
    return fmt.width


def encode(q: np.ndarray, fmt: CodeFormat | BaselineFormat) -> np.ndarray:
    if isinstance(fmt, BaselineFormat):
        return (np.asarray(q, dtype=np.int64) & ((1 << fmt.width) - 1)).astype(np.uint64)
    return encode_q(q, fmt).astype(np.uint64)


def chunks(cols: int, lanes: int) -> int:
    return -(-cols // lanes)


def memory_image(ws: list[WeightCodes], order: list[int], lanes: int, fmt) -> list[int]:
    """One word of ``lanes`` codes (lane 0 in the lowest bits) per (row, chunk), rows in ``order``."""
    bits = word_bits(fmt)
    words = []
    for r in order:
        for w in ws:
            cols = w.shape[1]
            padded = np.zeros(chunks(cols, lanes) * lanes, dtype=np.int64)
            padded[:cols] = w.q[r]
            codes = encode(padded, fmt).tolist()
            for k in range(0, len(codes), lanes):
                word = 0
                for j, c in enumerate(codes[k:k + lanes]):
                    word |= int(c) << (j * bits)
                words.append(word)
    return words


def row_sum_bound(w: WeightCodes, lo: int, hi: int) -> int:
    """Largest magnitude of any partial sum of ``q[r, c] * x[c]`` over a row (unscaled)."""
    biggest = max(-lo, hi)
    return int(np.abs(w.q).sum(axis=1).max(initial=0)) * biggest


def layer_matrices(layer) -> tuple[list[WeightCodes], list[int], int]:
    """``(matrices, row order, gates)`` of a recurrent layer's code memory: ``W_ih`` and
    ``W_hh``, unit by unit (:func:`unit_order`)."""
    return [layer.w_ih, layer.w_hh], unit_order(layer.gates, layer.hidden_size), layer.gates


def dense_matrices(dense) -> tuple[list[WeightCodes], list[int], int]:
    """``(matrices, row order, gates)`` of the output layer's code memory: its rows in order."""
    return [dense.w], list(range(dense.out_size)), 1


def stage_matrices(qmodel: QModel, stage: StagePlan) -> tuple[list[WeightCodes], list[int], int]:
    """The code memory's matrices of a folded stage (see :func:`layer_matrices`)."""
    if stage.kind == "recurrent":
        return layer_matrices(qmodel.layers[stage.layer])
    if stage.kind == "dense":
        return dense_matrices(qmodel.output)
    raise ValueError(f"a {stage.kind} stage has no code memory")


def code_format(ws: list[WeightCodes], baseline_width: int | None) -> CodeFormat | BaselineFormat:
    """How a code memory stores each weight: baseline integers, or the matrices' common code."""
    return BaselineFormat(baseline_width) if baseline_width else common_format(ws)


def split(words: list[int], width: int) -> list[int]:
    """``words`` of ``width`` bits as 16-bit load words, least significant first."""
    mask = (1 << LOAD_WIDTH) - 1
    return [(w >> (LOAD_WIDTH * i)) & mask for w in words for i in range(pieces(width))]


def load_image(qmodel: QModel, plan: DesignPlan) -> list[int]:
    """The image a design's ``load`` port takes after each reset: every loaded code memory in
    stream order, each word as 16-bit pieces (empty without a ``load`` port)."""
    words = []
    for stage in plan.loaded:
        ws, order, _ = stage_matrices(qmodel, stage)
        fmt = code_format(ws, plan.baseline_width)
        if stage.sparse:
            image = sparse_layout(*ws, order, stage.lanes, fmt, stage.hot).words
        else:
            image = memory_image(ws, order, stage.lanes, fmt)
        words += split(image, stage.code_memory.width)
    return words


def image_text(words: list[int]) -> str:
    """A load image as hwgen writes it (vectors/load.hex): one 16-bit hex word per line, for
    ``$readmemh`` or a host program."""
    return "".join(f"{w:04x}\n" for w in words)
