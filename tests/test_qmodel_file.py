"""hwgen.qmodel_file: exact round trips, readable text, precise errors, atomic save."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from hwgen import qmodel_file
from hwgen.spec.activation import hard_activation
from hwgen.spec.fixedpoint import Fmt
from hwgen.spec.ir import thaw
from hwgen.spec.ir import FeatureInput, FixedArray, LayerFormats, QModel, RecurrentLayer, WeightCodes
from hwgen.qmodel_file import QModelFileError, digest, from_dict, load, save, to_dict, to_text
from hwgen.spec.random_qmodel import random_qmodel

KINDS = ["rnn", "gru", "lstm"]
CODES = ["binary", "ternary", "pow2", "fixed"]
ACTS = ["hard", "table"]


@pytest.mark.parametrize("outputs", [None, 3], ids=["no-out", "out"])
@pytest.mark.parametrize("vocab", [None, 6], ids=["features", "embedding"])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(tmp_path, kind, code, act, vocab, outputs):
    m = random_qmodel(kind, (4, 3), 3, vocab=vocab, outputs=outputs, code=code, act=act, seed=7)
    p = save(m, tmp_path / "m.qmodel.json")
    assert p == tmp_path / "m.qmodel.json"
    text = p.read_bytes()
    back = load(p)
    assert back == m and m == back
    # field-level checks, independent of __eq__ (which compares texts)
    assert back.name == m.name and dict(back.meta) == dict(m.meta)
    for la, lb in zip(m.layers, back.layers):
        assert lb.kind == la.kind and lb.formats == la.formats
        assert np.array_equal(lb.w_ih.q, la.w_ih.q) and np.array_equal(lb.w_hh.q, la.w_hh.q)
        assert (lb.w_ih.kind, lb.w_ih.exp, lb.w_ih.span) == (la.w_ih.kind, la.w_ih.exp, la.w_ih.span)
        assert np.array_equal(lb.b_ih.values, la.b_ih.values) and lb.b_ih.frac == la.b_ih.frac
        assert (la.w_ih.scale is None) == (lb.w_ih.scale is None)
        if la.w_ih.scale is not None:
            assert np.array_equal(lb.w_ih.scale.values, la.w_ih.scale.values)
        for name, a in la.activations.items():
            b = lb.activations[name]
            assert (b.func, b.impl, b.out, b.range_log2) == (a.func, a.impl, a.out, a.range_log2)
            assert (a.values is None and b.values is None) or np.array_equal(a.values, b.values)
    assert type(back.input) is type(m.input)
    if vocab:
        assert np.array_equal(back.input.table, m.input.table)
    assert (back.output is None) == (outputs is None)
    if outputs:
        assert np.array_equal(back.output.w.q, m.output.w.q) and back.output.out == m.output.out
    # byte-identical after a second save; digest stable and equal to the file's SHA-256
    p2 = save(back, tmp_path / "again.json")
    assert p2.read_bytes() == text
    assert to_text(back) == to_text(m) == text.decode("utf-8")
    assert digest(back) == digest(m) == hashlib.sha256(text).hexdigest()
    assert from_dict(json.loads(text)) == m


def test_equality_detects_a_difference():
    a = random_qmodel("gru", 4, 3, seed=1)
    b = random_qmodel("gru", 4, 3, seed=2)
    assert a != b and digest(a) != digest(b)
    assert a == random_qmodel("gru", 4, 3, seed=1)
    assert a != "not a model"


def test_embedding_vocab_and_meta_round_trip(tmp_path):
    m = random_qmodel("rnn", 4, 3, vocab=3, seed=0)
    m = QModel(type(m.input)(m.input.table, m.input.fmt, ["é", "b c", "\"q\""]), m.layers, None,
               name="ünïcode model", meta={"z": 1, "a": [1.5, None, "x"], "n": {"k": True}})
    back = load(save(m, tmp_path / "m.json"))
    assert back == m
    assert back.input.vocab == ("é", "b c", "\"q\"")
    assert back.name == "ünïcode model"
    assert thaw(back.meta) == {"a": [1.5, None, "x"], "n": {"k": True}, "z": 1}


def small_model() -> QModel:
    fin, st, pre = Fmt(8, 5), Fmt(8, 6), Fmt(8, 3)
    layer = RecurrentLayer(
        "rnn", 3, 2,
        w_ih=WeightCodes("ternary", [[1, 0, -1], [-1, 1, 0]]),
        w_hh=WeightCodes("ternary", [[0, 1], [1, -1]]),
        b_ih=FixedArray([3, -4], 6), b_hh=FixedArray([0, 1], 6),
        formats=LayerFormats(fin, st, pre), cand_act=hard_activation("tanh", st),
    )
    return QModel(FeatureInput(3, fin), (layer,), name="small", meta={"k": "v"})


def test_text_is_human_readable():
    text = to_text(small_model())
    lines = [line.strip() for line in text.splitlines()]
    # one matrix row per line
    assert "[1,0,-1]," in lines and "[-1,1,0]" in lines
    assert "[0,1]," in lines and "[1,-1]" in lines
    # formats as s8.5 strings, scalars readable, vectors on one line
    assert '"input": "s8.5",' in lines
    assert '"kind": "rnn",' in lines
    assert '"values": [3,-4]' in lines
    assert '"format": "hwgen-qmodel",' in lines
    assert '"version": 1,' in lines
    assert text.endswith("}\n")
    assert json.loads(text)["layers"][0]["w_ih"]["q"] == [[1, 0, -1], [-1, 1, 0]]


# ------------------------------------------------------------------ bad files


def write(path, data) -> str:
    path.write_text(json.dumps(data, indent=1) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


@pytest.fixture
def good() -> dict:
    return to_dict(random_qmodel("gru", 3, 2, outputs=2, code="ternary", seed=3))


def load_error(path) -> str:
    with pytest.raises(QModelFileError) as info:
        load(path)
    msg = str(info.value)
    assert str(path) in msg
    return msg


def test_good_dict_loads(tmp_path, good):
    assert load(write(tmp_path / "ok.json", good)) == from_dict(good)


def test_missing_file(tmp_path):
    p = tmp_path / "nope.json"
    assert "no such file" in load_error(p)


def test_invalid_json(tmp_path):
    p = write(tmp_path / "bad.json", '{\n "format": "hwgen-qmodel",\n "version": 1,,\n}')
    msg = load_error(p)
    assert "not a QModel file (invalid JSON at line 3" in msg


def test_not_an_object(tmp_path):
    msg = load_error(write(tmp_path / "list.json", [1, 2]))
    assert "qmodel: expected an object, got list" in msg


def test_wrong_format_name(tmp_path, good):
    good["format"] = "onnx"
    assert "field 'format' must be 'hwgen-qmodel'" in load_error(write(tmp_path / "f.json", good))
    del good["format"]
    assert "field 'format' must be 'hwgen-qmodel'" in load_error(write(tmp_path / "g.json", good))


def test_unsupported_version(tmp_path, good):
    good["version"] = 2
    msg = load_error(write(tmp_path / "v.json", good))
    assert "version 2 is not supported" in msg and "reads version 1" in msg


def test_missing_field(tmp_path, good):
    del good["layers"][0]["w_hh"]
    msg = load_error(write(tmp_path / "m.json", good))
    assert "layers[0]" in msg and "missing field 'w_hh'" in msg
    good2 = to_dict(random_qmodel("gru", 3, 2, seed=3))
    del good2["layers"][0]["formats"]["state"]
    msg = load_error(write(tmp_path / "m2.json", good2))
    assert "layers[0].formats: missing field 'state'" in msg
    good3 = to_dict(random_qmodel("gru", 3, 2, seed=3))
    del good3["version"]
    assert "missing field 'version'" in load_error(write(tmp_path / "m3.json", good3))


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda d: d.update(version="1"), "qmodel.version: expected int, got str"),
        (lambda d: d["layers"][0].update(hidden_size="3"), "layers[0].hidden_size: expected int, got str"),
        (lambda d: d["layers"][0].update(hidden_size=True), "layers[0].hidden_size: expected int, got bool"),
        (lambda d: d["layers"][0].update(hidden_size=3.0), "layers[0].hidden_size: expected int, got float"),
        (lambda d: d["layers"][0]["w_ih"].update(q="[[1]]"), "layers[0].w_ih.q: expected list, got str"),
        (lambda d: d["layers"][0]["w_ih"].update(exp=0.5), "layers[0].w_ih.exp: expected int, got float"),
        (lambda d: d["layers"][0].update(formats=[]), "layers[0].formats: expected dict, got list"),
        (lambda d: d.update(layers={}), "qmodel.layers: expected list, got dict"),
        (lambda d: d["layers"].__setitem__(0, 5), "layers[0]: expected an object, got int"),
        (lambda d: d["input"].update(kind="pixels"), "input.kind: unknown input stage 'pixels'"),
        (lambda d: d.update(name=5), "qmodel.name: expected str, got int"),
        (lambda d: d.update(meta=[]), "qmodel.meta: expected dict, got list"),
    ],
)
def test_wrong_type(tmp_path, good, edit, expected):
    edit(good)
    assert expected in load_error(write(tmp_path / "t.json", good))


@pytest.mark.parametrize("bad, why", [("x16.14", "cannot read fixed-point format 'x16.14'"),
                                      ("s40.3", "format width 40 is outside [2, 32]"),
                                      ("s16.99", "format frac 99 is outside [-64, 64]")])
def test_bad_format_string(tmp_path, good, bad, why):
    good["layers"][0]["formats"]["state"] = bad
    msg = load_error(write(tmp_path / "fmt.json", good))
    assert "layers[0].formats.state" in msg and why in msg
    good["layers"][0]["formats"]["state"] = "s16.14"
    good["output"]["out"] = bad
    msg = load_error(write(tmp_path / "fmt2.json", good))
    assert "output.out" in msg and why in msg


def test_invalid_code_in_file(tmp_path, good):
    good["layers"][0]["w_ih"]["q"][0][1] = 2
    msg = load_error(write(tmp_path / "code.json", good))
    assert "layers[0].w_ih" in msg and "code 2 at [0, 1]: ternary codes must be -1, 0 or +1" in msg


def test_invalid_kind_and_shape_in_file(tmp_path, good):
    good["layers"][0]["w_hh"]["kind"] = "quaternary"
    assert "layers[0].w_hh: unknown weight code kind 'quaternary'" in load_error(write(tmp_path / "k.json", good))
    good["layers"][0]["w_hh"]["kind"] = "ternary"
    good["layers"][0]["b_ih"]["values"].append(0)
    assert "layers[0]: b_ih: shape" in load_error(write(tmp_path / "s.json", good))


def test_ir_rule_broken_in_file(tmp_path, good):
    good["input"]["size"] = 5
    msg = load_error(write(tmp_path / "size.json", good))
    assert "layers[0]: input_size 2, but the input stage gives 5" in msg


def test_missing_cand_act_in_file(tmp_path, good):
    good["layers"][0]["cand_act"] = None
    msg = load_error(write(tmp_path / "cand.json", good))
    assert "layers[0]" in msg and "cand_act" in msg


def test_absurd_exponent_in_file(tmp_path, good):
    good["layers"][0]["w_ih"]["exp"] = -(2 ** 63)
    msg = load_error(write(tmp_path / "exp.json", good))
    assert "layers[0]" in msg


def test_errors_are_value_errors():
    assert issubclass(QModelFileError, ValueError)


# ------------------------------------------------------------------ atomic save


def test_save_replaces_leftover_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "model.json"
    target.write_text("old, half-written junk")
    m = small_model()
    save(m, target)
    assert sorted(os.listdir(tmp_path)) == ["model.json"]
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert load(target) == m
    save(m, str(target))  # str paths too, overwriting the previous save
    assert sorted(os.listdir(tmp_path)) == ["model.json"]


def test_failed_save_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    target = tmp_path / "model.json"
    target.write_text("previous version")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(qmodel_file.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save(small_model(), target)
    assert target.read_text() == "previous version"
    assert sorted(os.listdir(tmp_path)) == ["model.json"]
