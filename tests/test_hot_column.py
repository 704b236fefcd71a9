"""Hot-column reads (hwgen.generator.hot_column): a token model's first layer reads one chunk of
its input codes per row. The split of the table is checked against tables built by hand, and the
designs against the golden model bit for bit in Amaranth's simulator (every cell, lanes that divide
the input or not, codes in ROM and loaded, stream gaps and sequence starts), with their measured
cycles per step equal to the plan's and below the dense design's. Icarus and Verilator run the
shipped example (whose table is of this form) in tests/test_sim_regression.py and a random model
here."""

from __future__ import annotations

import numpy as np
import pytest

from design_harness import check_exact, random_stimulus, simulate
from hwgen.generator import build_design, plan_design
from hwgen.generator.hot_column import row_offsets, split_table
from hwgen.spec.fixedpoint import Fmt
from hwgen.spec.random_qmodel import random_qmodel

FMT = Fmt(16, 13)


def test_a_one_hot_table_splits_into_no_shared_row():
    table = np.eye(4, dtype=np.int64) * 8192
    s = split_table(table, FMT)
    assert s.base.tolist() == [0, 0, 0, 0] and s.columns == (0, 1, 2, 3)
    assert (s.hot == table).all()


def test_a_batchnorm_table_splits_into_its_shared_row_and_the_scaled_one_hot():
    base = np.array([5, -7, 0])
    table = np.tile(base, (5, 1))
    table[0, 2] += 100
    table[1, 0] -= 30
    table[2, 1] += 1
    table[3, 2] += 9  # token 4 keeps the shared row alone
    s = split_table(table, FMT)
    assert s.base.tolist() == [5, -7, 0]
    assert s.columns == (2, 0, 1, 2, 0)
    assert s.hot[0].tolist() == [0, 0, 100] and s.hot[1].tolist() == [-30, 0, 0] and not s.hot[4].any()


@pytest.mark.parametrize("table", [
    np.array([[1, 2], [3, 4], [5, 6]]),  # no shared value in a column: two non-zeros a row
    np.array([[30000, 0], [-30000, 0], [-30000, 0]]),  # the rest, 60000, leaves the format
])
def test_other_tables_are_not_split(table):
    assert split_table(table, FMT) is None


def test_row_offsets_are_the_matrix_times_the_shared_row():
    q = random_qmodel("gru", hidden=3, inputs=4, vocab=6, table="batchnorm", seed=1)
    w = q.layers[0].w_ih
    base = split_table(q.input.table, q.input.fmt).base
    assert row_offsets(w, base).tolist() == [int(sum(int(a) * int(b) for a, b in zip(row, base))) for row in w.q]


@pytest.mark.parametrize("table", ["one-hot", "batchnorm"])
def test_random_tables_of_the_trained_forms_are_split(table):
    q = random_qmodel("lstm", hidden=3, inputs=4, vocab=9, table=table, seed=2)
    s = split_table(q.input.table, q.input.fmt)
    assert s is not None and (s.base + s.hot == q.input.table).all()
    assert ((s.hot != 0).sum(axis=1) <= 1).all()


# (kind, lanes, extra params): every cell; lanes that divide the input (5) or not; one lane; the
# serial gate unit; codes loaded through the load port; argmax output.
CASES = [
    ("rnn", 1, {}), ("rnn", 2, {"multipliers": 0}),
    ("gru", 2, {}), ("gru", 3, {"weights": "spram"}), ("gru", 4, {"output": "argmax"}),
    ("lstm", 2, {"multipliers": 2}), ("lstm", 3, {"weights": "spram"}),
]


@pytest.mark.parametrize("kind, lanes, extra", CASES)
@pytest.mark.parametrize("table", ["one-hot", "batchnorm"])
def test_hot_reads_are_bit_exact_and_take_fewer_cycles(kind, lanes, extra, table):
    seed = CASES.index((kind, lanes, extra))
    q = random_qmodel(kind, hidden=(4, 3) if kind == "gru" else 4, inputs=5, vocab=11, outputs=4, code="pow2",
                      act="table", table_bits=6, seed=seed, table=table)
    hot, dense = (plan_design(q, lanes=lanes, hot_column=h, **extra) for h in (True, False))
    assert [s.hot for s in hot.stages[:3]] == [True, True, False]  # the first layer only
    rows = q.layers[0].gates * q.layers[0].hidden_size
    assert dense.stages[1].issues - hot.stages[1].issues == rows * (-(-5 // lanes) - 1)
    output = extra.get("output")
    rng = np.random.default_rng(seed)
    x, first = random_stimulus(q, rng, 12)
    top = build_design(q, lanes=lanes, **extra)
    run = simulate(top, q, output, x, first, rng=rng, in_gap=0.3, out_gap=0.3)
    check_exact(q, output, x, first, run)
    steady = simulate(top, q, output, x, first, rng=rng)
    assert np.diff(steady.out_cycles[-3:]).tolist() == [hot.cycles_per_step] * 2
    assert hot.stages[1].interval < dense.stages[1].interval


def test_hot_reads_off_build_the_dense_design():
    q = random_qmodel("gru", hidden=3, inputs=5, vocab=7, table="one-hot", seed=3)
    plan = plan_design(q, lanes=2, hot_column=False)
    assert not any(s.hot for s in plan.stages)
    rng = np.random.default_rng(3)
    x, first = random_stimulus(q, rng, 6)
    check_exact(q, None, x, first, simulate(build_design(q, lanes=2, hot_column=False), q, None, x, first, rng=rng))


@pytest.mark.parametrize("params", [dict(style="unrolled"), dict(lanes=5), dict(lanes=8)])
def test_hot_reads_apply_only_where_they_save_reads(params):
    """Unrolled rows read no codes; one chunk of input is already one read."""
    q = random_qmodel("gru", hidden=3, inputs=5, vocab=7, table="one-hot", seed=3)
    assert not any(s.hot for s in plan_design(q, **params).stages)


def test_a_random_table_is_read_densely():
    q = random_qmodel("gru", hidden=3, inputs=5, vocab=7, seed=3)
    assert not any(s.hot for s in plan_design(q, lanes=2).stages)


def test_a_feature_input_is_read_densely():
    q = random_qmodel("gru", hidden=3, inputs=5, seed=3)
    assert not any(s.hot for s in plan_design(q, lanes=2).stages)
