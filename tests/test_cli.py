"""The `hwgen` command line: inspect, golden, and how it refuses bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwgen import __version__
from hwgen.spec import golden
from hwgen.cli import main
from hwgen.qmodel_file import load, save
from hwgen.spec.random_qmodel import random_qmodel

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "char-gru-untrained.qmodel.json"


def test_version_from_the_installed_console_script():
    hwgen = Path(sys.executable).with_name("hwgen")
    out = subprocess.run([str(hwgen), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"hwgen {__version__}"


def test_inspect_json_describes_the_example(capsys):
    assert main(["inspect", str(EXAMPLE), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    m = load(EXAMPLE)
    assert d["input"] == {"kind": "embedding", "vocab": 50, "dim": 16, "fmt": "s16.13"}
    w_hh = d["layers"][0]["w_hh"]
    assert w_hh["shape"] == [96, 32] and w_hh["bits_per_weight"] == 4  # sign + 3 bits for 5 levels
    assert sum(w_hh["histogram"].values()) == 96 * 32
    assert w_hh["histogram"]["0"] == int(np.count_nonzero(m.layers[0].w_hh.q == 0))
    assert w_hh["memory_bits"] == 4 * 96 * 32
    assert d["signals"]["L0.h"] == {"frac": 14, "width": 16}


def test_inspect_prints_tables(capsys):
    assert main(["inspect", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "layer 0: gru 16 → 32" in out and "±2^-4" in out and "L0.acc_n" in out


def test_golden_on_text_predicts_one_char_per_input_char(capsys, tmp_path):
    text = "hello world"
    npz = tmp_path / "out.npz"
    assert main(["golden", str(EXAMPLE), "--text", text, "--save-outputs", str(npz)]) == 0
    out = capsys.readouterr().out
    assert "predicted next chars" in out
    saved = np.load(npz)
    m = load(EXAMPLE)
    expected = golden.run(m, saved["inputs"]).outputs
    np.testing.assert_array_equal(saved["outputs"], expected)
    assert saved["inputs"].shape == (1, len(text))
    assert "".join(m.input.vocab[i] for i in saved["inputs"][0]) == text


def test_golden_on_random_features(capsys):
    assert main(["golden", str(EXAMPLE), "--batch", "3", "--steps", "5"]) == 0
    assert "3 sequence(s) × 5 steps" in capsys.readouterr().out


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("hwgen: error: ")
    return err


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("{not json", "invalid JSON at line 1"),
    ('{"format": "something-else"}', "not a QModel"),
    ('{"format": "hwgen-qmodel", "version": 99}', "version 99 is not supported"),
])
def test_bad_model_files_give_one_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / "m.qmodel.json"
    if content is not None:
        path.write_text(content)
    assert main(["inspect", str(path)]) == 1
    assert message in one_error_line(capsys)


def test_invalid_codes_in_file_name_the_field(tmp_path, capsys):
    data = json.loads(EXAMPLE.read_text())
    data["layers"][0]["w_hh"]["q"][0][1] = 3  # not a power of two
    path = tmp_path / "bad.qmodel.json"
    path.write_text(json.dumps(data))
    assert main(["golden", str(path)]) == 1
    err = one_error_line(capsys)
    assert "layers[0].w_hh" in err and "code 3 at [0, 1]" in err


def test_text_outside_vocabulary_and_text_on_feature_model(tmp_path, capsys):
    assert main(["golden", str(EXAMPLE), "--text", "HELLO"]) == 1
    assert "outside the model's vocabulary" in one_error_line(capsys)
    path = save(random_qmodel("gru", 4, inputs=3, seed=0), tmp_path / "f.qmodel.json")
    assert main(["golden", str(path), "--text", "abc"]) == 1
    assert "needs a model with an embedding input" in one_error_line(capsys)
    assert main(["golden", str(path), "--steps", "0"]) == 1
    assert "must be positive" in one_error_line(capsys)


def test_example_file_is_what_its_script_makes(tmp_path, monkeypatch):
    """The shipped example is reproducible byte for byte from its script."""
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import make_untrained_example as script
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(script, "__file__", str(tmp_path / "make_untrained_example.py"))
    made = script.main()
    assert made.read_bytes() == EXAMPLE.read_bytes()


def test_histogram_labels_name_the_weight_values():
    from hwgen.spec.ir import CodeKind, FixedArray, WeightCodes
    from hwgen.spec.summary import code_histogram

    q = np.array([[1, 0, -1], [1, 1, 0]])
    assert code_histogram(WeightCodes(CodeKind.TERNARY, q, exp=-1)) == {"0": 2, "±2^-1": 4}
    scaled = WeightCodes(CodeKind.TERNARY, q, exp=0, scale=FixedArray(np.array([3, 5]), 3))
    assert code_histogram(scaled) == {"0": 2, "±2^0·scale": 4}
    pow2 = WeightCodes(CodeKind.POW2, np.array([[1, -2, 4, 0]]), exp=-3, span=2)
    assert code_histogram(pow2) == {"0": 1, "±2^-3": 1, "±2^-2": 1, "±2^-1": 1}


def test_the_parser_imports_neither_torch_nor_the_generator():
    """`hwgen --version` and `--help` build the parser only: it must not pull in torch or Amaranth
    (seconds and hundreds of MB; the time itself is measured by hand, not in a test)."""
    import subprocess
    import sys

    code = ("import sys; from hwgen.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'amaranth', 'hwgen.generator', 'hwgen.export') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
