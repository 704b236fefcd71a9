"""The golden model against torch.nn.RNN / GRU / LSTM in float64, within a derived error bound.

Both sides get the same inputs (exactly representable) and the same weights (the QModel's codes
dequantized, exact in float64), so every difference comes from the golden model's roundings and
activation units. The bound below follows them step by step (docs/arithmetic.md section 10), in
the infinity norm, as long as nothing saturates (each test checks that premise):

- a requantize into format F adds at most rho(F) = 2**-(F.frac + 1);
- an activation unit adds at most its error bound delta (half an output LSB for hard units, the
  table's worst error for tables: ``hwgen.spec.activation.error_bound``) and scales input errors by its
  Lipschitz constant (1/4 for sigmoid and hard sigmoid, 1 for tanh, hard tanh and relu);
- a matrix scales errors by its infinity norm; a product a*b of values with |a| <= 1 adds
  |a| e_b + |b| e_a.

With hard activations the reference uses the same hard functions (written below with torch ops,
and checked against torch.nn with smooth ones); with table activations it uses torch.nn itself.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from hwgen.spec import golden
from hwgen.spec.activation import error_bound
from hwgen.spec.random_qmodel import random_qmodel

F64 = torch.float64  # every tensor here is float64 (set per tensor: the default dtype is global)

SLACK = 1e-12  # float64 rounding on the torch side


def rho(fmt) -> float:
    return 2.0 ** -(fmt.frac + 1)


def norm(w: np.ndarray) -> float:
    return float(np.abs(w).sum(axis=1).max())


# ---------------------------------------------------------------------------- references


def hard_sigmoid(x):
    return torch.clamp(x / 4 + 0.5, 0.0, 1.0)


def hard_tanh(x):
    return torch.clamp(x, -1.0, 1.0)


def cell_reference(kind, w_ih, w_hh, b_ih, b_hh, x, sig, tanh):
    """torch.nn's cell equations with pluggable activations; x is (B, T, I)."""
    batch, steps, _ = x.shape
    n_h = w_hh.shape[1]
    h = torch.zeros(batch, n_h, dtype=F64)
    c = torch.zeros(batch, n_h, dtype=F64)
    out = []
    for t in range(steps):
        gi = x[:, t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        if kind == "rnn":
            h = tanh(gi + gh)
        elif kind == "gru":
            r = sig(gi[:, :n_h] + gh[:, :n_h])
            z = sig(gi[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
            n = tanh(gi[:, 2 * n_h:] + r * gh[:, 2 * n_h:])
            h = (1 - z) * n + z * h
        else:
            a = gi + gh
            i, f = sig(a[:, :n_h]), sig(a[:, n_h:2 * n_h])
            g, o = tanh(a[:, 2 * n_h:3 * n_h]), sig(a[:, 3 * n_h:])
            c = f * c + i * g
            h = o * tanh(c)
        out.append(h)
    return torch.stack(out, dim=1)


def torch_nn_reference(kind, w_ih, w_hh, b_ih, b_hh, x):
    module = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind](
        w_ih.shape[1], w_hh.shape[1], batch_first=True, dtype=F64)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh), ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)):
            getattr(module, name).copy_(value)
        return module(x)[0]


