"""Generated designs against the golden model, bit for bit, in Amaranth's simulator: RNN, GRU and
LSTM; every code kind; folded (several lane counts, dividing the row or not) and unrolled; hard and
table activations; random valid/ready gaps on both streams; saturation at both rails; sequence
starts; measured cycles per step and latency equal to the stated ones."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from design_harness import check_exact, random_stimulus, simulate
from hwgen.spec.fixedpoint import Fmt
from hwgen.generator import build_design, plan_design
from hwgen.spec.ir import FixedArray, QModel, WeightCodes
from hwgen.spec.random_qmodel import random_qmodel

# (kind, code, act, lanes, style): every cell x code kind, lanes 1, a divisor, a non-divisor and
# more than a row; unrolled for each cell; hard and table activations throughout.
CASES = [
    ("rnn", "binary", "hard", 1, "folded"), ("rnn", "ternary", "table", 3, "folded"),
    ("rnn", "pow2", "hard", 2, "folded"), ("rnn", "fixed", "table", 8, "folded"),
    ("gru", "binary", "table", 2, "folded"), ("gru", "ternary", "hard", 1, "folded"),
    ("gru", "pow2", "table", 3, "folded"), ("gru", "fixed", "hard", 4, "folded"),
    ("lstm", "binary", "hard", 3, "folded"), ("lstm", "ternary", "table", 4, "folded"),
    ("lstm", "pow2", "hard", 5, "folded"), ("lstm", "fixed", "table", 1, "folded"),
    ("rnn", "pow2", "table", 1, "unrolled"), ("gru", "ternary", "hard", 1, "unrolled"),
    ("gru", "fixed", "table", 1, "unrolled"), ("lstm", "pow2", "table", 1, "unrolled"),
]


@pytest.mark.parametrize("kind, code, act, lanes, style", CASES)
def test_design_is_bit_exact_with_stream_gaps(kind, code, act, lanes, style):
    seed = CASES.index((kind, code, act, lanes, style))
    q = random_qmodel(kind, hidden=4, inputs=3, code=code, act=act, seed=seed, table_bits=6)
    rng = np.random.default_rng(seed)
    x, first = random_stimulus(q, rng, 7)
    run = simulate(build_design(q, lanes=lanes, style=style), q, None, x, first, rng=rng,
                   in_gap=0.4, out_gap=0.5)
    check_exact(q, None, x, first, run)


@pytest.mark.parametrize("output, style, extra", [
    ("logits", "folded", {"lanes": 3}), ("argmax", "folded", {"lanes": 2, "multipliers": 2}),
    ("hidden", "unrolled", {}), ("argmax", "unrolled", {"multipliers": 3}),
])
def test_two_layers_embedding_and_output_stages(output, style, extra):
    kind = "lstm" if extra.get("multipliers", 1) > 1 else "gru"
    q = random_qmodel(kind, hidden=(3, 4), inputs=2, vocab=5, outputs=5, code="pow2", act="hard", seed=11)
    rng = np.random.default_rng(3)
    x, first = random_stimulus(q, rng, 6)
    run = simulate(build_design(q, style=style, output=output, **extra), q, output, x, first, rng=rng,
                   in_gap=0.3, out_gap=0.3)
    check_exact(q, output, x, first, run)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_multiplier_baseline_is_bit_exact(kind):
    q = random_qmodel(kind, hidden=3, inputs=2, outputs=3, code="fixed", act="table", seed=5, table_bits=5)
    rng = np.random.default_rng(5)
    x, first = random_stimulus(q, rng, 5)
    run = simulate(build_design(q, lanes=2, baseline=True), q, None, x, first, rng=rng, in_gap=0.2, out_gap=0.2)
    check_exact(q, None, x, first, run)


@pytest.mark.parametrize("kind, style, lanes", [
    ("gru", "folded", 1), ("lstm", "folded", 2), ("gru", "unrolled", 1), ("lstm", "unrolled", 3),
])
def test_shift_add_gate_products_are_bit_exact(kind, style, lanes):
    """``multipliers=0``: the activation x activation products on one serial shift-add unit."""
    q = random_qmodel(kind, hidden=5, inputs=4, outputs=3, code="ternary", act="table", width=8,
                      seed=21, table_bits=6)
    rng = np.random.default_rng(21)
    x, first = random_stimulus(q, rng, 6)
    run = simulate(build_design(q, lanes=lanes, style=style, multipliers=0), q, None, x, first, rng=rng,
                   in_gap=0.3, out_gap=0.3)
    check_exact(q, None, x, first, run)


@pytest.mark.parametrize("kind, hidden, lanes, multipliers", [
    ("gru", (6, 5), 5, 1), ("lstm", 5, 2, 0), ("rnn", 4, 3, 1),
])
def test_loaded_weights_are_bit_exact(kind, hidden, lanes, multipliers):
    """``weights="spram"``: the codes come through the ``load`` port (5 lanes of 4-bit codes: two
    load words per memory word; two layers: two memories in turn) and no input moves before."""
    q = random_qmodel(kind, hidden=hidden, inputs=4, outputs=3, code="pow2", width=8, seed=31)
    rng = np.random.default_rng(31)
    x, first = random_stimulus(q, rng, 6)
    top = build_design(q, lanes=lanes, multipliers=multipliers, weights="spram")
    rom = build_design(q, lanes=lanes, multipliers=multipliers)
    assert top.cycles_per_step == rom.cycles_per_step and top.latency == rom.latency
    run = simulate(top, q, None, x, first, rng=rng, in_gap=0.3, out_gap=0.3)
    check_exact(q, None, x, first, run)
    assert run.out_cycles[0] > len(top.load_words)  # the first answer waits for the whole image


def test_load_image_is_every_memory_word_in_sixteen_bit_pieces():
    from hwgen.generator.code_memory import common_format, load_image, memory_image, split, unit_order

    q = random_qmodel("gru", hidden=(3, 2), inputs=2, outputs=3, code="pow2", seed=4)
    plan = plan_design(q, lanes=5, weights="spram")
    assert [s.kind for s in plan.loaded] == ["recurrent", "recurrent", "dense"]
    images, widths = [], []
    for L in q.layers:  # each layer's rows unit by unit, then the output layer's rows
        fmt = common_format([L.w_ih, L.w_hh])
        images.append(memory_image([L.w_ih, L.w_hh], unit_order(L.gates, L.hidden_size), 5, fmt))
        widths.append(5 * fmt.width)
    dense = plan.loaded[-1]
    fmt = common_format([q.output.w])
    images.append(memory_image([q.output.w], list(range(3)), dense.lanes, fmt))
    widths.append(dense.lanes * fmt.width)
    words = [x for image, width in zip(images, widths) for x in split(image, width)]
    assert load_image(q, plan) == build_design(q, lanes=5, weights="spram").load_words == words
    assert plan.load_words == len(words)
    assert [s.code_memory.width for s in plan.loaded] == widths
    assert split([0x12345], 20) == [0x2345, 0x1]


def test_one_hot_embedding_is_stored_narrow_and_exact():
    """A one-hot table (entries 0 and 2**frac) is stored one bit per entry and shifted back."""
    from hwgen.generator.stages import EmbeddingStage

    q = random_qmodel("gru", hidden=4, inputs=5, vocab=5, outputs=5, code="pow2", seed=8)
    emb = q.input
    q = dataclasses.replace(q, input=dataclasses.replace(emb, table=np.eye(5, dtype=np.int64) << emb.fmt.frac))
    stage = EmbeddingStage(q.input, EmbeddingStage.plan(0, 2))
    stage._MustUse__silence = True  # only its storage is read here; the design below elaborates one
    assert stage.storage[0] == emb.fmt.frac and stage.storage[1].width == 1
    rng = np.random.default_rng(8)
    x, first = random_stimulus(q, rng, 6)
    run = simulate(build_design(q, lanes=2), q, None, x, first, rng=rng, in_gap=0.3, out_gap=0.3)
    check_exact(q, None, x, first, run)


# --- saturation -----------------------------------------------------------------------------------

def rails_model(kind: str, sign: int) -> QModel:
    """Narrow formats, every weight at its largest code and large biases of one sign: the
    pre-activations (and LSTM's cell) saturate at that sign's rail."""
    q = random_qmodel(kind, hidden=3, inputs=2, code="pow2", act="hard", width=8, seed=2)
    layer = q.layers[0]
    signs = np.full(layer.gates * 3, sign)
    if kind == "lstm":  # i, f, o open, g at the rail: the cell runs to the rail too
        signs[:] = 1
        signs[6:9] = sign

    def big(w: WeightCodes) -> WeightCodes:
        return dataclasses.replace(w, q=np.repeat(signs[:, None] * (1 << w.span), w.q.shape[1], axis=1))

    def bias(b: FixedArray) -> FixedArray:
        return FixedArray(signs * (1 << b.frac) * 20, b.frac)

    layer = dataclasses.replace(layer, w_ih=big(layer.w_ih), w_hh=big(layer.w_hh), b_ih=bias(layer.b_ih),
                                b_hh=bias(layer.b_hh))
    return dataclasses.replace(q, layers=(layer,))


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_saturation_at_both_rails(kind):
    from hwgen.spec import golden

    for sign in (1, -1):
        q = rails_model(kind, sign)
        fmt: Fmt = q.input.fmt
        x = np.array([[[fmt.max_int] * 2] * 5 + [[fmt.min_int] * 2] * 5])
        first = np.zeros((1, 10), bool)
        trace = golden.run(q, x, first, trace=True).trace
        pre = trace["L0.rz_pre" if kind == "gru" else ("L0.pre" if kind == "lstm" else "L0.a")]
        f = q.layers[0].formats
        rail = (lambda a, fmt: a.max() == fmt.max_int) if sign > 0 else (lambda a, fmt: a.min() == fmt.min_int)
        assert rail(pre, f.preact)  # the accumulators saturate at this sign's rail
        if kind == "lstm":
            assert rail(trace["L0.c"], f.cell)  # and so does the cell
        run = simulate(build_design(q, lanes=2), q, None, x, first, rng=np.random.default_rng(sign + 1),
                       in_gap=0.2, out_gap=0.2)
        check_exact(q, None, x, first, run)


# --- sequences ------------------------------------------------------------------------------------

def test_state_resets_exactly_at_marked_steps():
    q = random_qmodel("lstm", hidden=3, inputs=2, code="ternary", act="hard", seed=9)
    rng = np.random.default_rng(9)
    x, _ = random_stimulus(q, rng, 4)
    xx = np.concatenate([x, x, x], axis=1)
    first = np.zeros((1, 12), bool)
    first[0, [4, 8]] = True  # the second and third copies restart; the first starts after reset
    run = simulate(build_design(q, lanes=2), q, None, xx, first, rng=rng, in_gap=0.3, out_gap=0.3)
    check_exact(q, None, xx, first, run)
    words = [np.asarray(d).tolist() for d, _ in run.outputs]
    assert words[0:4] == words[4:8] == words[8:12]
    first[0, 8] = False  # without the mark the state carries on: a different answer
    run2 = simulate(build_design(q, lanes=2), q, None, xx, first, rng=rng)
    assert [np.asarray(d).tolist() for d, _ in run2.outputs][8:] != words[8:]


# --- throughput and latency -----------------------------------------------------------------------

@pytest.mark.parametrize("model, params", [
    (dict(kind="rnn", hidden=4, inputs=3), dict(lanes=2)),
    (dict(kind="gru", hidden=3, inputs=5, vocab=4, outputs=6), dict(lanes=3, output="argmax")),
    (dict(kind="lstm", hidden=(4, 2), inputs=2, outputs=3), dict(lanes=1, multipliers=2)),
    (dict(kind="gru", hidden=(2, 3), inputs=2, outputs=2), dict(style="unrolled")),
    (dict(kind="lstm", hidden=6, inputs=5, outputs=4, width=8), dict(lanes=1, multipliers=0)),
    (dict(kind="rnn", hidden=3, inputs=2, outputs=2), dict(lanes=2, multipliers=0)),
    (dict(kind="gru", hidden=3, inputs=2, width=8), dict(style="unrolled", multipliers=0, output="argmax")),
])
def test_measured_cycles_per_step_and_latency_equal_stated(model, params):
    q = random_qmodel(code="pow2", act="table", table_bits=5, seed=4, **model)
    top = build_design(q, **params)
    rng = np.random.default_rng(4)
    x, first = random_stimulus(q, rng, 6)
    run = simulate(top, q, params.get("output"), x, first, rng=rng)
    check_exact(q, params.get("output"), x, first, run)
    assert run.first_valid[0] - run.in_offered[0] == top.latency
    gaps = np.diff(run.out_cycles[-3:]).tolist()
    assert gaps == [top.cycles_per_step] * 2


@pytest.mark.parametrize("hidden, lanes", [(32, 1), (32, 4), (32, 16), (64, 1), (64, 4), (64, 16)])
def test_cycles_per_step_meets_the_target(hidden, lanes):
    """At most 1.1 x ceil(weights / P) + 2 x hidden (the issue's target) for the bench's GRUs."""
    q = random_qmodel("gru", hidden=hidden, inputs=hidden, code="pow2")
    weights = q.layers[0].w_ih.q.size + q.layers[0].w_hh.q.size
    top = build_design(q, lanes=lanes)
    assert top.cycles_per_step <= 1.1 * -(-weights // lanes) + 2 * hidden


# --- parameters -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    (dict(lanes=0), ValueError, "lanes must be at least 1, not 0"),
    (dict(lanes=2.0), TypeError, "lanes must be an integer, not 2.0"),
    (dict(multipliers=-1), ValueError, "multipliers must be at least 0, not -1"),
    (dict(multipliers=0, lanes=2), ValueError, r"multipliers=0 \(shift-add gate products\) needs more than"),
    (dict(style="systolic"), ValueError, "style must be 'folded' or 'unrolled', not 'systolic'"),
    (dict(output="logits"), ValueError, "output 'logits' needs a model with a dense output layer"),
    (dict(output="probabilities"), ValueError, "output must be one of logits, hidden, argmax"),
    (dict(baseline=1), TypeError, "baseline must be True or False, not 1"),
    (dict(baseline=True, style="unrolled"), ValueError, "baseline .* applies to the folded datapath"),
    (dict(weights="flash"), ValueError, "weights must be one of rom, spram, not 'flash'"),
    (dict(weights="spram", style="unrolled"), ValueError, r"weights='spram' .* needs the folded datapath"),
])
def test_build_design_refuses_bad_parameters(kwargs, error, message):
    q = random_qmodel("gru", hidden=2, inputs=2)
    with pytest.raises(error, match=message):
        build_design(q, **kwargs)


def test_build_design_refuses_a_non_qmodel():
    with pytest.raises(TypeError, match="a design needs a hwgen QModel, not dict"):
        build_design({})


def test_design_params_and_ports():
    q = random_qmodel("gru", hidden=2, inputs=2, outputs=3)
    top = build_design(q, lanes=2)
    assert top.plan.params.to_json() == {"lanes": 2, "style": "folded", "output": "logits",
                                         "multipliers": 1, "baseline": False, "weights": "rom", "hot_column": True,
                                         "skip_zeros": False, "lane_dsps": False}
    assert set(top.signature.members) == {"i", "o"}
    assert set(build_design(q, lanes=2, weights="spram").signature.members) == {"i", "o", "load"}


# --- the plan -------------------------------------------------------------------------------------

def test_plan_is_plain_frozen_values_and_survives_json():
    """design.json holds the whole plan: reading it back gives an equal plan; an edited figure
    or another version is refused."""
    import json

    from hwgen.generator.plan import DesignPlan

    q = random_qmodel("lstm", hidden=(3, 2), inputs=2, outputs=3, code="pow2", seed=2)
    plan = plan_design(q, lanes=3, weights="spram", multipliers=None)
    assert plan.params.multipliers in (0, 1) and plan.params.output == "logits"  # resolved
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.stages[0].interval = 1
    text = json.dumps(plan.to_json())
    assert DesignPlan.from_json(json.loads(text)) == plan
    edited = json.loads(text)
    edited["cycles_per_step"] += 1
    with pytest.raises(ValueError, match="disagree with its stages"):
        DesignPlan.from_json(edited)
    with pytest.raises(ValueError, match="version 1"):
        DesignPlan.from_json({**json.loads(text), "version": 1})


def test_plan_stages_chain_and_set_the_pace():
    """Stages in stream order; each publishes its vector as wide as the next reads it; the slowest
    sets cycles per step and the latency is their sum; the output stage keeps the layers' pace
    with the fewest lanes."""
    q = random_qmodel("gru", hidden=5, inputs=3, vocab=7, outputs=4, code="ternary", seed=3)
    plan = plan_design(q, lanes=4, output="argmax")
    assert [s.kind for s in plan.stages] == ["embedding", "recurrent", "dense", "argmax"]
    assert [s.name for s in plan.stages] == ["stage0_embedding", "stage1_recurrent", "stage2_dense", "stage3_argmax"]
    for a, b in zip(plan.stages, plan.stages[1:]):
        assert a.out_lanes == b.lanes
    layer = plan.stages[1]
    # a GRU step visits 3 gates x 5 units x (ceil(3/4) + ceil(5/4)) chunks
    assert layer.issues == 3 * 5 * (1 + 2) and layer.interval == 1 + layer.issues + layer.drain
    assert plan.cycles_per_step == layer.interval == max(s.interval for s in plan.stages)
    assert plan.latency == sum(s.latency for s in plan.stages)
    assert plan.stages[-1].lanes == 1  # one word a cycle reads 4 logits well within the pace


def test_plan_without_amaranth():
    """Reading a plan (as sim does from design.json) imports no Amaranth."""
    import subprocess
    import sys

    code = ("import sys, hwgen.generator.plan as p; p.DesignParams(lanes=2); "
            "sys.exit(1 if any(m.startswith('amaranth') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent).returncode == 0


# --- odd shapes -----------------------------------------------------------------------------------

def test_mixed_code_kinds_in_one_layer_share_a_memory():
    """W_ih pow2 and W_hh ternary with a per-row scale: stored in one common code format."""
    from hwgen.spec.random_qmodel import random_codes

    q = random_qmodel("gru", hidden=3, inputs=2, code="pow2", act="hard", seed=6)
    layer = q.layers[0]
    w_hh = random_codes(np.random.default_rng(6), "ternary", 9, 3, True)
    q = dataclasses.replace(q, layers=(dataclasses.replace(layer, w_hh=w_hh),))
    rng = np.random.default_rng(6)
    x, first = random_stimulus(q, rng, 5)
    run = simulate(build_design(q, lanes=2), q, None, x, first, rng=rng, in_gap=0.3, out_gap=0.3)
    check_exact(q, None, x, first, run)


@pytest.mark.parametrize("style", ["folded", "unrolled"])
def test_one_unit_one_input(style):
    q = random_qmodel("lstm", hidden=1, inputs=1, outputs=1, code="binary", act="hard", seed=8)
    rng = np.random.default_rng(8)
    x, first = random_stimulus(q, rng, 5)
    run = simulate(build_design(q, lanes=1, style=style, output="argmax"), q, "argmax", x, first, rng=rng,
                   in_gap=0.3, out_gap=0.3)
    check_exact(q, "argmax", x, first, run)
