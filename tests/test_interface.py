"""The stream payload packing agrees with Amaranth's own layout of the same struct."""

import numpy as np
import pytest
from amaranth.hdl import Const

from hwgen.expected import expected_outputs
from hwgen.generator.interface import check_output, input_format, output_format
from hwgen.spec.golden import run
from hwgen.spec.random_qmodel import random_qmodel


def amaranth_bits(fmt, value, first) -> int:
    data = list(np.atleast_1d(value).tolist()) if fmt.field.vector else int(value)
    const = fmt.layout.const({"data": data, "first": int(first)})
    return Const.cast(const).value


@pytest.mark.parametrize("vocab", [None, 7])
def test_input_packing_matches_amaranth(vocab):
    qm = random_qmodel("gru", hidden=5, inputs=3, vocab=vocab, outputs=4, seed=1)
    fmt = input_format(qm)
    rng = np.random.default_rng(0)
    for _ in range(50):
        if vocab:
            value = int(rng.integers(0, vocab))
        else:
            f = qm.input.fmt
            value = rng.integers(f.min_int, f.max_int + 1, size=3)
        first = bool(rng.integers(0, 2))
        bits = fmt.pack(value, first)
        assert bits == amaranth_bits(fmt, value, first)
        back, back_first = fmt.unpack(bits)
        assert np.array_equal(back, value) and back_first == first
        assert bits < (1 << fmt.width)


@pytest.mark.parametrize("output", ["logits", "hidden", "argmax"])
def test_output_formats_and_expected(output):
    qm = random_qmodel("lstm", hidden=6, inputs=3, vocab=5, outputs=4, seed=2)
    fmt = output_format(qm, output)
    tokens = np.random.default_rng(1).integers(0, 5, size=(2, 9))
    exp = expected_outputs(qm, output, tokens)
    golden = run(qm, tokens, trace=True)
    if output == "logits":
        assert np.array_equal(exp, golden.outputs) and fmt.field.count == 4
    elif output == "hidden":
        assert np.array_equal(exp, golden.trace["L0.h"]) and fmt.field.count == 6
    else:
        assert np.array_equal(exp, golden.outputs.argmax(-1)) and fmt.field.width == 2
    for value in exp.reshape(-1, *exp.shape[2:])[:10]:
        assert fmt.unpack(fmt.pack(value, True))[0] == pytest.approx(value)


def test_output_choice_validated():
    qm = random_qmodel("rnn", hidden=4, inputs=3, outputs=None, seed=3)
    assert check_output(qm, None) == "hidden"
    with pytest.raises(ValueError, match="dense output layer"):
        check_output(qm, "logits")
    with pytest.raises(ValueError, match="one of"):
        check_output(qm, "probabilities")
