"""A model trained with the ott2016 preset builds and is bit-exact: smooth units become activation
tables of the chosen depth, the input BatchNorm folds into the input table, the one bias per gate
and the full-precision output layer become fixed-point codes; the generated design equals the
golden model in Amaranth's simulator (every cell) and under Icarus (a GRU). The export report
states each table's error and block-RAM cost, and a deeper table is more accurate.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwgen.export import ExportOptions, export_model
from hwgen.generator import build_design
from sim import runner
from sim.designs import DesignParams, golden_spec, qmodel_design
from train import trainer
from train.trainer import TrainSettings, model_config_for

from design_harness import check_exact, random_stimulus, simulate


_trained: dict = {}


def trained(cell: str, tmp_path_factory, text_data):
    """A small model trained for a few steps with the default (ott2016) preset, once per cell."""
    if cell not in _trained:
        cfg = model_config_for(text_data, cell=cell, hidden=[6], quantizer="ternary", preset="ott2016")
        out = tmp_path_factory.mktemp(f"preset-{cell}") / "m.pt"
        s = TrainSettings(dataset="synthetic-text", limit=3000, steps=30, batch=8, bptt=20,
                          eval_every=30, lr=0.02, patience=0)
        trainer.train(cfg, s, out, data=text_data, plot=False)
        _trained[cell] = out
    return _trained[cell]


def _export(path, bits):
    return export_model(path, ExportOptions(dataset="synthetic-text", calib_limit=2000, eval_limit=1500,
                                            act_table_bits=bits))


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_preset_model_is_bit_exact_in_amaranth(cell, tmp_path_factory, text_data):
    r = _export(trained(cell, tmp_path_factory, text_data), 7)
    q = r.qmodel
    for layer in q.layers:
        for act in layer.activations.values():
            assert act.impl.value == "table" and len(act.values) == 128
    assert q.output is not None and q.output.w.kind.value == "fixed"  # the float output layer's codes
    rng = np.random.default_rng(3)
    x, first = random_stimulus(q, rng, 12)
    run = simulate(build_design(q, lanes=3), q, None, x, first, rng=rng, in_gap=0.3, out_gap=0.3)
    check_exact(q, None, x, first, run)


def test_preset_gru_is_bit_exact_under_icarus(need_simulator, sim_build_root, tmp_path_factory, text_data):
    need_simulator("icarus")
    q = _export(trained("gru", tmp_path_factory, text_data), 9).qmodel
    design, qpath = qmodel_design(q, DesignParams(style="folded", lanes=3), sim_build_root / "designs")
    ref = golden_spec(qpath, None, sequences=3, min_len=2, max_len=10, seed=5,
                      cycles_per_step=design.cycles_per_step)
    result = runner.run(design, "icarus", ref, seed=5, root=sim_build_root, idle=0.2, backpressure=0.2)
    assert result.ok, "\n" + result.describe()
    assert result.summary["mismatches"] == 0 and result.summary["steps"] > 0


def test_table_depth_is_a_choice_with_its_error_and_block_ram_in_the_report(tmp_path_factory, text_data):
    path = trained("gru", tmp_path_factory, text_data)
    rows = {bits: {a["unit"]: a for a in _export(path, bits).report["activations"]} for bits in (6, 8, 10)}
    assert set(rows[8]) == {"L0.gate_act", "L0.cand_act"}
    for unit in rows[8]:
        a6, a8, a10 = rows[6][unit], rows[8][unit], rows[10][unit]
        assert (a6["entries"], a8["entries"], a10["entries"]) == (64, 256, 1024)
        # the error bound falls with depth (about 4x per two bits: half the step, twice)
        assert a10["error_lsb"] < a8["error_lsb"] < a6["error_lsb"]
        assert a8["error_lsb"] / a10["error_lsb"] > 3
        # 16-bit words: 256 per iCE40 4-Kbit block RAM; an ECP5 18-Kbit one takes 1,024 (x18)
        assert a8["out"].startswith("s16") and (a8["rom_bits"], a8["ebr_blocks"]) == (256 * 16, {"ice40": 1, "ecp5": 1})
        assert (a10["rom_bits"], a10["ebr_blocks"]) == (1024 * 16, {"ice40": 4, "ecp5": 1})


def test_act_table_bits_out_of_range_is_refused(tmp_path_factory, text_data, capsys):
    from hwgen.cli import main

    path = trained("gru", tmp_path_factory, text_data)
    out = tmp_path_factory.mktemp("refuse") / "m.qmodel.json"
    assert main(["export", str(path), "-o", str(out), "--act-table-bits", "20", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "--act-table-bits 20" in err and "Traceback" not in err and not out.exists()
