"""train.cells: torch equivalence, the hardware's hard activations, quantized forward, gradients."""

import numpy as np
import pytest
import torch
from torch import nn

from hwgen.spec.activation import HARD_REFERENCE
from hwgen.spec.ir import ActFunc
from train.cells import (
    QuantGRU,
    QuantLSTM,
    QuantRNN,
    QuantStack,
    clip_shadow_weights_,
    hard_sigmoid,
    hard_tanh,
)
from train.quantizers import glorot_bound

B, T, I, H = 3, 5, 4, 6
TORCH = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
CELL = {"rnn": QuantRNN, "gru": QuantGRU, "lstm": QuantLSTM}


def torch_layer(kind, num_layers=1, bias=True, seed=0, **kw):
    torch.manual_seed(seed)
    return TORCH[kind](I, H, num_layers=num_layers, bias=bias, batch_first=True, dtype=torch.float64, **kw)


def data(seed=1, scale=1.5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, I, generator=g, dtype=torch.float64) * scale
    h0 = torch.randn(B, H, generator=g, dtype=torch.float64) * 0.5
    c0 = torch.randn(B, H, generator=g, dtype=torch.float64) * 0.5
    return x, h0, c0


# -- float equivalence with torch.nn -------------------------------------------------------------

CASES = [("rnn", {"nonlinearity": "tanh"}), ("rnn", {"nonlinearity": "relu"}), ("gru", {}), ("lstm", {})]


