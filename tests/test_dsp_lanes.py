"""Lanes whose power-of-two and fixed-point products are formed on hard multipliers (``lane_dsps``,
hwgen.generator.lanes.dsp_pow2_product and dsp_fixed_product): bit-exact against the golden model in
the Amaranth simulator, narrow and wide exponent windows (a shift split into the multiplier's fine
part and a coarse multiplexer), dense and zero-skipping rows, both stages that have lanes; and the
plan's count of the multipliers they take, which synthesis confirms (tests/test_sim_regression.py
runs Icarus and Verilator on such a design)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from design_harness import check_exact, random_stimulus, simulate
from hwgen.generator import build_design, plan_design
from hwgen.generator.lanes import FINE
from hwgen.generator.plan import DesignParams
from hwgen.spec.golden import check_bounds
from hwgen.spec.ir import CodeKind, WeightCodes
from hwgen.spec.random_qmodel import random_qmodel


def widened(qmodel, span: int, seed: int):
    """``qmodel`` with every pow2 matrix's codes redrawn over ``2**[0, span]`` (and zeros), the
    window moved down by as much: shifts as wide as a trained exponential model's."""
    rng = np.random.default_rng(seed)

    def redraw(w):
        if w.kind is not CodeKind.POW2:
            return w
        k = rng.integers(0, span + 1, w.q.shape)
        k[..., 0] = span  # the widest shift occurs
        q = np.where(rng.random(w.q.shape) < 0.2, 0, rng.choice([-1, 1], w.q.shape) << k)
        return dataclasses.replace(w, q=q.astype(np.int64), exp=w.exp - span + w.span, span=span)

    layers = tuple(dataclasses.replace(L, w_ih=redraw(L.w_ih), w_hh=redraw(L.w_hh)) for L in qmodel.layers)
    out = qmodel.output and dataclasses.replace(qmodel.output, w=redraw(qmodel.output.w))
    return check_bounds(dataclasses.replace(qmodel, layers=layers, output=out))


def fixed(qmodel, bits: int, seed: int, layers: bool = True):
    """``qmodel`` with the output layer's codes (and, with ``layers``, every layer's) redrawn as
    ``bits``-bit fixed-point codes over their whole range, both extremes included: the shipped
    example's 8-bit output layer, and the widest code a 16-bit multiplier takes."""
    rng = np.random.default_rng(seed)
    top = (1 << (bits - 1)) - 1

    def redraw(w):
        q = rng.integers(-top, top + 1, w.q.shape)
        q[..., 0], q[..., -1] = top, -top
        return WeightCodes(CodeKind.FIXED, q.astype(np.int64), exp=-(bits + 2), span=bits - 1)

    out = dataclasses.replace(qmodel.output, w=redraw(qmodel.output.w))
    ls = tuple(dataclasses.replace(L, w_ih=redraw(L.w_ih), w_hh=redraw(L.w_hh)) if layers else L
               for L in qmodel.layers)
    return check_bounds(dataclasses.replace(qmodel, layers=ls, output=out))


# (cell, span, lanes, extra): narrow windows (the multiplier alone) and wide ones (fine and coarse
# parts), one lane and several, zero-skipping rows, codes loaded at run time, argmax out.
CASES = [
    ("rnn", 3, 1, {}), ("gru", FINE, 2, {}), ("gru", FINE + 1, 3, {"weights": "spram"}),
    ("gru", 2 * FINE + 1, 2, {"skip_zeros": True}), ("lstm", 20, 2, {"multipliers": 2}),
    ("gru", 20, 4, {"output": "argmax", "hot_column": False}),
]