def reference(qmodel, x_float: torch.Tensor, hard: bool) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Float64 states of every layer and the dense output, for the same weights."""
    states, h = [], x_float
    for layer in qmodel.layers:
        params = [torch.tensor(a) for a in (layer.w_ih.to_float(), layer.w_hh.to_float(),
                                             layer.b_ih.to_float(), layer.b_hh.to_float())]
        if hard:
            h = cell_reference(layer.kind, *params, h, hard_sigmoid, hard_tanh)
        else:
            h = torch_nn_reference(layer.kind, *params, h)
        states.append(h.numpy())
    y = None
    if qmodel.output is not None:
        y = states[-1] @ qmodel.output.w.to_float().T + qmodel.output.b.to_float()
    return states, y


# ---------------------------------------------------------------------------- the bound


def layer_bound(layer, steps: int, e_in: np.ndarray) -> np.ndarray:
    """Per-step bound on |h_golden - h_float| for one layer, given its input's error per step."""
    f, n_h = layer.formats, layer.hidden_size
    w_ih, w_hh = layer.w_ih.to_float(), layer.w_hh.to_float()
    rows = lambda w, g: w[g * n_h:(g + 1) * n_h]  # noqa: E731
    acts = layer.activations
    d_cand = error_bound(acts["cand_act"])
    e_h, e_c, out = 0.0, 0.0, np.empty(steps)
    if layer.kind == "lstm":
        i_max, f_max, g_max, o_max, c_max = lstm_ranges(layer, steps)
    for t in range(steps):
        e_x = e_in[t]
        pre = [norm(rows(w_ih, g)) * e_x + norm(rows(w_hh, g)) * e_h + rho(f.preact) for g in range(layer.gates)]
        if layer.kind == "rnn":
            e_h = pre[0] + d_cand
        elif layer.kind == "gru":
            d_sig = error_bound(acts["gate_act"])
            e_r, e_z = (p / 4 + d_sig for p in pre[:2])
            e_ghn = norm(rows(w_hh, 2)) * e_h + rho(f.preact)
            big_g = float(np.max(np.abs(rows(w_hh, 2)).sum(axis=1) + np.abs(layer.b_hh.to_float()[2 * n_h:])))
            e_npre = norm(rows(w_ih, 2)) * e_x + e_ghn + big_g * e_r + e_r * e_ghn + rho(f.preact)
            e_n = e_npre + d_cand
            e_h = max(e_n, e_h) + 2 * e_z + rho(f.state)
        else:
            d_sig, d_cell = error_bound(acts["gate_act"]), error_bound(acts["cell_act"])
            e_i, e_f, e_o = (pre[g] / 4 + d_sig for g in (0, 1, 3))
            e_g = pre[2] + d_cand
            # f c - f' c' = f (c - c') + c' (f - f'), and likewise for i g; |f| <= f_max + e_f
            e_c = ((f_max + e_f) * e_c + c_max[t] * e_f + (i_max + e_i) * e_g + g_max * e_i
                   + rho(f.cell))
            e_h = (o_max + e_o) * (d_cell + e_c) + min(1.0, c_max[t + 1]) * e_o + rho(f.state)
        out[t] = e_h + SLACK
    return out


def lstm_ranges(layer, steps: int, x_max: float = 1.0):
    """A priori bounds for the float LSTM from the largest pre-activations that |x| <= x_max and
    |h| <= 1 allow: gate maxima i_max, f_max, g_max, o_max, and |c| before each step's update
    (c_t <= f_max c_(t-1) + i_max g_max)."""
    n_h = layer.hidden_size
    reach = (np.abs(layer.w_ih.to_float()).sum(axis=1) * x_max + np.abs(layer.w_hh.to_float()).sum(axis=1)
             + np.abs(layer.b_ih.to_float() + layer.b_hh.to_float()))
    a_i, a_f, a_g, a_o = (reach[g * n_h:(g + 1) * n_h].max() for g in range(4))
    sig = hard_sigmoid if layer.gate_act.impl.value == "hard" else torch.sigmoid
    i_max, f_max, o_max = (float(sig(torch.tensor(a, dtype=F64))) for a in (a_i, a_f, a_o))
    g_max = min(1.0, a_g)  # |tanh(a)| <= min(1, |a|)
    c = np.zeros(steps + 1)
    for t in range(1, steps + 1):
        c[t] = f_max * c[t - 1] + i_max * g_max
    return i_max, f_max, g_max, o_max, c


def model_bounds(qmodel, steps: int) -> tuple[list[np.ndarray], np.ndarray | None]:
    e_in, per_layer = np.zeros(steps), []
    for layer in qmodel.layers:
        e_in = layer_bound(layer, steps, e_in)
        per_layer.append(e_in)
    e_y = None
    if qmodel.output is not None:
        e_y = norm(qmodel.output.w.to_float()) * e_in + rho(qmodel.output.out) + SLACK
    return per_layer, e_y


# ---------------------------------------------------------------------------- the checks


def contractive(qmodel, shrink_log2: int = 2):
    """The same model with every weight and bias divided by 2**shrink_log2 (exactly, through
    exponents and binary points), so that errors are damped from step to step, LSTM gates stay
    clear of 1 and the worst-case bound stays informative."""
    def small(w):
        return dataclasses.replace(w, exp=w.exp - shrink_log2)

    def small_b(b):
        return dataclasses.replace(b, frac=b.frac + shrink_log2)

    layers = [dataclasses.replace(layer, w_ih=small(layer.w_ih), w_hh=small(layer.w_hh),
                                  b_ih=small_b(layer.b_ih), b_hh=small_b(layer.b_hh))
              for layer in qmodel.layers]
    return dataclasses.replace(qmodel, layers=tuple(layers))


