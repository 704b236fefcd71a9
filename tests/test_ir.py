"""hwgen.spec.ir: validation (each error message checked) and immutability."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwgen import qmodel_file
from hwgen.spec import golden
from hwgen.spec.activation import hard_activation, table_activation
from hwgen.spec.fixedpoint import Fmt
from hwgen.spec.ir import (
    thaw,
    Activation, DenseLayer, EmbeddingInput, FeatureInput, FixedArray, LayerFormats, QModel, QModelError,
    RecurrentLayer, WeightCodes,
)

IN = Fmt(16, 13)
STATE = Fmt(16, 14)
PRE = Fmt(16, 11)
CELL = Fmt(16, 12)
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def formats(kind: str, input_fmt: Fmt = IN, state: Fmt = STATE) -> LayerFormats:
    return LayerFormats(input_fmt, state, PRE, CELL if kind == "lstm" else None)


def acts(kind: str, state: Fmt = STATE) -> dict:
    if kind == "rnn":
        return {"cand_act": hard_activation("tanh", state)}
    d = {"gate_act": hard_activation("sigmoid", state), "cand_act": hard_activation("tanh", state)}
    if kind == "lstm":
        d["cell_act"] = hard_activation("tanh", state)
    return d


def ternary(rows: int, cols: int) -> WeightCodes:
    q = (np.arange(rows * cols).reshape(rows, cols) % 3) - 1
    return WeightCodes("ternary", q)


def layer(kind: str = "gru", n_in: int = 3, n_h: int = 2, **over) -> RecurrentLayer:
    rows = GATES[kind] * n_h
    args = dict(
        kind=kind, input_size=n_in, hidden_size=n_h,
        w_ih=ternary(rows, n_in), w_hh=ternary(rows, n_h),
        b_ih=FixedArray(np.arange(rows) - 1, 10), b_hh=FixedArray(np.zeros(rows, np.int64), 10),
        formats=formats(kind), **acts(kind),
    )
    args.update(over)
    return RecurrentLayer(**args)


def model(**over) -> QModel:
    args = dict(input=FeatureInput(3, IN), layers=(layer("gru"),), output=None)
    args.update(over)
    return QModel(**args)


def test_valid_baseline_builds():
    for kind in ("rnn", "gru", "lstm"):
        m = model(layers=(layer(kind),), output=DenseLayer(ternary(4, 2), FixedArray.zeros(4, 3), Fmt(16, 10)))
        assert m.out_size == 4 and m.out_fmt == Fmt(16, 10)
        assert m.layers[0].gates == GATES[kind]


# ------------------------------------------------------------------ weight codes


def test_binary_code_not_pm1():
    with pytest.raises(QModelError, match=r"code 0 at \[1, 0\]: binary codes must be -1 or \+1"):
        WeightCodes("binary", [[1, -1], [0, 1]])
    with pytest.raises(QModelError, match=r"code 2 at \[0, 1\]: binary codes"):
        WeightCodes("binary", [[1, 2]])
    assert WeightCodes("binary", [[1, -1]]).q.tolist() == [[1, -1]]


def test_ternary_code_2():
    with pytest.raises(QModelError, match=r"code 2 at \[0, 2\]: ternary codes must be -1, 0 or \+1"):
        WeightCodes("ternary", [[0, 1, 2]])
    with pytest.raises(QModelError, match=r"code -2 at \[1, 0\]: ternary"):
        WeightCodes("ternary", [[0, 1, -1], [-2, 0, 0]])


def test_binary_ternary_take_span_zero():
    with pytest.raises(QModelError, match=r"ternary codes take span 0, not 2"):
        WeightCodes("ternary", [[1]], 0, 2)
    with pytest.raises(QModelError, match=r"binary codes take span 0, not 1"):
        WeightCodes("binary", [[1]], 0, 1)


def test_pow2_code_3_not_power_of_two():
    with pytest.raises(QModelError, match=r"code 3 at \[0, 1\]: pow2 codes must be 0 or \+-2\*\*k with 0 <= k <= 3"):
        WeightCodes("pow2", [[1, 3]], -4, 3)
    with pytest.raises(QModelError, match=r"code -6 at \[0, 0\]: pow2"):
        WeightCodes("pow2", [[-6]], 0, 3)
    w = WeightCodes("pow2", [[0, 1, -2, 4, -8]], -4, 3)
    assert w.q.tolist() == [[0, 1, -2, 4, -8]]


def test_pow2_code_16_outside_window():
    with pytest.raises(QModelError, match=r"code 16 at \[0, 0\]: .*0 <= k <= 3 .*exponent window \[-4, -1\]"):
        WeightCodes("pow2", [[16]], -4, 3)
    with pytest.raises(QModelError, match=r"code -16 at"):
        WeightCodes("pow2", [[-16]], -4, 3)


def test_pow2_span_range():
    with pytest.raises(QModelError, match=r"pow2 exponent span 32 is outside \[0, 31\]"):
        WeightCodes("pow2", [[1]], 0, 32)
    with pytest.raises(QModelError, match=r"pow2 exponent span -1 is outside \[0, 31\]"):
        WeightCodes("pow2", [[1]], 0, -1)


def test_fixed_code_too_large():
    with pytest.raises(QModelError, match=r"code 16 at \[0, 1\]: fixed codes must satisfy \|q\| < 2\*\*4"):
        WeightCodes("fixed", [[15, 16]], -4, 4)
    with pytest.raises(QModelError, match=r"code -16 at \[0, 0\]: fixed codes"):
        WeightCodes("fixed", [[-16]], -4, 4)
    assert WeightCodes("fixed", [[15, -15, 0]], -4, 4).q.tolist() == [[15, -15, 0]]
    with pytest.raises(QModelError, match=r"fixed mantissa bits 0 is outside \[1, 16\]"):
        WeightCodes("fixed", [[0]], 0, 0)
    with pytest.raises(QModelError, match=r"fixed mantissa bits 17 is outside \[1, 16\]"):
        WeightCodes("fixed", [[0]], 0, 17)


def test_unknown_code_kind():
    with pytest.raises(QModelError, match=r"unknown weight code kind 'quaternary'; one of \['binary', 'ternary', 'pow2', 'fixed'\]"):
        WeightCodes("quaternary", [[1]])


def test_non_integer_weights():
    with pytest.raises(QModelError, match=r"weight codes: expected integers, got float64 values"):
        WeightCodes("ternary", [[0.5, 1.0]])
    with pytest.raises(QModelError, match=r"weight codes: expected integers, got <U1 values"):
        WeightCodes("ternary", [["a"]])
    with pytest.raises(QModelError, match=r"weight codes: expected integers"):
        WeightCodes("ternary", [[float("nan")]])
    with pytest.raises(QModelError, match=r"weight codes: not an integer array"):
        WeightCodes("ternary", [[1], [1, 0]])  # ragged
    with pytest.raises(QModelError, match=r"weight codes: expected a 2-d array, got shape \(3,\)"):
        WeightCodes("ternary", [1, 0, -1])
    # whole floats are accepted as integers
    assert WeightCodes("ternary", [[1.0, -1.0]]).q.dtype == np.int64


def test_codes_that_wrap_in_int64_are_refused():
    """Codes must never silently wrap: -2**63 has no int64 magnitude (np.abs wraps), 2**63
    does not fit int64 at all."""
    for kind, exp, span in [("ternary", 0, 0), ("pow2", 0, 3), ("fixed", 0, 4)]:
        with pytest.raises(QModelError, match=r"code"):
            WeightCodes(kind, np.array([[-(2 ** 63)]], dtype=np.int64), exp, span)
    with pytest.raises(QModelError):
        WeightCodes("fixed", [[2 ** 63]], 0, 4)  # uint64 input, would wrap to -2**63
    with pytest.raises(QModelError):
        FixedArray([2 ** 63], 0)


def test_scale_wrong_length_and_non_positive():
    q = [[1, -1], [1, 1], [-1, -1]]
    with pytest.raises(QModelError, match=r"weight scale: shape \(2,\), but 3 rows need \(3,\)"):
        WeightCodes("binary", q, 0, 0, FixedArray([100, 200], 12))
    with pytest.raises(QModelError, match=r"weight scale: every per-row scale must be positive"):
        WeightCodes("binary", q, 0, 0, FixedArray([100, 0, 3], 12))
    with pytest.raises(QModelError, match=r"every per-row scale must be positive"):
        WeightCodes("binary", q, 0, 0, FixedArray([100, -5, 3], 12))
    ok = WeightCodes("binary", q, 0, 0, FixedArray([1, 2, 3], 12))
    assert ok.scale.values.tolist() == [1, 2, 3]


def test_fixed_array_validation():
    with pytest.raises(QModelError, match=r"fixed-point array frac 65 must be an integer in \[-64, 64\]"):
        FixedArray([1], 65)
    with pytest.raises(QModelError, match=r"fixed-point array frac 1\.5 must be an integer"):
        FixedArray([1], 1.5)
    with pytest.raises(QModelError, match=r"fixed-point array: expected a 1-d array, got shape \(1, 1\)"):
        FixedArray([[1]], 0)
    with pytest.raises(QModelError, match=r"fixed-point array: expected integers, got float64"):
        FixedArray([0.25], 0)


# ------------------------------------------------------------------ layers


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_shape_mismatches(kind):
    g = GATES[kind]
    why = rf"{kind} with hidden_size 2"
    with pytest.raises(QModelError, match=rf"w_ih: shape \({2 * g}, 4\), but {why}, input_size 3 needs \({2 * g}, 3\)"):
        layer(kind, w_ih=ternary(2 * g, 4))
    with pytest.raises(QModelError, match=rf"w_ih: shape \({2 * g + 1}, 3\)"):
        layer(kind, w_ih=ternary(2 * g + 1, 3))
    with pytest.raises(QModelError, match=rf"w_hh: shape \({2 * g}, 3\), but {why} needs \({2 * g}, 2\)"):
        layer(kind, w_hh=ternary(2 * g, 3))
    with pytest.raises(QModelError, match=rf"b_ih: shape \({2 * g - 1},\), but {why} needs \({2 * g},\)"):
        layer(kind, b_ih=FixedArray.zeros(2 * g - 1))
    with pytest.raises(QModelError, match=rf"b_hh: shape \({2 * g + 1},\), but {why} needs \({2 * g},\)"):
        layer(kind, b_hh=FixedArray.zeros(2 * g + 1))


def test_unknown_cell_kind():
    with pytest.raises(QModelError, match=r"unknown cell kind 'lstmx'; one of \['gru', 'lstm', 'rnn'\]"):
        RecurrentLayer("lstmx", 3, 2, ternary(6, 3), ternary(6, 2), FixedArray.zeros(6), FixedArray.zeros(6),
                       formats("gru"), **acts("gru"))


def test_sizes_must_be_positive():
    with pytest.raises(QModelError, match=r"hidden_size must be a positive integer, not 0"):
        layer("rnn", hidden_size=0)
    with pytest.raises(QModelError, match=r"input_size must be a positive integer, not 2\.0"):
        layer("rnn", input_size=2.0)


def test_wrong_activations_per_kind():
    with pytest.raises(QModelError, match=r"gru layer: gate_act must be a sigmoid activation"):
        layer("gru", gate_act=None)
    with pytest.raises(QModelError, match=r"gru layer: gate_act must be a sigmoid activation"):
        layer("gru", gate_act=hard_activation("tanh", STATE))
    with pytest.raises(QModelError, match=r"rnn layer: cell_act must be None"):
        layer("rnn", cell_act=hard_activation("tanh", STATE))
    with pytest.raises(QModelError, match=r"rnn layer: gate_act must be None"):
        layer("rnn", gate_act=hard_activation("sigmoid", STATE))
    with pytest.raises(QModelError, match=r"lstm layer: cell_act must be a tanh activation"):
        layer("lstm", cell_act=None)
    with pytest.raises(QModelError, match=r"gru layer: cand_act must be tanh"):
        layer("gru", cand_act=hard_activation("relu", STATE))
    with pytest.raises(QModelError, match=r"rnn layer: cand_act must be tanh or relu"):
        layer("rnn", cand_act=hard_activation("sigmoid", STATE))
    # relu is a valid RNN activation
    assert layer("rnn", cand_act=hard_activation("relu", STATE)).cand_act.func.value == "relu"


def test_missing_cand_act_is_a_qmodel_error():
    with pytest.raises(QModelError, match=r"cand_act"):
        layer("gru", cand_act=None)


def test_cell_format_required_only_for_lstm():
    with pytest.raises(QModelError, match=r"lstm layer: a cell format is required"):
        layer("lstm", formats=LayerFormats(IN, STATE, PRE, None))
    with pytest.raises(QModelError, match=r"gru layer: a cell format is not allowed"):
        layer("gru", formats=LayerFormats(IN, STATE, PRE, CELL))


def test_rnn_activation_must_write_state_format():
    with pytest.raises(QModelError, match=r"rnn layer: .*output format s16\.13 must equal the state format s16\.14"):
        layer("rnn", cand_act=hard_activation("tanh", Fmt(16, 13)))


# ------------------------------------------------------------------ activations


def test_activation_output_must_hold_one():
    with pytest.raises(QModelError, match=r"activation sigmoid: output format s8\.7 cannot hold \[0, 1\]; use a format with a non-negative frac and width >= frac \+ 2"):
        hard_activation("sigmoid", Fmt(8, 7))
    with pytest.raises(QModelError, match=r"activation tanh: output format s8\.7 cannot hold \[-1, 1\]"):
        hard_activation("tanh", Fmt(8, 7))
    with pytest.raises(QModelError, match=r"activation tanh: output format u8\.6 cannot hold \[-1, 1\]"):
        hard_activation("tanh", Fmt(8, 6, signed=False))
    with pytest.raises(QModelError, match=r"activation sigmoid: output format s8\.-1 cannot hold"):
        hard_activation("sigmoid", Fmt(8, -1))
    assert hard_activation("sigmoid", Fmt(8, 7, signed=False)).out == Fmt(8, 7, False)
    assert hard_activation("sigmoid", Fmt(9, 7)).out == Fmt(9, 7)
    assert hard_activation("relu", Fmt(8, 7)).out == Fmt(8, 7)  # relu has no such need


def test_activation_kind_errors():
    with pytest.raises(QModelError, match=r"activation: 'swish' is not a valid ActFunc"):
        Activation("swish", "hard", STATE)
    with pytest.raises(QModelError, match=r"activation: 'rom' is not a valid ActImpl"):
        Activation("tanh", "rom", STATE)
    with pytest.raises(QModelError, match=r"activation: relu has only the 'hard' implementation"):
        Activation("relu", "table", STATE, 3, np.arange(4))
    with pytest.raises(QModelError, match=r"activation: only table activations take range_log2 and values"):
        Activation("tanh", "hard", STATE, 3, None)
    with pytest.raises(QModelError, match=r"table activation needs range_log2 and values"):
        Activation("tanh", "table", STATE, 3, None)


def test_table_validation():
    out = Fmt(8, 6)
    with pytest.raises(QModelError, match=r"tanh table: 3 entries; need a power of two in \[2, 65536\]"):
        Activation("tanh", "table", out, 2, [-64, 0, 64])
    with pytest.raises(QModelError, match=r"tanh table: 1 entries; need a power of two"):
        Activation("tanh", "table", out, 2, [0])
    with pytest.raises(QModelError, match=r"sigmoid table: entries must be non-decreasing"):
        Activation("sigmoid", "table", out, 2, [0, 10, 9, 64])
    with pytest.raises(QModelError, match=r"tanh table: entries outside its output format s8\.6"):
        Activation("tanh", "table", out, 2, [-64, 0, 64, 128])
    with pytest.raises(QModelError, match=r"tanh table: entries outside its output format s8\.6"):
        Activation("tanh", "table", out, 2, [-129, 0, 64, 64])
    with pytest.raises(QModelError, match=r"tanh table: range_log2 9 outside \[-8, 8\]"):
        Activation("tanh", "table", out, 9, [-64, 0, 64, 64])
    with pytest.raises(QModelError, match=r"tanh table: expected integers"):
        Activation("tanh", "table", out, 2, [-64, 0, 0.5, 64])
    ok = Activation("tanh", "table", out, 2, [-64, 0, 64, 64])
    assert ok.addr_bits == 2 and ok.step_log2 == 1
    t = table_activation("sigmoid", Fmt(8, 6), range_log2=3, addr_bits=5)
    assert len(t.values) == 32 and np.all(np.diff(t.values) >= 0)


# ------------------------------------------------------------------ inputs, output, model


def test_input_stage_validation():
    with pytest.raises(QModelError, match=r"feature input size must be a positive integer, not 0"):
        FeatureInput(0, IN)
    with pytest.raises(QModelError, match=r"embedding table: entries outside its format s8\.6"):
        EmbeddingInput([[0, 128]], Fmt(8, 6))
    with pytest.raises(QModelError, match=r"embedding vocab has 1 tokens but the table has 2 rows"):
        EmbeddingInput([[0, 1], [1, 0]], Fmt(8, 6), ("a",))
    with pytest.raises(QModelError, match=r"embedding table: expected a 2-d array"):
        EmbeddingInput([0, 1], Fmt(8, 6))
    e = EmbeddingInput([[0, 1], [1, 0]], Fmt(8, 6), ["a", 5])
    assert e.vocab == ("a", "5") and e.vocab_size == 2 and e.out_size == 2


def test_layer_input_size_must_match_previous_stage():
    with pytest.raises(QModelError, match=r"layers\[0\]: input_size 3, but the input stage gives 4"):
        model(input=FeatureInput(4, IN))
    with pytest.raises(QModelError, match=r"layers\[0\]: input_size 3, but the input stage gives 2"):
        model(input=EmbeddingInput(np.zeros((5, 2), np.int64), IN))
    second = layer("rnn", n_in=3, n_h=2, formats=formats("rnn", input_fmt=STATE))
    with pytest.raises(QModelError, match=r"layers\[1\]: input_size 3, but layers\[0\] gives 2"):
        model(layers=(layer("gru"), second))


def test_layer_input_format_must_match_previous_stage():
    with pytest.raises(QModelError, match=r"layers\[0\]: input format s16\.13, but the input stage gives s16\.12"):
        model(input=FeatureInput(3, Fmt(16, 12)))
    second = layer("rnn", n_in=2, n_h=2)  # input format IN, but layer 0 writes STATE
    with pytest.raises(QModelError, match=r"layers\[1\]: input format s16\.13, but layers\[0\] gives s16\.14"):
        model(layers=(layer("gru"), second))
    ok = model(layers=(layer("gru"), layer("rnn", n_in=2, n_h=2, formats=formats("rnn", input_fmt=STATE))))
    assert len(ok.layers) == 2


def test_output_layer_width_mismatch():
    with pytest.raises(QModelError, match=r"output: weight shape \(4, 5\) takes 5 inputs, but layers\[0\] gives 2"):
        model(output=DenseLayer(ternary(4, 5), FixedArray.zeros(4), Fmt(16, 10)))
    with pytest.raises(QModelError, match=r"output b: shape \(3,\), but 4 output rows needs \(4,\)"):
        DenseLayer(ternary(4, 2), FixedArray.zeros(3), Fmt(16, 10))


def test_model_needs_a_layer():
    with pytest.raises(QModelError, match=r"a QModel needs at least one recurrent layer"):
        model(layers=())


def test_accumulator_bound_too_large_names_the_layer():
    # 30-bit inputs times pow2 codes of 2**31 over 8 columns: |acc| up to 2**29 * 8 * 2**31 = 2**63.
    fmt30 = Fmt(30, 0)
    huge = WeightCodes("pow2", np.full((1, 8), 2 ** 31), 0, 31)
    l0 = layer("rnn", n_in=8, n_h=1, w_ih=huge, formats=formats("rnn", input_fmt=fmt30))
    m = QModel(FeatureInput(8, fmt30), (l0,))  # the structure is valid; the ranges are checked above the IR
    for refuse, error in ((golden.check_bounds, QModelError),
                          (lambda m: golden.run(m, np.zeros((1, 1, 8), np.int64)), QModelError),
                          (lambda m: qmodel_file.from_dict(qmodel_file.to_dict(m)), qmodel_file.QModelFileError)):
        with pytest.raises(error, match=r"layers\[0\].*holds magnitudes below 2\*\*62"):
            refuse(m)
    # a narrower window is fine (the bias at frac 10 shifts the accumulator by 10 more bits)
    small = WeightCodes("pow2", np.full((1, 8), 2 ** 10), 0, 10)
    ok = QModel(FeatureInput(8, fmt30), (layer("rnn", n_in=8, n_h=1, w_ih=small, formats=formats("rnn", input_fmt=fmt30)),))
    assert ok.out_size == 1


def test_accumulator_bound_too_large_in_second_layer():
    # Layer 0 is an RNN with relu writing a 32-bit state; layer 1 multiplies it by 2**31 codes.
    s32 = Fmt(32, 0)
    l0 = layer("rnn", n_in=3, n_h=4, formats=formats("rnn", state=s32), cand_act=hard_activation("relu", s32))
    huge = WeightCodes("pow2", np.full((2, 4), 2 ** 31), 0, 31)
    l1 = layer("rnn", n_in=4, n_h=2, w_ih=huge, formats=formats("rnn", input_fmt=s32))
    with pytest.raises(QModelError, match=r"layers\[1\]"):
        golden.check_bounds(QModel(FeatureInput(3, IN), (l0, l1)))


def test_meta_must_be_json():
    with pytest.raises(QModelError, match=r"meta must be plain JSON values"):
        model(meta={"x": object()})
    with pytest.raises(QModelError, match=r"meta must be plain JSON values"):
        model(meta={"x": float("nan")})
    with pytest.raises(QModelError, match=r"meta must be plain JSON values"):
        model(meta={"x": {1, 2}})
    m = model(meta={"b": [1, 2], "a": {"c": None}})
    assert thaw(m.meta) == {"a": {"c": None}, "b": [1, 2]}
    with pytest.raises(TypeError):
        m.meta["a"]["c"] = 1  # read-only all the way down
    assert not hasattr(m.meta["b"], "append")


# ------------------------------------------------------------------ immutability


def test_arrays_are_read_only():
    m = model(input=EmbeddingInput(np.zeros((5, 3), np.int64), IN), layers=(layer("gru"),))
    lay = m.layers[0]
    with pytest.raises(ValueError, match=r"read-only"):
        lay.w_ih.q[0, 0] = 1
    with pytest.raises(ValueError, match=r"read-only"):
        lay.b_ih.values[0] = 7
    with pytest.raises(ValueError, match=r"read-only"):
        m.input.table[0, 0] = 1
    t = table_activation("tanh", STATE, 2, 4)
    with pytest.raises(ValueError, match=r"read-only"):
        t.values[0] = 0


def test_inputs_are_copied():
    q = np.array([[1, 0], [0, -1]])
    w = WeightCodes("ternary", q)
    q[0, 0] = 5
    assert w.q.tolist() == [[1, 0], [0, -1]]
    b = np.array([1, 2])
    fa = FixedArray(b, 3)
    b[0] = 99
    assert fa.values.tolist() == [1, 2]


def test_fields_cannot_be_set():
    m = model(output=DenseLayer(ternary(4, 2), FixedArray.zeros(4, 3), Fmt(16, 10)))
    lay = m.layers[0]
    cases = [(m, "name", "x"), (m, "layers", ()), (lay, "kind", "rnn"), (lay, "hidden_size", 9),
             (lay.w_ih, "kind", "binary"), (lay.w_ih, "q", np.zeros((6, 3))), (lay.b_ih, "frac", 0),
             (lay.formats, "state", Fmt(8, 6)), (lay.cand_act, "out", Fmt(8, 6)), (m.input, "size", 9),
             (m.output, "out", Fmt(8, 0))]
    for obj, name, value in cases:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, name, value)
    with pytest.raises(TypeError):
        m.meta["new"] = 1  # type: ignore[index]
    assert isinstance(m.layers, tuple)


def test_nested_meta_cannot_change_the_model():
    m = model(meta={"hist": [1, 2], "cfg": {"lr": 1}})
    from hwgen.qmodel_file import to_text

    before = to_text(m)
    try:
        m.meta["hist"].append(3)
    except (TypeError, AttributeError):
        pass
    try:
        m.meta["cfg"]["lr"] = 2
    except TypeError:
        pass
    assert to_text(m) == before


def test_absurd_weight_exponent_is_a_qmodel_error():
    """An exponent far outside any format's range must be refused with QModelError, not crash
    the bound computation (OverflowError / MemoryError)."""
    with pytest.raises(QModelError, match=r"weight exp -9223372036854775808 must be an integer in \[-64, 64\]"):
        WeightCodes("pow2", np.ones((6, 3), np.int64), -(2 ** 63), 0)
    w = WeightCodes("pow2", np.ones((6, 3), np.int64), -64, 0)  # in range, but x << 64 + ... overflows
    with pytest.raises(QModelError, match=r"layers\[0\]"):
        golden.check_bounds(model(layers=(layer("gru", w_ih=w),)))


def test_equality_is_field_by_field():
    """Equal models compare equal however they were made (a file round trip makes new arrays and
    tuples); any one changed field makes them differ."""
    from hwgen.spec.random_qmodel import random_qmodel

    m = random_qmodel("lstm", hidden=3, inputs=2, outputs=2, code="pow2", act="table", table_bits=4, seed=5)
    again = qmodel_file.from_dict(qmodel_file.to_dict(m))
    assert again == m and again is not m and again.layers[0].w_ih.q is not m.layers[0].w_ih.q
    L = m.layers[0]
    q = L.w_hh.q.copy()
    q[0, 0] = -q[0, 0] if q[0, 0] else 1
    changed = [
        dataclasses.replace(m, name="other"),
        dataclasses.replace(m, meta={"seed": 6}),
        dataclasses.replace(m, layers=(dataclasses.replace(L, w_hh=dataclasses.replace(L.w_hh, q=q)),)),
        dataclasses.replace(m, output=None),
    ]
    for other in changed:
        assert other != m and m != other
    assert m != "model" and m != qmodel_file.to_dict(m)
