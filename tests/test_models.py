"""hwgen.models: the one model reader of `build` and `sim` decides by content, not by name."""

from __future__ import annotations

import re
import shutil

import pytest

from hwgen.models import ModelError, load_model, model_kind
from hwgen.qmodel_file import save, to_text
from hwgen.spec.random_qmodel import random_qmodel


def test_kind_comes_from_the_content_not_the_name(tmp_path):
    import torch
    from torch import nn

    q = random_qmodel("rnn", hidden=2, inputs=4, code="binary", act="hard", width=8, seed=1)
    save(q, tmp_path / "model.bin")
    torch.save({"state_dict": nn.GRU(4, 3, batch_first=True).state_dict(), "config": {"input": "features"}},
               tmp_path / "looks.json")
    assert model_kind(tmp_path / "model.bin") == "qmodel"
    assert model_kind(tmp_path / "looks.json") == "checkpoint"
    got, report = load_model(tmp_path / "model.bin")
    assert report is None and to_text(got) == to_text(q)
    from hwgen.export import ExportOptions

    said = []
    exported, report = load_model(tmp_path / "looks.json", say=said.append, export_options=ExportOptions(
        quantize="ternary", dataset="synthetic-seq", calib_limit=40, eval_limit=0))
    assert report is not None and exported.layers[0].kind == "gru" and said and "exporting" in said[0]


@pytest.mark.parametrize("content, message", [
    (b"hello", "neither a QModel file (JSON from `hwgen export`) nor a torch checkpoint"),
    (None, "no such file"),
])
def test_what_is_neither_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "m.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=re.escape(message)):
        load_model(path)


def test_sim_and_build_read_a_renamed_qmodel_alike(tmp_path):
    from hwgen.cli.build import load_model as build_load
    from sim.cli import load_qmodel

    q = random_qmodel("rnn", hidden=2, inputs=4, code="binary", act="hard", width=8, seed=1)
    save(q, tmp_path / "a.qmodel.json")
    shutil.copy(tmp_path / "a.qmodel.json", tmp_path / "renamed.pt")
    assert to_text(load_qmodel(str(tmp_path / "renamed.pt"))) == to_text(q)
    assert to_text(build_load(str(tmp_path / "renamed.pt"), lambda m: None)[0]) == to_text(q)
