"""train.quantizers: levels, thresholds, unbiasedness, straight-through gradient, clipping, codes."""

import math

import numpy as np
import pytest
import torch

from hwgen.spec.fixedpoint import round_half_away as np_round_half_away
from hwgen.spec.ir import WeightCodes
from train.quantizers import (
    BinaryConnect,
    BinaryConnectFn,
    Exponential,
    ExponentialFn,
    Pow2Ternary,
    Pow2TernaryFn,
    TernaryConnect,
    TernaryConnectFn,
    available_quantizers,
    glorot_bound,
    make_quantizer,
    round_half_away,
)

# One configured instance per registry name (ternary bound to a 24x16 matrix).
CONFIGS = {
    "binary": {},
    "binary_stochastic": {"H": 0.5},
    "ternary": {},
    "ternary_stochastic": {},
    "pow2_ternary": {},
    "fixed": {"i": 1, "f": 2},
    "exponential": {"k_min": -6, "k_max": 2},
    "exponential_stochastic": {"k_min": -6, "k_max": 2},
}
FAN_IN, FAN_OUT = 16, 24


def quantizer(name):
    return make_quantizer(name, **CONFIGS[name]).bind(FAN_IN, FAN_OUT)


def weights(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(FAN_OUT, FAN_IN, generator=g, dtype=dtype) * 0.6
    w[0, :4] = torch.tensor([0.0, -0.0, 50.0, -50.0], dtype=dtype)
    return w


def nextafter(x, toward, dtype=torch.float32):
    return torch.nextafter(torch.tensor(x, dtype=dtype), torch.tensor(toward, dtype=dtype)).item()


def test_registry_covers_every_config():
    assert sorted(CONFIGS) == available_quantizers()


# -- rounding ------------------------------------------------------------------------------------


def test_round_half_away_from_zero():
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -0.51, 0.0])
    assert round_half_away(x).tolist() == [-3, -2, -1, 1, 2, 3, 0, -1, 0]
    assert torch.round(torch.tensor(2.5)).item() == 2  # the rule torch would have used


def test_round_half_away_largest_float_below_half_rounds_to_zero():
    # floor(|x| + 0.5) would give 1 here: the addition itself rounds up.
    for dtype in (torch.float32, torch.float64):
        below = torch.nextafter(torch.tensor(0.5, dtype=dtype), torch.tensor(0.0, dtype=dtype))
        assert round_half_away(torch.stack([below, -below])).tolist() == [0, 0]


def test_round_half_away_matches_hwgen_fixedpoint():
    g = torch.Generator().manual_seed(1)
    x = torch.cat([torch.randn(2000, generator=g, dtype=torch.float64) * 40,
                   torch.arange(-40, 41, dtype=torch.float64) + 0.5])
    assert np.array_equal(round_half_away(x).numpy().astype(np.int64), np_round_half_away(x.numpy()))


# -- output sets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("training", [False, True])
def test_outputs_lie_in_level_set(name, dtype, training):
    q = quantizer(name)
    w = weights(dtype)
    wq = q(w, training=training, generator=torch.Generator().manual_seed(2))
    assert wq.dtype == dtype and wq.shape == w.shape
    assert torch.isin(wq, q.levels(w)).all()


def test_level_sets():
    assert BinaryConnect().levels().tolist() == [-1.0, 1.0]
    w0 = glorot_bound(FAN_IN, FAN_OUT)
    assert TernaryConnect().bind(FAN_IN, FAN_OUT).levels().tolist() == [-w0, 0.0, w0]
    assert Pow2Ternary().levels().tolist() == [-0.5, 0.0, 0.5]
    assert Pow2Ternary(1, 2).levels().tolist() == [k / 4 for k in range(-7, 8)]
    assert Exponential(-2, 1).levels().tolist() == [-2, -1, -0.5, -0.25, 0.25, 0.5, 1, 2]


def test_stochastic_quantizers_are_deterministic_at_evaluation():
    w = weights()
    for stoch, det in [("binary_stochastic", BinaryConnect(H=0.5)),
                       ("ternary_stochastic", TernaryConnect().bind(FAN_IN, FAN_OUT)),
                       ("exponential_stochastic", Exponential(-6, 2))]:
        assert torch.equal(quantizer(stoch)(w, training=False), det(w))
        assert not torch.equal(quantizer(stoch)(w, training=True), det(w))


