"""Simulating a whole board top (UART bridge and design, the PLL bypassed) under Icarus or
Verilator: sim/board_bench.py's host model on its pins, the answers checked byte for byte against
the golden model. Used by the tests and bench/board_link.py.

The board top is simulated at the UART divisor it runs at on the board, so the clock cycles the
host waits per step, times the board clock, are the end-to-end rate the board gives.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from .runner import TIMESCALE, VERILATOR_ARGS, _runner, _simulator_env, environment, find_simulator, icarus_source

TOP = "hwgen_board"
#: the simulated top: the board top under a module whose inputs are defined from time 0 (cocotb
#: drives a top's input ports only after time 0, and Icarus lets their X into registers)
BENCH_TOP = "hwgen_board_bench"
WRAPPER = f"""// the board top under defined inputs (sim/board.py): written by the simulation, do not edit.
module {BENCH_TOP};
  reg clk = 1'b0;
  reg rx = 1'b1;
  wire tx, led_n;
  {TOP} board (.clk(clk), .rx(rx), .tx(tx), .led_n(led_n));
endmodule
"""


def host_bytes(qmodel, plan, steps: int, sequences: int, seed: int) -> dict:
    """The host's side of a run: the weights image (if the design loads one), each step's input
    payload and the answer the golden model says must come back, as bytes (least significant
    first, docs/board.md). ``sequences`` sequences of ``steps`` steps, one after the other."""
    from hwgen.expected import expected_outputs
    from hwgen.generator.code_memory import load_image
    from hwgen.generator.interface import input_format, output_format
    from hwgen.spec.stimulus import random_inputs
    from hwgen.toolchain.uart_bridge import payload_bytes

    inputs = random_inputs(qmodel, np.random.default_rng(seed), (sequences, steps))
    first = np.zeros((sequences, steps), bool)
    first[:, 0] = True
    expected = expected_outputs(qmodel, plan.params.output, inputs, first)
    fin, fout = input_format(qmodel), output_format(qmodel, plan.params.output)
    nin, nout = payload_bytes(fin.width), payload_bytes(fout.width)
    sent, answers = [], []
    for b in range(sequences):
        for t in range(steps):
            sent.append(list(fin.pack(inputs[b, t], first[b, t]).to_bytes(nin, "little")))
            answers.append(list(fout.pack(expected[b, t], first[b, t]).to_bytes(nout, "little")))
    load = [byte for w in load_image(qmodel, plan) for byte in w.to_bytes(2, "little")] if plan.loaded else []
    return {"load": load, "steps": sent, "expected": answers}


def simulate_board(qmodel, plan, divisor: int, *, sim: str = "icarus", steps: int = 8, sequences: int = 2,
                   seed: int = 0, ahead: int = 2, clock_ns: int = 10, workdir: Path | None = None) -> dict:
    """Runs the board top of ``plan`` (UART ``divisor`` cycles per bit) with the host keeping
    ``ahead`` steps in flight; returns the bench's summary (``steps``, ``mismatches``, ``cycles``)
    plus ``cycles_per_step``. Raises RuntimeError when the run fails (a mismatch among them)."""
    from hwgen.build import make_design
    from hwgen.generator.emit import rtlil_to_verilog, to_rtlil
    from hwgen.toolchain.uart_bridge import BoardTop

    find_simulator(sim)
    work = Path(tempfile.mkdtemp(prefix="hwgen-board-", dir=workdir))
    source = work / f"{TOP}.v"
    verilog = rtlil_to_verilog(to_rtlil(BoardTop(make_design(qmodel, plan), divisor), TOP))
    source.write_text(icarus_source(verilog) if sim == "icarus" else verilog)
    wrapper = work / f"{BENCH_TOP}.v"
    wrapper.write_text(WRAPPER)
    result = work / "result.json"
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps({**host_bytes(qmodel, plan, steps, sequences, seed), "divisor": divisor,
                                     "clock_ns": clock_ns, "ahead": ahead, "result": str(result),
                                     "cycles_per_step": plan.cycles_per_step}))
    runner = _runner(sim, None, public=BENCH_TOP)
    try:
        with environment(HWGEN_BOARD_PLAN=str(plan_path)), _simulator_env(sim):
            runner.build(sources=[source, wrapper], hdl_toplevel=BENCH_TOP, build_dir=work / "build", timescale=TIMESCALE,
                         build_args=list(VERILATOR_ARGS) if sim == "verilator" else [], always=True,
                         log_file=work / "build.log")
            runner.test(test_module="sim.board_bench", hdl_toplevel=BENCH_TOP, hdl_toplevel_lang="verilog",
                        build_dir=work / "build", test_dir=work, timescale=TIMESCALE,
                        results_xml=str(work / "results.xml"), log_file=work / "sim.log")
    except (SystemExit, RuntimeError):
        pass  # the summary (or its absence) tells what happened
    try:
        summary = json.loads(result.read_text())
    except (OSError, ValueError):
        raise RuntimeError(f"the board simulation wrote no summary; log: {work / 'sim.log'}") from None
    summary["cycles_per_step"] = summary["cycles"] / max(1, summary["steps"])
    if summary["steps"] != summary["sent"] or summary["mismatches"] or summary["overrun"]:
        raise RuntimeError(f"the board simulation failed: {json.dumps(summary)[:800]}; log: {work / 'sim.log'}")
    return summary
