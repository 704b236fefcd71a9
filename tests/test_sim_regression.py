"""The regression: generated Verilog under Icarus and Verilator, bit-exact against the golden model.

Quick set (CI, `make test`): random QModels for every cell kind x weight code kind x datapath
style under Icarus, and a covering half of them (every cell, every code kind, both styles) under
Verilator; saturating corner cases; the shipped example on real Penn Treebank text; a design
with one weight bit flipped, which must be caught. Long set (`-m slow`, `make test-release`):
the full cross under both simulators, more seeds, bigger and deeper models.

Each design is generated once per session and compiled once per simulator; several sequences
run in one simulation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwgen.generator.planner import plan_design
from hwgen.spec.random_qmodel import random_qmodel
from sim import runner
from sim.designs import (
    DesignParams, example_model, flip_weight_bit, golden_spec, ptb_text, qmodel_design, text_to_tokens,
)
from sim.reference import GoldenReference

from design_harness import patterned

pytestmark = pytest.mark.sim

CELLS = ("rnn", "gru", "lstm")
CODES = ("binary", "ternary", "pow2", "fixed")
STYLES = ("folded", "unrolled")


#: Under Verilator the quick set keeps six designs (each build is ~10-40 s of C++): every cell
#: folded, every code kind, the cheap unrolled ones; the long set has the full cross.
VERILATOR_QUICK = {("rnn", "binary", "folded"), ("rnn", "fixed", "unrolled"), ("gru", "ternary", "folded"),
                   ("gru", "pow2", "unrolled"), ("lstm", "pow2", "folded"), ("lstm", "fixed", "folded")}


def quick_cases():
    """(sim, cell, code, style): the full cross under Icarus, VERILATOR_QUICK under Verilator."""
    cases = []
    for cell in CELLS:
        for code in CODES:
            for style in STYLES:
                cases.append(pytest.param("icarus", cell, code, style, id=f"icarus-{cell}-{code}-{style}"))
                if (cell, code, style) in VERILATOR_QUICK:
                    cases.append(pytest.param("verilator", cell, code, style, id=f"verilator-{cell}-{code}-{style}"))
    return cases


def long_cases():
    return [pytest.param(sim, cell, code, style, id=f"long-{sim}-{cell}-{code}-{style}", marks=pytest.mark.slow)
            for sim in runner.SIMULATORS for cell in CELLS for code in CODES for style in STYLES]


def per_sim(quick_verilator=()):
    """Icarus in the quick set; Verilator in the quick set only for ``quick_verilator`` ids."""
    def cases(ids):
        out = []
        for i in ids:
            out.append(pytest.param("icarus", i, id=f"icarus-{i}"))
            marks = () if i in quick_verilator else (pytest.mark.slow,)
            out.append(pytest.param("verilator", i, id=f"verilator-{i}", marks=marks))
        return out
    return cases


def small_model(cell, code, seed=0):
    """Tiny but complete: token input for GRU, feature input otherwise; a dense output layer
    except for the RNN (whose output is its hidden state); smooth (table) activations for
    ternary and fixed codes, hard ones otherwise."""
    act = "smooth" if code in ("ternary", "fixed") else "hard"
    return random_qmodel(cell, hidden=5, inputs=3, vocab=9 if cell == "gru" else None,
                         outputs=None if cell == "rnn" else 4, code=code, act=act, seed=seed)


def big_model(cell, code, seed=0):
    act = "smooth" if code in ("ternary", "fixed") else "hard"
    return random_qmodel(cell, hidden=(12, 9), inputs=6, vocab=20 if cell != "rnn" else None,
                         outputs=7, code=code, act=act, seed=seed)


_designs: dict = {}


def design_for(qmodel, params: DesignParams, root, key, mutate=None):
    """Generated once per session (shared by both simulators)."""
    if key not in _designs:
        _designs[key] = qmodel_design(qmodel, params, root / "designs", mutate=mutate)
    return _designs[key]


def lanes_for(style):
    return 3 if style == "folded" else 1


def check(result):
    assert result.ok, "\n" + result.describe()
    s = result.summary
    assert s["mismatches"] == 0 and s["beats_out"] == s["expected_beats"] == s["steps"]


@pytest.mark.parametrize("sim, cell, code, style", quick_cases() + long_cases())
def test_random_model(need_simulator, sim_build_root, request, sim, cell, code, style):
    need_simulator(sim)
    slow = request.node.get_closest_marker("slow") is not None
    qm = (big_model if slow else small_model)(cell, code)
    params = DesignParams(style=style, lanes=lanes_for(style))
    design, qpath = design_for(qm, params, sim_build_root, ("random", slow, cell, code, style))
    for seed in ((11, 12, 13) if slow else (11,)):
        ref = golden_spec(qpath, None, sequences=8 if slow else 4, min_len=1, max_len=24 if slow else 8,
                          seed=seed, cycles_per_step=design.cycles_per_step)
        check(runner.run(design, sim, ref, seed=seed, root=sim_build_root, idle=0.3, backpressure=0.3))


def saturating_model(cell):
    """8-bit formats, 4-bit fixed-point weights up to ±15/16 and 40 inputs: with inputs at the
    rails the accumulators leave the pre-activation range and the requantizers saturate."""
    return random_qmodel(cell, hidden=6, inputs=40, outputs=5, code="fixed", act="hard", width=8, seed=3)


@pytest.mark.parametrize("sim, cell", per_sim(quick_verilator=("gru",))(CELLS))
def test_saturating_corner_cases(need_simulator, sim_build_root, sim, cell):
    need_simulator(sim)
    qm = saturating_model(cell)
    stimulus = dict(sequences=4, min_len=4, max_len=10, seed=5, rails=0.5)
    # the stimulus really saturates: pre-activations at their format's rails
    gold = GoldenReference(qm, None, **stimulus)
    pre = {"rnn": "L0.a", "gru": "L0.rz_pre", "lstm": "L0.pre"}[cell]
    fmt = qm.layers[0].formats.preact
    values = gold.trace[pre]
    assert np.mean((values == fmt.min_int) | (values == fmt.max_int)) > 0.05
    design, qpath = design_for(qm, DesignParams(style="folded", lanes=4), sim_build_root, ("saturate", cell))
    ref = golden_spec(qpath, None, cycles_per_step=design.cycles_per_step, **stimulus)
    check(runner.run(design, sim, ref, seed=5, root=sim_build_root, idle=0.2, backpressure=0.2))


@pytest.mark.parametrize("sim, output", per_sim()(["hidden", "argmax"]))
def test_other_outputs(need_simulator, sim_build_root, sim, output):
    need_simulator(sim)
    qm = random_qmodel("gru", hidden=5, inputs=3, vocab=9, outputs=6, code="pow2", seed=8)
    design, qpath = design_for(qm, DesignParams(style="folded", lanes=4, output=output), sim_build_root, ("output", output))
    ref = golden_spec(qpath, output, sequences=4, max_len=8, seed=2, cycles_per_step=design.cycles_per_step)
    check(runner.run(design, sim, ref, seed=2, root=sim_build_root))


@pytest.mark.parametrize("sim, cell", per_sim(quick_verilator=("gru",))(["gru", "lstm"]))
def test_hot_column_reads(need_simulator, sim_build_root, sim, cell):
    """A token model whose table is a shared row plus a scaled one-hot (as batch norm folds a
    character model's): the first layer reads one chunk of its input codes per row
    (hwgen.generator.hot_column), the shared row's product joins the bias."""
    need_simulator(sim)
    qm = random_qmodel(cell, hidden=5, inputs=6, vocab=13, outputs=4, code="ternary", act="smooth",
                       table="batchnorm", seed=14)
    params = DesignParams(style="folded", lanes=4)
    assert plan_design(qm, params).stages[1].hot
    design, qpath = design_for(qm, params, sim_build_root, ("hot", cell))
    ref = golden_spec(qpath, None, sequences=4, max_len=10, seed=7, cycles_per_step=design.cycles_per_step)
    check(runner.run(design, sim, ref, seed=7, root=sim_build_root, idle=0.3, backpressure=0.3))


@pytest.mark.parametrize("sim, cell", per_sim(quick_verilator=("gru",))(["gru", "lstm"]))
def test_zero_skipping_state_reads(need_simulator, sim_build_root, sim, cell):
    """Rows that store only W_hh's non-zero codes (hwgen.generator.sparse_layout), each lane
    reading its own copy of the state: rows empty, full, with one non-zero and random, with hot
    input reads and codes loaded through the load port, under backpressure and idle inputs."""
    need_simulator(sim)
    qm = patterned(random_qmodel(cell, hidden=6, inputs=6, vocab=13, outputs=4, code="ternary", act="smooth",
                                 table="batchnorm", seed=15), 15)
    params = DesignParams(style="folded", lanes=4, skip_zeros=True, weights="spram")
    assert [s.sparse and s.hot for s in plan_design(qm, params).stages[1:2]] == [True]
    design, qpath = design_for(qm, params, sim_build_root, ("sparse", cell))
    ref = golden_spec(qpath, None, sequences=4, max_len=10, seed=8, cycles_per_step=design.cycles_per_step)
    check(runner.run(design, sim, ref, seed=8, root=sim_build_root, idle=0.3, backpressure=0.3))


@pytest.mark.parametrize("sim, cell", per_sim(quick_verilator=("gru",))(["gru"]))
def test_multiplier_lanes(need_simulator, sim_build_root, sim, cell):
    """Power-of-two lanes on hard multipliers (``lane_dsps``) with a shift window wider than the
    multiplier's fine part (the coarse multiplexer too), zero-skipping rows and hot input reads,
    and an 8-bit fixed-point output layer's lanes on multipliers too, under backpressure and idle
    inputs: the Verilog's plain multiplies, as both simulators run them."""
    need_simulator(sim)
    from test_dsp_lanes import fixed, widened

    qm = widened(random_qmodel(cell, hidden=6, inputs=6, vocab=13, outputs=4, code="pow2", act="smooth",
                               table="batchnorm", seed=16), 20, 16)
    qm = fixed(qm, 8, 16, layers=False)
    params = DesignParams(style="folded", lanes=3, skip_zeros=True, lane_dsps=True)
    stages = [s for s in plan_design(qm, params).stages if s.kind in ("recurrent", "dense")]
    assert [s.dsp_lanes for s in stages] == [s.lanes for s in stages] and stages[0].sparse
    design, qpath = design_for(qm, params, sim_build_root, ("dsp", cell))
    ref = golden_spec(qpath, None, sequences=4, max_len=10, seed=9, cycles_per_step=design.cycles_per_step)
    check(runner.run(design, sim, ref, seed=9, root=sim_build_root, idle=0.3, backpressure=0.3))


EXAMPLE_CASES = [
    pytest.param("verilator", 300, id="verilator-300chars"),
    # Icarus runs the example at ~8k cycles/s (~0.35 s per character): a short slice in the
    # quick set, the few hundred characters in the long one.
    pytest.param("icarus", 30, id="icarus-30chars"),
    pytest.param("icarus", 300, id="long-icarus-300chars", marks=pytest.mark.slow),
]

_example = []


def example():
    """The example QModel, exported once per session when it comes as a model.pt."""
    if not _example:
        _example.append(example_model())
    return _example[0]


@pytest.mark.parametrize("sim, chars", EXAMPLE_CASES)
def test_example_on_ptb_text(need_simulator, sim_build_root, sim, chars):
    """The shipped example on Penn Treebank's validation text, cut into sequences of <= 100."""
    need_simulator(sim)
    qm, source = example()
    tokens = text_to_tokens(qm, ptb_text(chars))
    sequences = [tokens[i:i + 100] for i in range(0, chars, 100)]
    design, qpath = design_for(qm, DesignParams(style="folded", lanes=8), sim_build_root, ("example",))
    ref = golden_spec(qpath, None, sequences=len(sequences), seed=1, tokens=sequences,
                      cycles_per_step=design.cycles_per_step)
    result = runner.run(design, sim, ref, seed=1, root=sim_build_root, idle=0.1, backpressure=0.1)
    check(result)
    assert result.summary["steps"] == chars, source


@pytest.mark.parametrize("sim", runner.SIMULATORS)
def test_flipped_weight_bit_is_caught(need_simulator, sim_build_root, sim):
    """One bit of one weight ROM word flipped in the Verilog: the bench must fail, and say where."""
    need_simulator(sim)
    qm = random_qmodel("gru", hidden=5, inputs=3, vocab=9, outputs=4, code="pow2", seed=21)
    changes = []

    def mutate(text):
        new, what = flip_weight_bit(text, occurrence=5, bit=1, memory="codes")
        changes.append(what)
        return new

    design, qpath = design_for(qm, DesignParams(style="folded", lanes=3), sim_build_root, ("broken",), mutate=mutate)
    ref = golden_spec(qpath, None, sequences=6, min_len=4, max_len=10, seed=4, cycles_per_step=design.cycles_per_step)
    result = runner.run(design, sim, ref, seed=4, root=sim_build_root,
                        waves="on-failure" if sim == "icarus" else "never")
    assert not result.ok, f"flipping {changes} went unnoticed"
    text = result.describe()
    for needle in ("first mismatch at output beat", "time step", "stage:    output layer", "expected:",
                   "actual:", "golden trace", ">> beat", "seed 4"):
        assert needle in text, text
    if sim == "icarus":
        assert result.waveform is not None and result.waveform.exists()


@pytest.mark.parametrize("sim, cell", per_sim(quick_verilator=("lstm",))(["gru", "lstm"]))
def test_weights_loaded_through_the_load_port(need_simulator, sim_build_root, sim, cell):
    """``weights="spram"``: the codes memories start empty (no initial contents in the Verilog)
    and the bench sends the weights image after reset; two layers, two words per memory word."""
    need_simulator(sim)
    qm = random_qmodel(cell, hidden=(6, 5), inputs=4, outputs=3, code="pow2", seed=12)
    params = DesignParams(style="folded", lanes=5, weights="spram")
    design, qpath = design_for(qm, params, sim_build_root, ("loaded", cell))
    assert "initial" not in "\n".join(l for l in design.sources[0].read_text().splitlines() if "_loaded[" in l)
    ref = golden_spec(qpath, None, sequences=4, max_len=8, seed=6, cycles_per_step=design.cycles_per_step)
    check(runner.run(design, sim, ref, seed=6, root=sim_build_root, idle=0.2, backpressure=0.2))


def test_wrong_load_image_is_caught(need_simulator, sim_build_root, tmp_path):
    """The same design with one bit of its weights image flipped must fail: the image is used.
    (Word 2 holds real codes; a word past a row's end can hold only padding lanes.)"""
    need_simulator("icarus")
    qm = random_qmodel("gru", hidden=(6, 5), inputs=4, outputs=3, code="pow2", seed=12)
    design, qpath = design_for(qm, DesignParams(style="folded", lanes=5, weights="spram"), sim_build_root, ("loaded", "gru"))
    words = design.load_image.read_text().split()
    words[2] = f"{int(words[2], 16) ^ 2:04x}"
    bad = tmp_path / "bad.load.hex"
    bad.write_text("\n".join(words) + "\n")
    broken = dataclasses.replace(design, load_image=bad)
    ref = golden_spec(qpath, None, sequences=4, max_len=8, seed=6, cycles_per_step=design.cycles_per_step)
    result = runner.run(broken, "icarus", ref, seed=6, root=sim_build_root, waves="never")
    assert not result.ok and "first mismatch at output beat" in result.describe()
