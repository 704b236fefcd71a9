"""The Python API as users call it: the example of docs/python-api.md run as written, and each
name against the stage it fronts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hwgen

ROOT = Path(__file__).resolve().parents[1]
UNTRAINED = ROOT / "examples" / "char-gru-untrained.qmodel.json"


def test_the_documented_example_runs(tmp_path):
    code = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "python-api.md").read_text(), re.S).group(1)
    code = code.replace('"examples/', f'"{ROOT}/examples/')
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    prediction, figures = r.stdout.splitlines()[-2:]
    assert len(prediction) == len("the_stock_market_")
    cycles, lut4 = map(int, figures.split())
    assert cycles > 0 and lut4 > 0 and (tmp_path / "build" / "api" / "hwgen_top.v").exists()


def test_import_hwgen_stays_light():
    code = "import sys, hwgen; print(sorted(m for m in ('torch', 'amaranth', 'numpy', 'ray') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_the_names_front_their_stages(tmp_path):
    from hwgen.qmodel_file import load
    from hwgen.spec import golden

    model = hwgen.load(UNTRAINED)
    assert model == load(UNTRAINED) and isinstance(model, hwgen.QModel)
    ids = np.array([[1, 2, 3, 4]])
    assert np.array_equal(hwgen.golden(model, ids).outputs, golden.run(model, ids).outputs)
    vocab = model.input.vocab
    text = "".join(vocab[i] for i in (1, 2, 3, 4))
    assert np.array_equal(hwgen.golden(model, text).outputs, golden.run(model, ids).outputs)
    assert hwgen.predict(model, text) == "".join(vocab[i] for i in golden.run(model, ids).argmax()[0])
    plan = hwgen.plan(model, lanes=3)
    assert isinstance(plan, hwgen.DesignPlan) and plan.params == hwgen.DesignParams(lanes=3, output="logits",
                                                                                   multipliers=1)
    assert hwgen.describe(model)["name"] == model.name
    hwgen.save(model, tmp_path / "copy.qmodel.json")
    assert load(tmp_path / "copy.qmodel.json") == model
    with pytest.raises(ValueError, match="lanes must be at least 1, not 0"):
        hwgen.plan(model, lanes=0)


def test_simulate_checks_the_design_against_the_golden_model(tmp_path):
    summary = hwgen.simulate(hwgen.load(UNTRAINED), lanes=4, sequences=2, max_len=6, folder=tmp_path)
    assert summary["mismatches"] == 0 and summary["steps"] >= 2


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="has no attribute 'compile'"):
        hwgen.compile
