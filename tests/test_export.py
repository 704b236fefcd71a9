"""hwgen export / eval: codes, formats, round trips, plain torch models, and every refusal."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from hwgen.spec import golden
from hwgen.cli import main
from hwgen.export import ExportError, ExportOptions, export_model
from hwgen.export import floatnet
from hwgen.export.codes import window_clamp, MatrixInfo
from hwgen.export.load import load_source
from hwgen.export.source import float_net
from hwgen.spec.ir import CodeKind, WeightCodes
from hwgen.qmodel_file import load, save
from train.checkpoint import make_checkpoint, save_checkpoint
from train.model import RecurrentModel

FAST = ExportOptions(calib_limit=400, eval_limit=0)
VOCAB = 27  # synthetic-text


def make_pt(path, cell="gru", quantizer=None, hidden=(8,), embed=0, batch_norm=False, features=None, seed=0,
            activation="hard"):
    """An untrained (seeded) hwgen model.pt for synthetic-text, or synthetic-seq with ``features``."""
    from train.datasets import load_dataset

    torch.manual_seed(seed)
    if features:
        inp, out, task, ds = {"kind": "features", "size": features}, 2, "classify", "synthetic-seq"
    else:
        inp, out, task, ds = {"kind": "embedding", "vocab_size": VOCAB, "dim": embed}, VOCAB, "lm", "synthetic-text"
    model = RecurrentModel({"input": inp, "cell": cell, "hidden": list(hidden), "activation": activation,
                            "quantizer": quantizer, "batch_norm": batch_norm, "output_size": out})
    if batch_norm:  # non-trivial running statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(-1.5, 1.5)
    vocab = load_dataset("synthetic-text", limit=10).vocab if not features else None
    ckpt = make_checkpoint(model.eval(), task=task, vocab=vocab, extra={"dataset": {"name": ds, "limit": None}})
    save_checkpoint(path, ckpt)
    return path


def assert_round_trip(qm, tmp_path, x):
    f = tmp_path / "rt.qmodel.json"
    save(qm, f)
    back = load(f)
    assert back == qm
    np.testing.assert_array_equal(golden.run(back, x).outputs, golden.run(qm, x).outputs)


TOKENS = np.random.default_rng(0).integers(0, VOCAB, (3, 17))


@pytest.mark.parametrize("cell,quantizer", [
    ("gru", {"name": "ternary"}),
    ("lstm", {"name": "exponential", "k_min": -6, "k_max": 0}),
    ("rnn", {"name": "pow2_ternary", "i": 0, "f": 1}),
    ("gru", {"name": "pow2_ternary", "i": 1, "f": 3}),
    ("gru", None),
])
def test_export_round_trips_and_golden_tracks_float(tmp_path, cell, quantizer):
    pt = make_pt(tmp_path / "m.pt", cell, quantizer, hidden=(8, 6) if cell == "gru" else (8,))
    r = export_model(pt, FAST)
    qm = r.qmodel
    assert_round_trip(qm, tmp_path, TOKENS)
    # The exported codes are the trained quantizer's levels (scales up to their rounding).
    ref = float_net(r.source, quantized=True)
    got = floatnet.from_qmodel(qm)
    tol = 2 ** -8 if r.report["scale"]["mode"] == "fixed" else 0.0
    atol = 2.0 ** (qm.layers[0].w_hh.exp - 1) if quantizer is None else 0.0  # 8-bit mantissas
    np.testing.assert_allclose(got.layers[0].w_hh, ref.layers[0].w_hh, rtol=tol, atol=atol)
    # The golden model stays close to the float model with the same weights at 16 bits.
    y_gold = qm.out_fmt.to_float(golden.run(qm, TOKENS).outputs)
    y_float = floatnet.run(got, TOKENS)[0].numpy()
    assert np.max(np.abs(y_gold - y_float)) < 0.02


def test_floatnet_equals_the_training_model(tmp_path):
    pt = make_pt(tmp_path / "m.pt", "lstm", {"name": "ternary"}, hidden=(8, 8), embed=5, batch_norm="input_product")
    src = load_source(pt)
    with torch.no_grad():
        want = src.model(torch.as_tensor(TOKENS))[0].double().numpy()
    got = floatnet.run(float_net(src, quantized=True), TOKENS)[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_hard_activations_agree_everywhere():
    from hwgen.spec.activation import HARD_REFERENCE
    from hwgen.spec.ir import ActFunc
    from train.cells import hard_sigmoid, hard_tanh

    x = torch.linspace(-5, 5, 1001, dtype=torch.float64)
    sig, tanh = floatnet.ACTS["hard"]
    for mine, theirs, ref in ((sig, hard_sigmoid, ActFunc.SIGMOID), (tanh, hard_tanh, ActFunc.TANH)):
        assert torch.equal(mine(x), theirs(x))
        np.testing.assert_array_equal(mine(x).numpy(), HARD_REFERENCE[ref](x.numpy()))


def test_scale_modes(tmp_path):
    pt = make_pt(tmp_path / "m.pt", "gru", {"name": "ternary"})
    auto = export_model(pt, FAST).report["scale"]
    assert set(auto["rms_output_error"]) == {"fixed", "pow2"}
    assert auto["mode"] == min(auto["rms_output_error"], key=auto["rms_output_error"].get)
    pow2 = export_model(pt, ExportOptions(calib_limit=400, eval_limit=0, scale="pow2")).qmodel
    fixed = export_model(pt, ExportOptions(calib_limit=400, eval_limit=0, scale="fixed")).qmodel
    assert pow2.layers[0].w_hh.scale is None and pow2.layers[0].w_hh.exp == round(np.log2(np.sqrt(6 / 16)))
    s = fixed.layers[0].w_hh.scale
    assert s is not None and abs(s.to_float()[0] - np.sqrt(6 / 16)) < 2 ** -8


def test_exponent_window_clamps_and_counts():
    w = WeightCodes(CodeKind.POW2, np.array([[1, -2, 4, 0], [8, 16, -1, 2]]), -4, 4)  # 2^-4 .. 2^0
    info = MatrixInfo("exponential")
    out = window_clamp(w, (-3, -1), info, "w")
    assert info.flushed == 2 and info.clamped_high == 1
    np.testing.assert_array_equal(out.to_float(), [[0, -2 ** -3, 2 ** -2, 0], [2 ** -1, 2 ** -1, 0, 2 ** -3]])
    shrunk = window_clamp(w, None, MatrixInfo("x"), "w")
    np.testing.assert_array_equal(shrunk.to_float(), w.to_float())
    with pytest.raises(ExportError, match="sets every weight of this matrix to zero"):
        window_clamp(w, (3, 5), MatrixInfo("x"), "layer 0 weight_hh")


def test_batch_norm_input_folds_into_the_table_and_refuses_deeper(tmp_path):
    pt = make_pt(tmp_path / "m.pt", "gru", {"name": "pow2_ternary"}, hidden=(8,), batch_norm="input")
    r = export_model(pt, FAST)
    src = r.source
    with torch.no_grad():
        want = src.model(torch.as_tensor(TOKENS))[0].double().numpy()
    got = floatnet.run(floatnet.from_qmodel(r.qmodel), TOKENS)[0].numpy()
    assert np.max(np.abs(got - want)) < 0.01  # only the table's rounding to the input format
    pt2 = make_pt(tmp_path / "m2.pt", "gru", {"name": "pow2_ternary"}, hidden=(8, 8), batch_norm="input")
    with pytest.raises(ExportError, match="layer 1 normalises its input with BatchNorm"):
        export_model(pt2, FAST)


def test_feature_model_with_input_batch_norm_is_a_host_affine(tmp_path):
    pt = make_pt(tmp_path / "m.pt", "lstm", {"name": "ternary"}, features=4, batch_norm="input")
    r = export_model(pt, ExportOptions(calib_limit=64, eval_limit=64))
    assert "input_affine" in r.qmodel.meta
    acc = r.report["accuracy"]
    assert acc["metric"] == "accuracy" and abs(acc["golden"] - acc["float_exported_codes"]) <= 0.05


def test_format_overrides_and_saturation(tmp_path):
    pt = make_pt(tmp_path / "m.pt", "gru", {"name": "ternary"})
    r = export_model(pt, ExportOptions(calib_limit=400, eval_limit=0, width=12,
                                       formats=["L0.preact=s8.7", "out=10"]))
    f = r.qmodel.layers[0].formats
    assert str(f.preact) == "s8.7" and r.qmodel.output.out.width == 10 and f.state.width == 12
    rows = {row["signal"]: row for row in r.report["formats"]}
    assert rows["L0.preact"]["rule"] == "override" and rows["L0.preact"]["saturating"] >= 0
    with pytest.raises(ExportError, match="unknown signal 'L3.state'"):
        export_model(pt, ExportOptions(calib_limit=400, eval_limit=0, formats=["L3.state=s16.8"]))


# ---------------------------------------------------------------------------- plain torch


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 6)
        self.rnn = nn.GRU(6, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, VOCAB)


def test_plain_torch_gru_with_quantize(tmp_path):
    from train.datasets import load_dataset

    torch.manual_seed(1)
    m = TinyLM()
    vocab = list(load_dataset("synthetic-text", limit=10).vocab)
    pt = tmp_path / "plain.pt"
    torch.save({"state_dict": m.state_dict(), "config": {"vocab": vocab, "dataset": "synthetic-text"}}, pt)
    with pytest.raises(ExportError, match="choose a post-training quantizer with --quantize"):
        export_model(pt, FAST)
    r = export_model(pt, ExportOptions(calib_limit=400, eval_limit=300, quantize="pow2-ternary"))
    assert r.qmodel.layers[0].kind == "gru" and r.qmodel.input.vocab == tuple(vocab)
    assert r.qmodel.layers[0].cand_act.impl.value == "table"  # torch.nn's smooth activations
    assert any("post-training quantization" in w for w in r.report["warnings"])
    assert "ptq_drop" in r.report["accuracy"]
    assert_round_trip(r.qmodel, tmp_path, TOKENS)
    # The float model at full precision is torch.nn itself.
    with torch.no_grad():
        want = m.head(m.rnn(m.emb(torch.as_tensor(TOKENS)))[0]).double().numpy()
    got = floatnet.run(float_net(r.source, quantized=False), TOKENS)[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_bare_lstm_state_dict_of_features(tmp_path):
    torch.manual_seed(2)
    lstm = nn.LSTM(4, 6, batch_first=True)
    pt = tmp_path / "bare.pt"
    torch.save(lstm.state_dict(), pt)
    r = export_model(pt, ExportOptions(calib_limit=32, eval_limit=0, quantize="fixed:1.6", dataset="synthetic-seq"))
    assert r.qmodel.output is None and r.qmodel.layers[0].w_ih.kind is CodeKind.FIXED
    r = export_model(pt, ExportOptions(calib_limit=32, eval_limit=0, quantize="exponential",
                                       dataset="synthetic-seq", exp_window=(-5, -1)))
    w = r.qmodel.layers[0].w_hh
    assert w.kind is CodeKind.POW2 and (w.exp, w.span) == (-5, 4)


# ---------------------------------------------------------------------------- the CLI


def test_cli_export_then_eval(tmp_path, capsys):
    pt = make_pt(tmp_path / "m.pt", "gru", {"name": "ternary"})
    out = tmp_path / "m.qmodel.json"
    assert main(["export", str(pt), "-o", str(out), "--calib-limit", "400", "--eval-limit", "300"]) == 0
    text = capsys.readouterr().out
    assert "formats" in text and "golden model" in text and "total weight memory" in text
    report = json.loads((tmp_path / "m.export.json").read_text())
    assert report["weights"]["L0.w_hh"]["histogram"] and report["accuracy"]["metric"] == "bpc"
    assert load(out).meta["source"]["file"] == "m.pt"
    js = tmp_path / "eval.json"
    assert main(["eval", str(out), "--limit", "300", "--quiet", "--json", str(js)]) == 0
    figures = json.loads(js.read_text())
    assert abs(figures["golden"] - figures["float_exported_codes"]) < 0.02
    assert {"float_quantized", "float_full_precision"} <= set(figures)


def _refused(tmp_path, capsys, argv, message):
    out = tmp_path / "x.qmodel.json"
    assert main(["export", *argv, "-o", str(out), "--calib-limit", "200", "--eval-limit", "0", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "x.export.json").exists()
    assert not list(tmp_path.glob(".x.*"))  # no temporary file left behind


def test_refuses_missing_file(tmp_path, capsys):
    _refused(tmp_path, capsys, [str(tmp_path / "nope.pt")], "no such file")


def test_refuses_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    p = tmp_path / "junk.pt"
    p.write_text("hello")
    _refused(tmp_path, capsys, [str(p)], "not a torch checkpoint")


def test_refuses_a_checkpoint_of_another_kind(tmp_path, capsys):
    p = tmp_path / "opt.pt"
    torch.save({"state": {}, "param_groups": [{"lr": 0.1}]}, p)
    _refused(tmp_path, capsys, [str(p)], "not a model checkpoint hwgen reads")
    p2 = tmp_path / "conv.pt"
    torch.save(nn.Conv1d(2, 3, 3).state_dict(), p2)
    _refused(tmp_path, capsys, [str(p2), "--quantize", "ternary"], "no torch.nn.RNN/GRU/LSTM weights found")


def test_refuses_missing_keys(tmp_path, capsys):
    ck = torch.load(make_pt(tmp_path / "m.pt"), weights_only=True)
    del ck["config"]
    torch.save(ck, tmp_path / "m.pt")
    _refused(tmp_path, capsys, [str(tmp_path / "m.pt")], "missing keys ['config']")
    sd = nn.GRU(4, 8, batch_first=True).state_dict()
    del sd["weight_hh_l0"]
    torch.save(sd, tmp_path / "p.pt")
    _refused(tmp_path, capsys, [str(tmp_path / "p.pt"), "--quantize", "ternary", "--dataset", "synthetic-seq"],
             "missing key 'weight_hh_l0'")


def test_refuses_shapes_that_disagree(tmp_path, capsys):
    ck = torch.load(make_pt(tmp_path / "m.pt"), weights_only=True)
    ck["state_dict"]["output.weight"] = torch.zeros(VOCAB, 9)
    torch.save(ck, tmp_path / "m.pt")
    _refused(tmp_path, capsys, [str(tmp_path / "m.pt")], "state_dict does not fit the config")
    m = TinyLM()
    sd = m.state_dict()
    sd["head.weight"] = torch.zeros(VOCAB, 7)
    torch.save(sd, tmp_path / "p.pt")
    _refused(tmp_path, capsys, [str(tmp_path / "p.pt"), "--quantize", "ternary", "--dataset", "synthetic-text"],
             "the linear layer has shape (27, 7)")


def test_refuses_nan_weights(tmp_path, capsys):
    ck = torch.load(make_pt(tmp_path / "m.pt"), weights_only=True)
    ck["state_dict"]["stack.layers.0.weight_hh"][0, 0] = float("nan")
    torch.save(ck, tmp_path / "m.pt")
    _refused(tmp_path, capsys, [str(tmp_path / "m.pt")], "holds NaN or infinite values")
    sd = nn.GRU(4, 8, batch_first=True).state_dict()
    sd["weight_ih_l0"][1, 1] = float("inf")
    torch.save(sd, tmp_path / "p.pt")
    _refused(tmp_path, capsys, [str(tmp_path / "p.pt"), "--quantize", "ternary", "--dataset", "synthetic-seq"],
             "holds NaN or infinite values")


def test_refuses_weights_outside_the_declared_quantizer(tmp_path, capsys):
    gru = nn.GRU(4, 8, batch_first=True)
    with torch.no_grad():
        for p in gru.parameters():
            p.copy_(torch.round(p * 2).clamp(-1, 1) / 2)  # {-0.5, 0, 0.5}
    sd = gru.state_dict()
    cfg = {"quantizer": {"name": "pow2_ternary", "i": 0, "f": 1}, "dataset": "synthetic-seq"}
    torch.save({"state_dict": sd, "config": cfg}, tmp_path / "ok.pt")
    assert export_model(tmp_path / "ok.pt", ExportOptions(calib_limit=32, eval_limit=0)).qmodel
    sd["weight_hh_l0"][2, 3] = 0.3
    torch.save({"state_dict": sd, "config": cfg}, tmp_path / "p.pt")
    _refused(tmp_path, capsys, [str(tmp_path / "p.pt")], "weight_hh: value 0.3 at [2, 3] is not one of the declared")


def test_refuses_an_exponent_window_that_zeros_a_matrix(tmp_path, capsys):
    pt = make_pt(tmp_path / "m.pt", "gru", {"name": "exponential", "k_min": -8, "k_max": 0})
    _refused(tmp_path, capsys, [str(pt), "--exp-window", "3:5"], "sets every weight of this matrix to zero")


def test_refuses_bad_options(tmp_path, capsys):
    pt = make_pt(tmp_path / "m.pt")
    _refused(tmp_path, capsys, [str(pt), "--width", "2"], "--width 2")
    _refused(tmp_path, capsys, [str(pt), "--quantize", "ternary"], "--quantize is for plain torch models")
    _refused(tmp_path, capsys, [str(pt), "--format", "L0.state"], "expected SIGNAL=FORMAT")


def test_eval_needs_the_same_checkpoint_or_says_what_is_missing(tmp_path, capsys):
    pt = make_pt(tmp_path / "m.pt", "gru", {"name": "pow2_ternary"})
    out = tmp_path / "m.qmodel.json"
    assert main(["export", str(pt), "-o", str(out), "--calib-limit", "300", "--eval-limit", "0", "--quiet"]) == 0
    make_pt(pt, "gru", {"name": "pow2_ternary"}, seed=5)  # the checkpoint changes under the QModel
    capsys.readouterr()
    assert main(["eval", str(out), "--limit", "200", "--quiet"]) == 1
    assert "has changed since this QModel was exported" in capsys.readouterr().err
    pt.unlink()
    assert main(["eval", str(out), "--limit", "200", "--quiet"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # rich wraps at 80 columns
    assert "is not there" in text and "golden model" in text and "full precision" not in text
    assert main(["eval", str(out), "--limit", "200", "--dataset", "synthetic-seq", "--quiet"]) == 1
    assert "features per step" in capsys.readouterr().err
