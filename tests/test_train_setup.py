"""The training set-up of issue "accuracy a user can trust": the ott2016 preset and its conflicts,
one bias per gate, BatchNorm's initial scale, torch's fused recurrent kernels against the per-step
loop, the straight-through gradient through them, learning-rate schedules, early stopping,
optimizer groups (weight decay, the reference's Glorot rate scale) and the device check.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from hwgen.cli import main
from train import trainer
from train.model import ConfigError, RecurrentModel
from train.presets import PRESETS, PresetConflict, apply_preset
from train.trainer import TrainSettings, TrainingError, model_config_for, param_groups

SEQ = ["--dataset", "synthetic-seq", "--limit", "96", "--hidden", "6", "--steps", "2", "--quiet"]


# ------------------------------------------------------------------------------------------------
# The preset
# ------------------------------------------------------------------------------------------------


def test_default_config_is_the_reference_setup(text_data):
    cfg = model_config_for(text_data, hidden=[16], quantizer="ternary")
    assert (cfg["activation"], cfg["batch_norm"], cfg["bn_gamma"], cfg["bias"]) == \
        ("smooth", "input", 0.1, "per_gate")
    assert cfg["quantize"]["output"] is False
    model = RecurrentModel.from_config(cfg)
    layer = model.stack.layers[0]
    assert torch.equal(layer.bn.weight.detach(), torch.full((len(text_data.vocab),), 0.1))
    # one bias per gate: b_ih is quantized with the input side's W0, b_hh is a frozen zero
    assert not layer.bias_hh.requires_grad and torch.count_nonzero(layer.bias_hh) == 0
    assert layer.quantizers["bias_hh"] is None
    assert layer.quantizers["bias_ih"] == layer.quantizers["weight_ih"]
    assert set(model.codes()) == {"stack.layers.0.weight_ih", "stack.layers.0.weight_hh",
                                  "stack.layers.0.bias_ih"}


def test_flags_change_the_default_but_contradict_a_named_preset(text_data):
    assert model_config_for(text_data, hidden=[4], activation="hard")["activation"] == "hard"
    with pytest.raises(ConfigError, match="activation hard contradicts --preset ott2016, which sets smooth"):
        model_config_for(text_data, hidden=[4], preset="ott2016", activation="hard")
    # "the output layer in full precision unless asked": asking is no contradiction
    cfg = model_config_for(text_data, hidden=[4], preset="ott2016", quantize={"output": True})
    assert cfg["quantize"]["output"] is True
    with pytest.raises(PresetConflict, match="bias pair contradicts --preset ott2016"):
        apply_preset("ott2016", {"bias": "pair"})
    assert apply_preset("hard", {"bias": "pair"}) == PRESETS["hard"]  # the same value is fine


@pytest.mark.parametrize("args, message", [
    (["--preset", "ott2016", "--activation", "hard"],
     "--activation hard contradicts --preset ott2016, which sets smooth"),
    (["--preset", "ott2016", "--batch-norm", "off"], "--batch-norm off contradicts --preset ott2016"),
    (["--preset", "hard", "--no-quantize-output"],
     "--quantize-output / --no-quantize-output off contradicts --preset hard, which sets on"),
    (["--preset", "hard", "--bias", "per_gate"], "--bias per_gate contradicts --preset hard"),
    (["--device", "cuda:7"], "--device cuda:7:"),
    (["--device", "meta"], "hwgen trains on cpu or cuda, not meta"),
    (["--device", "tpu"], "device 'tpu' is not a device; use cpu or cuda"),
    (["--patience", "-1"], "patience must be an integer >= 0"),
    (["--lr-factor", "1.5"], "lr_factor must lie strictly between 0 and 1"),
])
def test_cli_refusals(tmp_path, capsys, args, message):
    assert main(["train", *SEQ, *args, "--out", str(tmp_path / "m.pt")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("hwgen: error: ") and "\n" not in err and message in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_cuda_without_gpu_is_one_clear_error():
    with pytest.raises(TrainingError, match="torch sees no CUDA GPU here .*use --device cpu"):
        trainer.check_device("cuda")


def test_cli_preset_hard_trains_everything_quantized(tmp_path):
    out = tmp_path / "m.pt"
    assert main(["train", *SEQ, "--preset", "hard", "--quantizer", "ternary", "--out", str(out)]) == 0
    cfg = torch.load(out, weights_only=True)["config"]
    assert (cfg["activation"], cfg["batch_norm"], cfg["bias"], cfg["quantize"]["output"]) == \
        ("hard", False, "pair", True)


# ------------------------------------------------------------------------------------------------
# Fused kernels against the per-step loop
# ------------------------------------------------------------------------------------------------


def _loss(layer, x, y, steps: bool):
    out, _ = layer.forward_steps(x) if steps else layer(x)
    return torch.nn.functional.mse_loss(out, y)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("quantizer", [None, {"name": "ternary", "w0": 0.3}, "pow2_ternary",
                                       "exponential"])
@pytest.mark.parametrize("bias", [True, "input"])
def test_fused_and_per_step_paths_agree(cell, quantizer, bias):
    """Same loss on the same batch (float tolerance) and the same gradients on the shadow weights:
    the straight-through gradient passes the fused kernel."""
    from train.cells import CELLS

    torch.manual_seed(1)
    layer = CELLS[cell](5, 7, quantizer=quantizer, bias=bias, batch_norm="input", bn_gamma=0.1)
    layer.train()
    assert layer.fused
    x, y = torch.randn(4, 9, 5), torch.randn(4, 9, 7)
    grads = []
    for steps in (False, True):
        layer.zero_grad()
        torch.manual_seed(2)
        loss = _loss(layer, x, y, steps)
        loss.backward()
        grads.append((loss.item(), {n: p.grad.clone() for n, p in layer.named_parameters()
                                    if p.requires_grad}))
    (fused_loss, fused_g), (step_loss, step_g) = grads
    assert math.isclose(fused_loss, step_loss, rel_tol=1e-5)
    assert fused_g.keys() == step_g.keys() and {"weight_ih", "weight_hh", "bias_ih"} <= set(fused_g)
    for name in fused_g:
        assert torch.allclose(fused_g[name], step_g[name], rtol=1e-4, atol=1e-6), name
        assert torch.count_nonzero(fused_g[name]) > 0, f"{name}: no gradient reached it"


def test_straight_through_gradient_through_the_kernel_equals_the_float_one():
    """The quantizer's backward is the identity: the shadow weights' gradient equals the gradient
    of a float layer that holds the quantized values."""
    from train.cells import QuantGRU

    torch.manual_seed(3)
    q = QuantGRU(4, 6, quantizer="ternary")
    f = QuantGRU(4, 6)
    with torch.no_grad():
        for name, t in q.effective_parameters(training=False).items():
            getattr(f, name).copy_(t)
    x = torch.randn(3, 5, 4)
    for layer in (q, f):
        layer(x)[0].square().sum().backward()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert torch.allclose(getattr(q, name).grad, getattr(f, name).grad, atol=1e-6)


def test_hard_and_input_product_layers_use_the_loop():
    from train.cells import QuantGRU

    assert not QuantGRU(3, 4, activation="hard").fused
    assert not QuantGRU(3, 4, batch_norm="input_product").fused
    assert QuantGRU(3, 4).fused


# ------------------------------------------------------------------------------------------------
# Schedules, early stopping, optimizer groups
# ------------------------------------------------------------------------------------------------


def _settings(**kw):
    return TrainSettings(dataset="synthetic-seq", **kw)


def test_plateau_schedule_cuts_the_rate_and_early_stopping_ends_the_run(tmp_path, seq_data):
    cfg = model_config_for(seq_data, hidden=[6], quantizer="ternary")
    # a rate so small nothing improves: every evaluation after the first is a plateau
    s = _settings(steps=60, batch=16, eval_every=5, lr=1e-6, lr_patience=0, patience=3)
    r = trainer.train(cfg, s, tmp_path / "m.pt", data=seq_data, plot=False)
    assert r.metrics["stopped_early"] and r.steps == 15  # best at 0, then 3 evaluations without
    lrs = [h["lr"] for h in r.history]
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] < lrs[0]  # the rate each evaluation saw
    r2 = trainer.train(cfg, dataclasses.replace(s, patience=0), tmp_path / "n.pt", data=seq_data,
                       plot=False)
    assert not r2.metrics["stopped_early"] and r2.steps == 60


def test_cosine_schedule_decays_to_zero(tmp_path, seq_data):
    cfg = model_config_for(seq_data, hidden=[6])
    s = _settings(steps=20, batch=16, eval_every=10, schedule="cosine", patience=0)
    r = trainer.train(cfg, s, tmp_path / "m.pt", data=seq_data, plot=False)
    lrs = [h["lr"] for h in r.history]
    assert lrs[0] == pytest.approx(2e-3) and lrs[1] == pytest.approx(1e-3) and lrs[2] == pytest.approx(0, abs=1e-12)


def test_resume_continues_the_schedule_and_the_early_stop(tmp_path, seq_data):
    cfg = model_config_for(seq_data, hidden=[6], quantizer="ternary_stochastic")
    s = _settings(steps=60, batch=16, eval_every=5, lr=1e-6, lr_patience=0, patience=3)
    full = trainer.train(cfg, s, tmp_path / "full.pt", data=seq_data, plot=False)
    trainer.train(cfg, dataclasses.replace(s, steps=10), tmp_path / "part.pt", data=seq_data, plot=False)
    resumed = trainer.train(None, s, tmp_path / "part.pt", data=seq_data, resume=True, plot=False)
    assert resumed.steps == full.steps == 15 and resumed.losses == full.losses
    assert [h["lr"] for h in resumed.history] == [h["lr"] for h in full.history]


def test_weight_decay_spares_quantized_tensors_unless_asked(text_data):
    model = RecurrentModel.from_config(model_config_for(text_data, hidden=[8], quantizer="ternary"))
    groups = param_groups(model, _settings(weight_decay=0.1))
    quantized = {id(p) for m in model.stack.layers for n, p in m.named_parameters()
                 if m.quantizers.get(n) is not None}
    for g in groups:
        kinds = {id(p) in quantized for p in g["params"]}
        assert len(kinds) == 1, "a group mixes quantized and full-precision tensors"
        assert g["weight_decay"] == (0.0 if kinds == {True} else 0.1)
    everything = param_groups(model, _settings(weight_decay=0.1, decay_quantized=True))
    assert all(g["weight_decay"] == 0.1 for g in everything)
    n_trainable = sum(1 for p in model.parameters() if p.requires_grad)
    assert sum(len(g["params"]) for g in groups) == n_trainable  # b_hh (frozen) left out


def test_glorot_rate_scale_is_the_reference_w_lr_scale(text_data):
    model = RecurrentModel.from_config(model_config_for(text_data, hidden=[8], quantizer="ternary"))
    v = len(text_data.vocab)
    groups = param_groups(model, _settings(lr=1e-3, lr_scale="glorot"))
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    layer = model.stack.layers[0]
    assert lr_of[id(layer.weight_ih)] == pytest.approx(1e-3 / math.sqrt(1.5 / (v + 8)))
    assert lr_of[id(layer.weight_hh)] == pytest.approx(1e-3 / math.sqrt(1.5 / 16))
    assert lr_of[id(model.output.weight)] == pytest.approx(1e-3)  # float output: unscaled


def test_evaluation_uses_eval_batch_lanes_and_reports_progress(text_data):
    model = RecurrentModel.from_config(model_config_for(text_data, hidden=[8]))
    calls = []
    r = trainer.evaluate(model, text_data, "valid", _settings(eval_batch=4, bptt=10),
                         progress=lambda done, total: calls.append((done, total)))
    lane = len(text_data.valid) // 4
    assert calls[-1][0] == calls[-1][1] == math.ceil((lane - 1) / trainer.EVAL_CHUNK)
    assert r["bpc"] == pytest.approx(r["loss"] / math.log(2))
    # the same lanes evaluated in one call per character give the same figure
    ref = trainer.evaluate(model, text_data, "valid", _settings(eval_batch=4, bptt=lane))
    assert r["bpc"] == pytest.approx(ref["bpc"], rel=1e-5)