def test_generator_makes_samples_reproducible():
    q, w = quantizer("ternary_stochastic"), weights()
    a = q(w, training=True, generator=torch.Generator().manual_seed(7))
    b = q(w, training=True, generator=torch.Generator().manual_seed(7))
    c = q(w, training=True, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


# -- thresholds ----------------------------------------------------------------------------------


def test_binary_deterministic_threshold_at_zero():
    w = torch.tensor([0.0, -0.0, 1e-30, -1e-30, -1e-9, 0.3, -0.3, 5.0, -5.0])
    assert BinaryConnect()(w).tolist() == [1, 1, 1, -1, -1, 1, -1, 1, -1]
    assert BinaryConnect(H=0.25)(w).tolist() == [0.25, 0.25, 0.25, -0.25, -0.25, 0.25, -0.25, 0.25, -0.25]


def test_binary_stochastic_saturates_outside_h():
    w = torch.tensor([0.5, 3.0, -0.5, -3.0]).repeat(1000)
    wq = BinaryConnect(H=0.5, stochastic=True)(w, training=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(wq, torch.sign(w) * 0.5)


def test_ternary_deterministic_thresholds_at_half_w0():
    q = TernaryConnect().bind(FAN_IN, FAN_OUT)
    w0 = torch.tensor(glorot_bound(FAN_IN, FAN_OUT), dtype=torch.float32).item()
    half = w0 / 2  # exact in float32
    w = torch.tensor([half, nextafter(half, 1), -half, nextafter(-half, -1), nextafter(half, 0), 0.0, 9.0, -9.0],
                     dtype=torch.float32)
    assert q(w).tolist() == [0, w0, 0, -w0, 0, 0, w0, -w0]


def test_ternary_w0_is_glorot_bound_of_matrix():
    w = weights(torch.float64)
    assert TernaryConnect().bounds(w) == (-glorot_bound(16, 24), glorot_bound(16, 24))
    assert TernaryConnect().bind(3, 5).w0 == math.sqrt(6 / 8)
    assert TernaryConnect(w0=0.3).bind(3, 5).w0 == 0.3
    with pytest.raises(ValueError, match="Glorot bound of a matrix"):
        TernaryConnect()(torch.zeros(5))


def test_pow2_ternary_rounds_half_away_and_saturates():
    q = Pow2Ternary()
    w = torch.tensor([0.25, -0.25, nextafter(0.25, 0), nextafter(-0.25, 0), 0.75, -0.75, 100.0, 0.0])
    assert q(w).tolist() == [0.5, -0.5, 0, 0, 0.5, -0.5, 0.5, 0]
    q = Pow2Ternary(i=1, f=2)
    w = torch.tensor([0.125, -0.375, 0.625, nextafter(0.625, 0), 1.8, -9.0])
    assert q(w).tolist() == [0.25, -0.5, 0.75, 0.5, 1.75, -1.75]


def test_exponential_deterministic_threshold_at_p_half():
    q = Exponential(k_min=-4, k_max=2)
    w = torch.tensor([1.5, nextafter(1.5, 2), -1.5, nextafter(-1.5, -2), 0.75, nextafter(0.75, 1), 3.5,
                      1.0, 2.0, -0.25])
    assert q(w).tolist() == [1, 2, -1, -2, 0.5, 1, 4, 1, 2, -0.25]


def test_exponential_window_edges_and_zero():
    q = Exponential(k_min=-4, k_max=2)
    # 7 = 1.75 * 2^2: k = k_max, p = 0.75 -> k + 1 = 3 is clipped back to k_max.
    w = torch.tensor([7.0, 100.0, -100.0, 0.0, -0.0, 1e-6, -1e-6, 0.09, 0.1])
    assert q(w).tolist() == [4, 4, -4, 1 / 16, 1 / 16, 1 / 16, -1 / 16, 1 / 16, 0.125]
    ws = q.__class__(-4, 2, stochastic=True)(w, training=True, generator=torch.Generator().manual_seed(0))
    assert ws[:7].tolist() == [4, 4, -4, 1 / 16, 1 / 16, 1 / 16, -1 / 16]


# -- unbiasedness --------------------------------------------------------------------------------

N = 40_000


@pytest.mark.parametrize("q, w, variance", [
    (BinaryConnect(H=0.5, stochastic=True),
     torch.linspace(-0.5, 0.5, 11, dtype=torch.float64),
     lambda w: 0.25 - w ** 2),  # E = w, E[W_q^2] = H^2
    (TernaryConnect(stochastic=True, w0=0.4),
     torch.linspace(-0.4, 0.4, 11, dtype=torch.float64),
     lambda w: 0.4 * w.abs() - w ** 2),  # E[W_q^2] = W0 |w|
    (Exponential(-6, 3, stochastic=True),
     torch.tensor([0.02, -0.03, 0.1, 0.3, -0.7, 1.2, 3.0, -5.9, 8.0], dtype=torch.float64),
     None),
], ids=["binary", "ternary", "exponential"])
def test_stochastic_quantizers_are_unbiased(q, w, variance):
    """Mean of N samples within 5 standard errors (sqrt(Var/N)) of W; exact where Var = 0."""
    if variance is None:  # two levels 2^k, 2^(k+1) with P(up) = p: Var = 4^k p (1 - p)
        k = torch.floor(torch.log2(w.abs()))
        p = w.abs() / 2 ** k - 1
        variance = lambda w: 4 ** k * p * (1 - p)  # noqa: E731
    samples = q(w.repeat(N, 1), training=True, generator=torch.Generator().manual_seed(3))
    mean = samples.mean(0)
    tol = 5 * torch.sqrt(variance(w).clamp(min=0) / N) + 1e-12
    assert (torch.abs(mean - w) <= tol).all(), (mean - w, tol)
    assert torch.allclose(samples.var(0), variance(w), rtol=0.1, atol=1e-6)


# -- straight-through gradient -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_straight_through_gradient(name):
    w = weights(torch.float64).requires_grad_()
    upstream = torch.randn(w.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    out = quantizer(name)(w, training=True, generator=torch.Generator().manual_seed(5))
    (out * upstream).sum().backward()
    assert torch.equal(w.grad, upstream)


@pytest.mark.parametrize("fn, args", [
    (BinaryConnectFn, (1.0, True, None)),
    (TernaryConnectFn, (0.3, False, None)),
    (Pow2TernaryFn, (0, 1)),
    (ExponentialFn, (-5, 1, True, None)),
])
def test_autograd_functions_pass_gradient_unchanged(fn, args):
    w = torch.linspace(-3, 3, 13, dtype=torch.float64, requires_grad=True)
    g = torch.arange(13, dtype=torch.float64)
    fn.apply(w, *args).backward(g)
    assert torch.equal(w.grad, g)


# -- clipping ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, bound", [
    ("binary", 1.0), ("binary_stochastic", 0.5), ("ternary", glorot_bound(FAN_IN, FAN_OUT)),
    ("pow2_ternary", 0.5), ("fixed", 1.75), ("exponential", 4.0), ("exponential_stochastic", 4.0),
])
def test_clip_shadow_weights(name, bound):
    q = quantizer(name)
    assert q.bounds() == (-bound, bound)
    w = torch.linspace(-10, 10, 201, dtype=torch.float64)
    inside = w.abs() <= bound
    before = w.clone()
    assert q.clip_(w) is w
    assert w.max().item() == bound and w.min().item() == -bound
    assert torch.equal(w[inside], before[inside])


# -- codes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, kind, exp, span", [
    ("binary", "binary", 0, 0), ("binary_stochastic", "binary", 0, 0),
    ("ternary", "ternary", 0, 0), ("ternary_stochastic", "ternary", 0, 0),
    ("pow2_ternary", "ternary", -1, 0), ("fixed", "fixed", -2, 3),
    ("exponential", "pow2", -6, 8), ("exponential_stochastic", "pow2", -6, 8),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_codes_reproduce_quantized_weights_exactly(name, kind, exp, span, dtype):
    q = quantizer(name)
    wq = q(weights(dtype), training=True, generator=torch.Generator().manual_seed(6))
    codes = q.codes(wq)
    assert (codes.kind, codes.exp, codes.span) == (kind, exp, span)
    assert codes.q.dtype == torch.int64
    assert torch.equal(codes.to_float(dtype), wq)
    # hwgen's IR accepts the codes as they are and, with the scale, gives the same values.
    ir = WeightCodes(kind, codes.q.numpy(), exp, span)
    assert np.array_equal((ir.to_float() * codes.scale).astype(np.dtype(str(dtype)[6:])), wq.numpy())


def test_code_values():
    assert BinaryConnect(H=0.5).codes(torch.tensor([0.5, -0.5])).q.tolist() == [1, -1]
    t = TernaryConnect(w0=0.3)
    c = t.codes(t(torch.tensor([1.0, -1.0, 0.0])))
    assert c.q.tolist() == [1, -1, 0] and c.scale == torch.tensor(0.3).item()
    c = Exponential(-3, 2).codes(torch.tensor([0.125, -4.0, 1.0]))
    assert c.q.tolist() == [1, -32, 8] and c.exp == -3


@pytest.mark.parametrize("q, bad", [
    (BinaryConnect(), 0.0), (TernaryConnect(w0=0.3), 0.2), (Pow2Ternary(), 1.0),
    (Pow2Ternary(), 0.25), (Exponential(-3, 2), 0.0), (Exponential(-3, 2), 3.0), (Exponential(-3, 2), 8.0),
])
def test_codes_refuse_values_off_the_grid(q, bad):
    with pytest.raises(ValueError, match="not one of this quantizer's levels|exceeds"):
        q.codes(torch.tensor([bad]))


# -- registry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_spec_round_trips(name):
    q = make_quantizer(name, **CONFIGS[name])
    assert make_quantizer(q.spec()) == q
    assert make_quantizer(q) is q


def test_make_quantizer_errors_and_none():
    assert make_quantizer(None) is None and make_quantizer("none") is None
    with pytest.raises(ValueError, match="unknown quantizer 'quinary'; one of"):
        make_quantizer("quinary")
    with pytest.raises(TypeError, match="quantizer 'binary'"):
        make_quantizer("binary", k_min=3)
    with pytest.raises(ValueError, match="k_min <= k_max"):
        Exponential(3, 1)
    with pytest.raises(ValueError, match="i \\+ f >= 1"):
        Pow2Ternary(0, 0)
    with pytest.raises(ValueError, match="H must be positive"):
        BinaryConnect(H=0)