def compare(kind, code, act, width, seed=0, layers=(6,), steps=12, batch=16, table_bits=14):
    qmodel = contractive(random_qmodel(kind, layers, inputs=5, outputs=4, code=code, act=act,
                                       width=width, seed=seed, table_bits=table_bits))
    rng = np.random.default_rng(seed + 100)
    x = qmodel.input.fmt.from_float(rng.uniform(-1, 1, (batch, steps, 5)))
    result = golden.run(qmodel, x, trace=True)
    _check_no_saturation(qmodel, result.trace)
    states, y = reference(qmodel, torch.tensor(qmodel.input.fmt.to_float(x)), hard=(act == "hard"))
    bounds, e_y = model_bounds(qmodel, steps)
    errors = []
    for i, (layer, ref, bound) in enumerate(zip(qmodel.layers, states, bounds)):
        got = layer.formats.state.to_float(result.trace[f"L{i}.h"])
        err = np.abs(got - ref).max(axis=(0, 2))
        assert np.all(err <= bound), f"layer {i}: error {err} exceeds bound {bound}"
        errors.append(err)
    err_y = np.abs(qmodel.out_fmt.to_float(result.outputs) - y).max(axis=(0, 2))
    assert np.all(err_y <= e_y), f"output: error {err_y} exceeds bound {e_y}"
    return errors, bounds


def _check_no_saturation(qmodel, trace):
    """The bound assumes no register saturates: pre-activations, cells and states stay off the rails."""
    for i, layer in enumerate(qmodel.layers):
        f = layer.formats
        checks = {"h": f.state, "c": f.cell, "a": f.preact, "pre": f.preact, "rz_pre": f.preact,
                  "ghn": f.preact, "n_pre": f.preact}
        for name, fmt in checks.items():
            v = trace.get(f"L{i}.{name}")
            if v is not None and fmt is not None:
                assert v.min() > fmt.min_int and v.max() < fmt.max_int, f"L{i}.{name} saturated"


WIDE = 28  # fractional bits 23-26: rounding errors around 1e-7


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("code", ["pow2", "ternary"])
@pytest.mark.parametrize("act", ["hard", "table"])
def test_golden_matches_torch_within_bound(kind, code, act):
    errors, bounds = compare(kind, code, act, WIDE)
    # The bound means something: with wide formats it is small (tables add their sampling error).
    limit = 1e-5 if act == "hard" else 0.1
    assert bounds[-1].max() < limit


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_two_layers_within_bound(kind):
    compare(kind, "pow2", "hard", WIDE, layers=(6, 5), seed=3)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_error_grows_with_narrower_formats_as_bound_says(kind):
    """Same weights and inputs at 28, 16 and 10 bits: every error stays within its own bound, and
    the error grows by the factor the bound grows by (2**12, then 2**6), within a factor of 4."""
    results = {w: compare(kind, "pow2", "hard", w, seed=5) for w in (WIDE, 16, 10)}
    worst = {w: errs[-1].max() for w, (errs, _) in results.items()}
    bound = {w: bounds[-1].max() for w, (_, bounds) in results.items()}
    for wide, narrow in ((WIDE, 16), (16, 10)):
        growth, predicted = worst[narrow] / worst[wide], bound[narrow] / bound[wide]
        assert predicted / 4 < growth < predicted * 4, (wide, narrow, growth, predicted)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_hard_reference_is_torch_nn_with_swapped_activations(kind):
    """The hand-written reference used for hard activations equals torch.nn with smooth ones."""
    g = torch.Generator().manual_seed(0)
    n_in, n_h, gates = 3, 4, {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    shapes = [(gates * n_h, n_in), (gates * n_h, n_h), (gates * n_h,), (gates * n_h,)]
    params = [torch.randn(*shape, generator=g, dtype=F64) for shape in shapes]
    x = torch.randn(2, 7, n_in, generator=g, dtype=F64)
    mine = cell_reference(kind, *params, x, torch.sigmoid, torch.tanh)
    assert torch.allclose(mine, torch_nn_reference(kind, *params, x), atol=1e-12, rtol=0)


def test_bound_check_catches_a_wrong_golden_model(monkeypatch):
    """Negative control: a golden model that rounds the state one LSB off fails the comparison."""
    real_step = golden.STEPS["gru"]

    def off_by_one(layer, xi, h, c, rec):
        h_new, c_new = real_step(layer, xi, h, c, rec)
        return golden.Fx(h_new.v + (1 << 8), h_new.frac, h_new.lo, h_new.hi), c_new

    monkeypatch.setitem(golden.STEPS, "gru", off_by_one)
    with pytest.raises(AssertionError, match="exceeds bound"):
        compare("gru", "pow2", "hard", WIDE)
