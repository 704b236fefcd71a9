"""`hwgen sim`: refusals (no simulator needed), and a run on the shipped example."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwgen.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "char-gru-untrained.qmodel.json"


@pytest.mark.parametrize("argv, message", [
    (["sim", "nope.qmodel.json"], "nope.qmodel.json: no such file"),
    (["sim", str(EXAMPLE), "--sequences", "0"], "--sequences >= 1"),
    (["sim", str(EXAMPLE), "--min-len", "5", "--max-len", "2"], "--min-len <= --max-len"),
    (["sim", str(EXAMPLE), "--idle", "1.5"], "probabilities in [0, 1)"),
])
def test_refusals(capsys, argv, message):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("hwgen: error: ") and message in err


def test_unknown_simulator_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["sim", str(EXAMPLE), "--sim", "xsim"])
    assert "invalid choice: 'xsim'" in capsys.readouterr().err


def test_model_pt_is_exported_first(tmp_path):
    from test_export import make_pt

    from hwgen.spec.ir import QModel
    from sim.cli import load_qmodel

    said = []
    qm = load_qmodel(str(make_pt(tmp_path / "m.pt", "gru", {"name": "pow2_ternary"})), say=said.append)
    assert isinstance(qm, QModel) and said and "exporting" in said[0]
