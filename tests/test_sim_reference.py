"""The bench's golden reference and the weight-bit flip, without a simulator."""

import numpy as np
import pytest

from hwgen.expected import expected_outputs
from hwgen.generator.interface import input_format, output_format
from hwgen.qmodel_file import save
from hwgen.spec.random_qmodel import random_qmodel
from sim.designs import flip_weight_bit
from sim.reference import GoldenReference, golden_reference


@pytest.mark.parametrize("output", ["logits", "hidden", "argmax"])
def test_golden_reference_matches_expected_outputs(output):
    qm = random_qmodel("gru", hidden=(6, 5), inputs=3, vocab=11, outputs=7, seed=4)
    ref = GoldenReference(qm, output, sequences=5, min_len=2, max_len=6, seed=9)
    assert ref.sequences == 5 and len(ref.inputs) == len(ref.expected)
    fin, fout = input_format(qm), output_format(qm, output)
    assert (ref.in_width, ref.out_width) == (fin.width, fout.width)
    starts = [k for k, t in enumerate(ref.step) if t == 0]
    x = np.array([fin.unpack(b)[0] for b in ref.inputs])[None]
    start = np.zeros(x.shape[:2], bool)
    start[0, starts] = True
    want = expected_outputs(qm, output, x, start)[0]
    for k, bits in enumerate(ref.expected):
        data, first = fout.unpack(bits)
        assert np.array_equal(np.atleast_1d(data), np.atleast_1d(want[k])) and first == (k in starts)


def test_mismatch_report_names_step_layer_values_and_trace(tmp_path):
    qm = random_qmodel("lstm", hidden=4, inputs=3, outputs=5, seed=2)
    path = tmp_path / "m.qmodel.json"
    save(qm, path)
    ref = golden_reference(str(path), sequences=3, min_len=4, max_len=4, seed=1)
    k = 6  # sequence 1, step 2
    fout = output_format(qm)
    data, first = fout.unpack(ref.expected[k])
    data = data.copy()
    data[3] += 1 if data[3] < fout.fmt.max_int else -1
    text = ref.describe(k, fout.pack(data, first))
    assert "first mismatch at output beat 6: sequence 1, time step 2" in text
    assert "output layer (dense 4->5): signal out.y" in text
    assert "word 3: expected" in text
    assert ">> beat 6 step 2" in text and "L0.h" in text and "L0.c" in text
    assert "beat 4 step 0" in text  # the trace starts at the sequence's first step, not before


def test_feature_inputs_reach_the_rails():
    qm = random_qmodel("rnn", hidden=4, inputs=3, seed=1)
    ref = GoldenReference(qm, sequences=20, min_len=8, max_len=8, seed=3)
    f = qm.input.fmt
    assert ref.x.min() == f.min_int and ref.x.max() == f.max_int


VERILOG = """
reg [7:0] w_rom [0:3];
initial begin
    w_rom[0] = 8'h00;
    w_rom[1] = 8'h35;
    w_rom[2] = 8'h00;
    w_rom[3] = 8'h0c;
end
"""


def test_flip_weight_bit():
    text, what = flip_weight_bit(VERILOG, occurrence=1, bit=2)
    assert "w_rom[3] = 8'h8;" in text and what == "w_rom[3]: 8'h0c -> 8'h8"
    assert text.replace("8'h8;", "8'h0c;") == VERILOG
    with pytest.raises(ValueError, match="no non-zero weight ROM word"):
        flip_weight_bit(VERILOG, memory="bias")