@pytest.mark.parametrize("kind, kw", CASES, ids=["rnn_tanh", "rnn_relu", "gru", "lstm"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
def test_float_cell_equals_torch(kind, kw, bias, with_state):
    ref = torch_layer(kind, bias=bias, **kw)
    cell = CELL[kind].from_torch(ref)
    assert all(q is None for q in cell.quantizers.values())
    x, h0, c0 = data()
    if not with_state:
        want, want_state = ref(x)
        got, got_state = cell(x)
    elif kind == "lstm":
        want, want_state = ref(x, (h0[None], c0[None]))
        got, got_state = cell(x, (h0, c0))
    else:
        want, want_state = ref(x, h0[None])
        got, got_state = cell(x, h0)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    if kind == "lstm":
        torch.testing.assert_close(got_state[0], want_state[0][0], rtol=0, atol=1e-12)
        torch.testing.assert_close(got_state[1], want_state[1][0], rtol=0, atol=1e-12)
    else:
        torch.testing.assert_close(got_state, want_state[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_stack_equals_multilayer_torch(kind):
    ref = torch_layer(kind, num_layers=2)
    stack = QuantStack.from_torch(ref)
    x, _, _ = data()
    want, _ = ref(x)
    got, states = stack(x)
    assert len(states) == 2
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_parameter_layout_matches_torch():
    for kind, gates in [("rnn", 1), ("gru", 3), ("lstm", 4)]:
        cell = CELL[kind](I, H)
        assert cell.weight_ih.shape == (gates * H, I) and cell.weight_hh.shape == (gates * H, H)
        assert cell.bias_ih.shape == cell.bias_hh.shape == (gates * H,)


# -- hard activations ----------------------------------------------------------------------------


def test_hard_activations_are_the_hardware_ones():
    z = torch.linspace(-6, 6, 97, dtype=torch.float64)
    assert np.array_equal(hard_sigmoid(z).numpy(), HARD_REFERENCE[ActFunc.SIGMOID](z.numpy()))
    assert np.array_equal(hard_tanh(z).numpy(), HARD_REFERENCE[ActFunc.TANH](z.numpy()))
    assert hard_sigmoid(torch.tensor([-2.0, 0.0, 1.0, 2.0])).tolist() == [0.0, 0.5, 0.75, 1.0]
    assert not torch.allclose(hard_sigmoid(z), nn.functional.hardsigmoid(z))  # torch's is x/6 + 1/2


def numpy_reference(kind, w, x, h, c):
    """Hard-activation cells written out from the hardware's definitions (hwgen.spec.activation)."""
    sig, tanh = HARD_REFERENCE[ActFunc.SIGMOID], HARD_REFERENCE[ActFunc.TANH]
    wih, whh, bih, bhh = (w[k].detach().numpy() for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    outs = []
    for t in range(x.shape[1]):
        gi, gh = x[:, t] @ wih.T + bih, h @ whh.T + bhh
        if kind == "rnn":
            h = tanh(gi + gh)
        elif kind == "gru":
            r = sig(gi[:, :H] + gh[:, :H])
            z = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
            n = tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * n + z * h
        else:
            g = gi + gh
            c = sig(g[:, H:2 * H]) * c + sig(g[:, :H]) * tanh(g[:, 2 * H:3 * H])
            h = sig(g[:, 3 * H:]) * tanh(c)
        outs.append(h)
    return np.stack(outs, 1)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("quantizer", [None, "exponential"])
def test_hard_cells_follow_hardware_definitions(kind, quantizer):
    cell = CELL[kind].from_torch(torch_layer(kind), activation="hard", quantizer=quantizer).eval()
    x, h0, c0 = data(scale=3.0)  # large enough to reach the clamps
    got, _ = cell(x, (h0, c0) if kind == "lstm" else h0)
    want = numpy_reference(kind, cell.effective_parameters(), x.numpy(), h0.numpy(), c0.numpy())
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=0, atol=1e-12)
    smooth = CELL[kind].from_torch(torch_layer(kind), quantizer=quantizer).eval()
    assert not torch.allclose(got, smooth(x, (h0, c0) if kind == "lstm" else h0)[0])


# -- quantized forward and gradients -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("quantizer", ["ternary", "pow2_ternary", "exponential", "binary"])
def test_quantized_forward_uses_quantized_weights(kind, quantizer):
    qcell = CELL[kind].from_torch(torch_layer(kind), quantizer=quantizer).eval()
    eff = qcell.effective_parameters()
    for name, q in qcell.quantizers.items():
        assert torch.isin(eff[name], q.levels(eff[name])).all(), name
        assert not torch.equal(eff[name], getattr(qcell, name))
    codes = qcell.codes()
    assert sorted(codes) == ["bias_hh", "bias_ih", "weight_hh", "weight_ih"]
    for name, c in codes.items():
        assert torch.equal(c.to_float(torch.float64), eff[name])
    # The quantized cell computes what a float cell loaded with the quantized values computes.
    fcell = CELL[kind].from_torch(torch_layer(kind))
    with torch.no_grad():
        for name in eff:
            getattr(fcell, name).copy_(eff[name])
    x, _, _ = data()
    torch.testing.assert_close(qcell(x)[0], fcell(x)[0], rtol=0, atol=0)


def test_ternary_w0_per_matrix_and_bias_follows_its_matrix():
    cell = QuantGRU(I, H, quantizer="ternary")
    w0 = {k: q.w0 for k, q in cell.quantizers.items()}
    assert w0 == {"weight_ih": glorot_bound(I, H), "bias_ih": glorot_bound(I, H),
                  "weight_hh": glorot_bound(H, H), "bias_hh": glorot_bound(H, H)}


def test_quantization_switches():
    cell = QuantLSTM(I, H, quantizer="ternary", quantize_hh=False, quantize_bias=False)
    assert cell.quantizers["weight_ih"] is not None
    assert all(cell.quantizers[k] is None for k in ("weight_hh", "bias_ih", "bias_hh"))
    eff = cell.effective_parameters()
    assert eff["weight_hh"] is cell.weight_hh and eff["bias_ih"] is cell.bias_ih
    cell = QuantGRU(I, H, quantizer="exponential", bias_quantizer={"name": "fixed", "i": 2, "f": 4})
    assert cell.quantizers["bias_ih"].spec() == {"name": "pow2_ternary", "i": 2, "f": 4}


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_gradients_reach_shadow_weights_straight_through(kind):
    """Shadow-weight gradients equal a float cell's gradients at the quantized values."""
    g = torch.Generator().manual_seed(0)
    qcell = CELL[kind].from_torch(torch_layer(kind), quantizer="ternary_stochastic", generator=g).train()
    x, _, _ = data()
    out, _ = qcell(x)
    out.pow(2).sum().backward()
    g.manual_seed(0)
    eff = qcell.effective_parameters()
    fcell = CELL[kind].from_torch(torch_layer(kind))
    with torch.no_grad():
        for name in eff:
            getattr(fcell, name).copy_(eff[name])
    fcell(x)[0].pow(2).sum().backward()
    for name in eff:
        shadow = getattr(qcell, name)
        assert shadow.grad is not None and shadow.grad.abs().sum() > 0, name
        torch.testing.assert_close(shadow.grad, getattr(fcell, name).grad, rtol=0, atol=1e-12)


def test_stochastic_forward_is_reproducible_and_deterministic_in_eval():
    x, _, _ = data()

    def run(seed, train):
        cell = QuantGRU.from_torch(torch_layer("gru"), quantizer="exponential_stochastic",
                                   generator=torch.Generator().manual_seed(seed))
        return cell.train(train)(x)[0]

    assert torch.equal(run(1, True), run(1, True)) and not torch.equal(run(1, True), run(2, True))
    assert torch.equal(run(1, False), run(2, False))


def test_clip_shadow_weights():
    stack = QuantStack("lstm", I, H, num_layers=2, quantizer="exponential", bias_quantizer=None,
                       dtype=torch.float64)
    model = nn.Sequential(stack)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e4)
    clip_shadow_weights_(model)
    for layer in stack.layers:
        assert layer.weight_ih.abs().max() == 2.0 ** 9 and layer.weight_hh.abs().max() == 2.0 ** 9
        assert layer.bias_ih.abs().max() > 2.0 ** 9  # not quantized, so not clipped
    cell = QuantRNN(I, H, quantizer="ternary")
    assert cell.weight_hh.abs().max() <= glorot_bound(H, H)  # initialisation is clipped too


# -- batch norm ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["input", "input_product"])
def test_batch_norm_on_input_path_only(where):
    cell = QuantGRU.from_torch(torch_layer("gru"), batch_norm=where).train()
    x, _, _ = data()
    got, _ = cell(x)
    # Reference: the same statistics (over batch and time) applied by hand, recurrence untouched.
    fcell = QuantGRU.from_torch(torch_layer("gru"))
    if where == "input":
        xn = (x - x.mean((0, 1))) / torch.sqrt(x.var((0, 1), unbiased=False) + cell.bn.eps)
        want, _ = fcell(xn)
        assert cell.bn.num_features == I
    else:
        wx = x @ fcell.weight_ih.t()
        wxn = (wx - wx.mean((0, 1))) / torch.sqrt(wx.var((0, 1), unbiased=False) + cell.bn.eps)
        # Feed the normalised product through an identity input matrix of a wider cell.
        with torch.no_grad():
            fcell = QuantGRU(3 * H, H, dtype=torch.float64)
            fcell.weight_ih.copy_(torch.eye(3 * H))
            fcell.weight_hh.copy_(cell.weight_hh)
            fcell.bias_ih.copy_(cell.bias_ih)
            fcell.bias_hh.copy_(cell.bias_hh)
        want, _ = fcell(wxn)
        assert cell.bn.num_features == 3 * H
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


# -- argument checking ---------------------------------------------------------------------------


def test_argument_errors():
    with pytest.raises(ValueError, match="activation must be one of"):
        QuantGRU(I, H, activation="soft")
    with pytest.raises(ValueError, match="batch_norm must be"):
        QuantGRU(I, H, batch_norm="recurrent")
    with pytest.raises(ValueError, match=r"input must be \(batch, time, 4\)"):
        QuantGRU(I, H)(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="initial state is a pair"):
        QuantLSTM(I, H)(torch.zeros(2, 3, I), torch.zeros(2, H))
    with pytest.raises(ValueError, match="initial state has shape"):
        QuantRNN(I, H)(torch.zeros(2, 3, I), torch.zeros(3, H))
    with pytest.raises(TypeError, match="QuantGRU loads a GRU"):
        QuantGRU.from_torch(torch_layer("lstm"))
    with pytest.raises(ValueError, match="unknown quantizer"):
        QuantRNN(I, H, quantizer="quinary")
