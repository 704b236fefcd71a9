"""Random, valid QModels of any shape, for tests and benchmarks (untrained: for structure only)."""

from __future__ import annotations

import numpy as np

from .activation import hard_activation, table_activation
from .fixedpoint import Fmt
from .golden import check_bounds
from .ir import (
    GATES, CodeKind, DenseLayer, EmbeddingInput, FeatureInput, FixedArray, LayerFormats, QModel,
    RecurrentLayer, WeightCodes,
)

#: (exp, span) per code kind: pow2 weights in 2**[-4, -1], fixed mantissas of 4 bits at 2**-4.
CODE_RANGES = {CodeKind.BINARY: (0, 0), CodeKind.TERNARY: (0, 0), CodeKind.POW2: (-4, 3), CodeKind.FIXED: (-4, 4)}
SCALE_FRAC = 12


def layer_formats(width: int, input_fmt: Fmt, lstm: bool) -> LayerFormats:
    """Formats of a layer at a total width: state and activations hold [-2, 2), pre-activations
    [-16, 16), the LSTM cell [-8, 8)."""
    return LayerFormats(
        input=input_fmt,
        state=Fmt(width, width - 2),
        preact=Fmt(width, width - 5),
        cell=Fmt(width, width - 4) if lstm else None,
    )


def random_codes(rng: np.random.Generator, kind: CodeKind, rows: int, cols: int, scaled: bool) -> WeightCodes:
    kind = CodeKind(kind)
    exp, span = CODE_RANGES[kind]
    sign = rng.choice([-1, 1], size=(rows, cols))
    if kind is CodeKind.BINARY:
        q = sign
    elif kind is CodeKind.TERNARY:
        q = sign * (rng.random((rows, cols)) < 0.5)
    elif kind is CodeKind.POW2:
        q = sign * (1 << rng.integers(0, span + 1, size=(rows, cols))) * (rng.random((rows, cols)) < 0.8)
    else:
        q = rng.integers(-(1 << span) + 1, 1 << span, size=(rows, cols))
    scale = None
    if kind in (CodeKind.BINARY, CodeKind.TERNARY):
        # Glorot-like magnitude, so that pre-activations stay in a useful range.
        w0 = np.sqrt(6.0 / (rows + cols)) if scaled else 1.0
        values = np.round(w0 * (1 << SCALE_FRAC) * rng.uniform(0.75, 1.25, rows)).astype(np.int64)
        scale = FixedArray(np.maximum(values, 1), SCALE_FRAC)
    return WeightCodes(kind, q, exp, span, scale)


def random_bias(rng: np.random.Generator, n: int, frac: int = 10) -> FixedArray:
    return FixedArray(rng.integers(-(1 << frac) // 2, (1 << frac) // 2 + 1, size=n), frac)


def random_qmodel(
    kind: str = "gru",
    hidden: tuple[int, ...] | int = 8,
    inputs: int = 4,
    vocab: int | None = None,
    outputs: int | None = None,
    code: CodeKind | str = CodeKind.POW2,
    act: str = "hard",
    width: int = 16,
    seed: int = 0,
    table_bits: int = 8,
    table: str = "random",
) -> QModel:
    """A random model: ``vocab`` set means token inputs embedded to ``inputs`` features, through
    a ``table`` of uniform random entries (``random``), one-hot rows (``one-hot``: token ``t`` is
    1.0 in feature ``t mod inputs``) or, as a trained character model's batch norm folds it, a
    shared random row plus a randomly scaled one-hot (``batchnorm``; the last token gets the
    shared row alone)."""
    rng = np.random.default_rng(seed)
    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    in_fmt = Fmt(width, width - 3)
    if vocab:
        stage = EmbeddingInput(in_fmt.from_float(_table(rng, table, vocab, inputs)), in_fmt)
    else:
        stage = FeatureInput(inputs, in_fmt)
    layers, size, fmt = [], inputs, in_fmt
    for n_h in hidden:
        f = layer_formats(width, fmt, kind == "lstm")
        rows = GATES[kind] * n_h
        acts = _activations(kind, act, f, table_bits)
        layers.append(RecurrentLayer(
            kind, size, n_h,
            w_ih=random_codes(rng, code, rows, size, True), w_hh=random_codes(rng, code, rows, n_h, True),
            b_ih=random_bias(rng, rows), b_hh=random_bias(rng, rows), formats=f, **acts,
        ))
        size, fmt = n_h, f.state
    output = None
    if outputs:
        output = DenseLayer(random_codes(rng, code, outputs, size, True), random_bias(rng, outputs), Fmt(width, width - 6))
    return check_bounds(QModel(stage, tuple(layers), output, name=f"random-{kind}-{CodeKind(code).value}-{act}-s{seed}",
                               meta={"origin": "hwgen.random_qmodel", "seed": seed}))  # the label files record (kept)


def _table(rng: np.random.Generator, kind: str, vocab: int, inputs: int) -> np.ndarray:
    """An embedding table (floats) of the given kind (see :func:`random_qmodel`)."""
    if kind == "random":
        return rng.uniform(-1, 1, (vocab, inputs))
    hot = np.zeros((vocab, inputs))
    hot[np.arange(vocab), np.arange(vocab) % inputs] = 1.0
    if kind == "one-hot":
        return hot
    if kind != "batchnorm":
        raise ValueError(f"table must be random, one-hot or batchnorm, not {kind!r}")
    hot *= rng.uniform(0.5, 2.0, (vocab, 1))
    hot[-1] = 0.0
    return rng.uniform(-1, 1, inputs) + hot


def _activations(kind: str, impl: str, f: LayerFormats, table_bits: int) -> dict:
    def make(func, out, range_log2):
        if impl == "hard":
            return hard_activation(func, out)
        return table_activation(func, out, range_log2=range_log2, addr_bits=table_bits)

    gate_out = f.state
    if kind == "rnn":
        return {"cand_act": make("tanh", f.state, 2)}
    acts = {"gate_act": make("sigmoid", gate_out, 3), "cand_act": make("tanh", gate_out, 2)}
    if kind == "lstm":
        acts["cell_act"] = make("tanh", gate_out, 2)
    return acts