@pytest.mark.parametrize("cell, span, lanes, extra", CASES)
def test_multiplier_lanes_are_bit_exact(cell, span, lanes, extra):
    seed = CASES.index((cell, span, lanes, extra))
    q = widened(random_qmodel(cell, hidden=(5, 4) if cell == "gru" else 5, inputs=5, vocab=11, outputs=4,
                              code="pow2", act="table", table_bits=6, seed=seed, table="batchnorm"), span, seed)
    plan = plan_design(q, lanes=lanes, lane_dsps=True, **extra)
    with_lanes = [s for s in plan.stages if s.kind in ("recurrent", "dense")]
    assert [s.dsp_lanes for s in with_lanes] == [s.lanes for s in with_lanes]  # one multiplier a lane
    assert plan.cycles_per_step == plan_design(q, lanes=lanes, **extra).cycles_per_step
    output = extra.get("output")
    rng = np.random.default_rng(seed)
    x, first = random_stimulus(q, rng, 10)
    top = build_design(q, lanes=lanes, lane_dsps=True, **extra)
    check_exact(q, output, x, first, simulate(top, q, output, x, first, rng=rng, in_gap=0.3, out_gap=0.3))


# (cell, layer code bits (None: pow2 layers), output code bits, lanes)
FIXED_CASES = [("gru", None, 8, 3), ("rnn", 16, 16, 2), ("lstm", 5, 12, 1)]


@pytest.mark.parametrize("cell, layer_bits, out_bits, lanes", FIXED_CASES)
def test_fixed_point_multiplier_lanes_are_bit_exact(cell, layer_bits, out_bits, lanes):
    """Fixed-point codes (a pow2 model's 8-bit output layer, as the shipped example's; every
    matrix fixed up to the 16 bits a multiplier takes) multiply on one hard multiplier a lane."""
    seed = 10 + FIXED_CASES.index((cell, layer_bits, out_bits, lanes))
    q = random_qmodel(cell, hidden=5, inputs=4, vocab=9, outputs=4, code="pow2", act="table", table_bits=6,
                      seed=seed, table="batchnorm")
    q = fixed(q, out_bits, seed, layers=False)
    if layer_bits is not None:
        q = fixed(q, layer_bits, seed)
    plan = plan_design(q, lanes=lanes, lane_dsps=True)
    with_lanes = [s for s in plan.stages if s.kind in ("recurrent", "dense")]
    assert [s.dsp_lanes for s in with_lanes] == [s.lanes for s in with_lanes]
    rng = np.random.default_rng(seed)
    x, first = random_stimulus(q, rng, 10)
    top = build_design(q, lanes=lanes, lane_dsps=True)
    check_exact(q, None, x, first, simulate(top, q, None, x, first, rng=rng, in_gap=0.3, out_gap=0.3))


def test_codes_a_multiplier_cannot_take_stay_in_logic():
    """Ternary codes (a multiplexer each: a multiplier saves nothing) and shifts wider than two
    fine spans keep shift-add lanes; the plan counts no multipliers for them."""
    ternary = random_qmodel("gru", hidden=4, inputs=3, code="ternary", seed=1)
    assert plan_design(ternary, lanes=2, lane_dsps=True).dsp_lanes == 0
    too_wide = widened(random_qmodel("gru", hidden=4, inputs=3, code="pow2", seed=2), 2 * FINE + 2, 2)
    plan = plan_design(too_wide, lanes=2, lane_dsps=True)
    assert [s.dsp_lanes for s in plan.stages if s.kind == "recurrent"] == [0]
    wide_fixed = fixed(random_qmodel("gru", hidden=4, inputs=3, outputs=2, code="pow2", seed=4), 17, 4)
    assert plan_design(wide_fixed, lanes=2, lane_dsps=True).dsp_lanes == 0


@pytest.mark.parametrize("params, message", [
    (dict(style="unrolled", lane_dsps=True), "lane_dsps applies to the folded"),
    (dict(baseline=True, lane_dsps=True), "lane_dsps applies to the folded"),
    (dict(lane_dsps="yes"), "lane_dsps must be True or False"),
])
def test_multiplier_lanes_are_refused_where_they_do_not_apply(params, message):
    with pytest.raises((ValueError, TypeError), match=message):
        DesignParams(**params)


def test_a_target_without_hard_multipliers_is_refused(tmp_path):
    from hwgen.build import BuildError, BuildOptions, build

    q = random_qmodel("gru", hidden=4, inputs=3, code="pow2", seed=3)
    with pytest.raises(BuildError, match="--lane-products dsp needs a target with hard multipliers"):
        build(q, tmp_path / "out", BuildOptions(target="ice40-hx8k", lane_dsps=True, lanes=2), say=lambda m: None)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
