"""The golden model's own properties: sequence boundaries, batching, the fast exact paths,
the trace and the signal bounds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwgen.spec import golden
from hwgen.spec.fixedpoint import Fmt
from hwgen.spec.ir import EmbeddingInput, FeatureInput, QModelError, WeightCodes
from hwgen.spec.random_qmodel import random_qmodel

KINDS = ["rnn", "gru", "lstm"]


def features(qmodel, batch, steps, seed=0, full_range=False):
    rng = np.random.default_rng(seed)
    fmt = qmodel.input.fmt
    if full_range:
        return rng.integers(fmt.min_int, fmt.max_int + 1, (batch, steps, qmodel.input.size))
    return fmt.from_float(rng.uniform(-1, 1, (batch, steps, qmodel.input.size)))


@pytest.mark.parametrize("kind", KINDS)
def test_start_flag_resets_state_exactly_there(kind):
    """A stream of two sequences with a start flag equals the two sequences run separately,
    and without the flag the second part differs (the state carried over)."""
    m = random_qmodel(kind, (6, 5), inputs=3, outputs=4, seed=1)
    a, b = features(m, 2, 7, seed=1), features(m, 2, 5, seed=2)
    stream = np.concatenate([a, b], axis=1)
    start = np.zeros(stream.shape[:2], bool)
    start[:, 7] = True
    joined = golden.run(m, stream, start).outputs
    np.testing.assert_array_equal(joined[:, :7], golden.run(m, a).outputs)
    np.testing.assert_array_equal(joined[:, 7:], golden.run(m, b).outputs)
    carried = golden.run(m, stream).outputs
    assert not np.array_equal(carried[:, 7:], joined[:, 7:])


def test_start_flags_per_sequence_in_batch():
    """Flags are per batch row: a reset in row 0 leaves row 1 untouched."""
    m = random_qmodel("gru", 5, inputs=3, seed=2)
    x = features(m, 2, 9, seed=3)
    start = np.zeros((2, 9), bool)
    start[0, 4] = True
    out = golden.run(m, x, start).outputs
    np.testing.assert_array_equal(out[1], golden.run(m, x[1:]).outputs[0])
    np.testing.assert_array_equal(out[0, 4:], golden.run(m, x[:1, 4:]).outputs[0])


@pytest.mark.parametrize("kind", KINDS)
def test_batch_rows_are_independent(kind):
    m = random_qmodel(kind, 7, inputs=4, outputs=3, code="ternary", act="table", seed=3)
    x = features(m, 5, 6, seed=4)
    together = golden.run(m, x).outputs
    for row in range(5):
        np.testing.assert_array_equal(together[row], golden.run(m, x[row:row + 1]).outputs[0])


@pytest.mark.parametrize("kind", KINDS)
def test_float64_and_int64_products_agree(kind, monkeypatch):
    """Forcing every product through the int64 path gives the same bits as float64 BLAS."""
    m = random_qmodel(kind, (8, 6), inputs=5, outputs=4, code="fixed", seed=4)
    x = features(m, 4, 6, seed=5, full_range=True)
    fast = golden.run(m, x).outputs
    monkeypatch.setattr(golden, "FLOAT64_EXACT_BITS", 0)
    np.testing.assert_array_equal(golden.run(m, x).outputs, fast)


def test_float64_path_is_only_taken_when_exact():
    """A product whose sums could pass 2**53 goes through int64 and stays exact."""
    rows, cols = 2, 1024
    q = np.full((rows, cols), (1 << 15) - 1)
    w = WeightCodes("fixed", q, 0, 15)
    x = golden.Fx.of(np.full((1, cols), -(1 << 31)), Fmt(32, 0))
    y = golden.matvec(w, x)
    assert y.bound.bit_length() > 53
    assert int(y.v[0, 0]) == cols * ((1 << 15) - 1) * -(1 << 31)  # exact, computed by hand


def test_embedding_equals_features_of_its_rows():
    """Token input k behaves exactly like feature input E[k]."""
    m = random_qmodel("lstm", 6, inputs=4, vocab=11, outputs=11, seed=5)
    tokens = np.random.default_rng(0).integers(0, 11, (3, 8))
    stage = m.input
    as_features = dataclasses.replace(m, input=FeatureInput(4, stage.fmt))
    np.testing.assert_array_equal(golden.run(m, tokens).outputs,
                                  golden.run(as_features, stage.table[tokens]).outputs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("act", ["hard", "table"])
def test_trace_values_lie_within_signal_bounds(kind, act):
    """Every traced value lies inside the range signal_bounds derives, even at full-scale inputs;
    that range is what the generator will size registers by."""
    m = random_qmodel(kind, (6, 5), inputs=4, outputs=3, act=act, width=10, seed=6)
    x = features(m, 64, 10, seed=7, full_range=True)
    r = golden.run(m, x, trace=True)
    bounds = golden.signal_bounds(m)
    checked = 0
    for name, values in r.trace.items():
        if name in bounds:
            b = bounds[name]
            assert b.lo <= values.min() and values.max() <= b.hi, name
            checked += 1
    assert checked >= 2 * len(m.layers)
    assert bounds["out.y"].width <= m.out_fmt.width


def test_trace_last_layer_state_is_the_output_without_dense_layer():
    m = random_qmodel("gru", (5, 4), inputs=3, seed=8)
    x = features(m, 2, 6)
    r = golden.run(m, x, trace=True)
    np.testing.assert_array_equal(r.trace["L1.h"], r.outputs)
    assert r.fmt == m.layers[-1].formats.state


def test_saturating_inputs_stay_in_format():
    """Narrow formats and full-scale inputs saturate the pre-activations: they sit on both rails,
    never wrap, and the saturated value is what the activation sees."""
    m = random_qmodel("rnn", 6, inputs=8, code="fixed", width=8, seed=9)
    layer = m.layers[0]
    positive = WeightCodes("fixed", np.full(layer.w_ih.shape, 15), -4, 4)  # every weight 15/16
    m = dataclasses.replace(m, layers=(dataclasses.replace(layer, w_ih=positive),))
    fmt_in = m.input.fmt
    x = np.empty((2, 5, 8), np.int64)
    x[0], x[1] = fmt_in.max_int, fmt_in.min_int  # 8 * 15/16 * (+-4) = +-30, beyond s8.3
    r = golden.run(m, x, trace=True)
    fmt = m.layers[0].formats.preact
    a = r.trace["L0.a"]
    assert a.min() == fmt.min_int and a.max() == fmt.max_int
    state = m.layers[0].formats.state
    np.testing.assert_array_equal(r.trace["L0.h"][a == fmt.max_int], state.one)  # hard tanh(16) = 1


def test_argmax_ties_go_to_lowest_index():
    r = golden.GoldenResult(np.array([[[3, 7, 7, 1]]]), Fmt(8, 0))
    assert r.argmax().tolist() == [[1]]


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 3, 5), np.int64), r"shape \(batch, steps, 4\)"),
    (np.zeros((2, 3, 4)), "must be integers"),
    (np.full((1, 1, 4), 1 << 20, np.int64), "outside the input format"),
])
def test_bad_inputs_are_refused(bad, message):
    m = random_qmodel("gru", 3, inputs=4, seed=0)
    with pytest.raises(ValueError, match=message):
        golden.run(m, bad)


def test_bad_tokens_and_flags_are_refused():
    m = random_qmodel("gru", 3, inputs=4, vocab=6, seed=0)
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        golden.run(m, np.array([[0, 6]]))
    with pytest.raises(ValueError, match="start flags must have shape"):
        golden.run(m, np.array([[0, 1]]), start=np.zeros((1, 3), bool))


def test_model_whose_accumulator_could_overflow_int64_is_refused():
    wide = Fmt(32, 0)
    m = random_qmodel("rnn", 4, inputs=3, seed=0)
    layer = m.layers[0]
    huge = WeightCodes("pow2", np.full(layer.w_ih.shape, 1 << 31), 0, 31)
    bad = dataclasses.replace(m, input=FeatureInput(3, wide),
                              layers=(dataclasses.replace(layer, w_ih=huge,
                                                          formats=dataclasses.replace(layer.formats, input=wide)),))
    with pytest.raises(QModelError, match=r"layers\[0\].*magnitudes below 2\*\*62"):
        golden.run(bad, np.zeros((1, 2, 3), np.int64))


def test_embedding_model_bounds_use_the_table():
    m = random_qmodel("gru", 4, inputs=3, vocab=5, seed=1)
    assert isinstance(m.input, EmbeddingInput)
    b = golden.signal_bounds(m)["L0.acc_x"]
    proj = golden.matvec(m.layers[0].w_ih, golden.Fx.const(m.input.table, m.input.fmt.frac))
    assert b.hi >= proj.v.max() and b.lo <= proj.v.min()


def test_hard_sigmoid_of_an_extremely_fine_preactivation_is_refused_not_wrapped():
    """At frac 63 the constant 1/2 of the hard sigmoid would overflow int64: the model is refused."""
    m = random_qmodel("gru", 3, inputs=2, seed=0)
    layer = m.layers[0]
    fine = dataclasses.replace(layer.formats, preact=Fmt(16, 63))
    with pytest.raises(QModelError, match=r"layers\[0\].*hard sigmoid of an input at frac 63"):
        golden.check_bounds(dataclasses.replace(m, layers=(dataclasses.replace(layer, formats=fine),)))
