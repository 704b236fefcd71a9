"""The board step of a build (``--bitstream --board B``): the board top's clock, its packing and
placement, and the end-to-end rate through the UART.

The board top is the design behind the UART bridge, clocked from the board's oscillator through
the PLL. ``--board-clock auto`` runs it at the fastest clock the PLL makes (with a whole number of
cycles per UART bit) under :data:`~hwgen.toolchain.boards.CLOCK_MARGIN` of the design's median
Fmax over the placement seeds; the board top is then placed aiming at that clock and, if its own
Fmax falls short, once more at the fastest clock under what it reached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .toolchain.boards import CLOCK_MARGIN, Board, BoardClock, clocks, fixed_clock
from .toolchain.tools import ToolError
from .toolchain.uart_bridge import payload_bytes

Say = Callable[[str], None]


class BoardClockError(ToolError):
    """The board top does not reach the clock it was to run at."""


def baud(board: Board, options) -> int:
    """The UART's rate: ``--baud``, else the board's own default."""
    return options.baud if options.baud is not None else board.default_baud


def board_clock(board: Board, options, fmax_mhz: float | None) -> BoardClock:
    """The clock asked for (``options.board_clock_mhz``), else the fastest under the margin of
    ``fmax_mhz`` (None before anything is placed: of the ``--freq`` goal)."""
    rate = baud(board, options)
    if options.board_clock_mhz is not None:
        return fixed_clock(board, rate, options.board_clock_mhz)
    reach = CLOCK_MARGIN * (fmax_mhz if fmax_mhz is not None else options.freq_mhz) * 1e6
    return (clocks(board, rate, reach) or clocks(board, rate, board.oscillator_hz))[0]


def synthesize(make_design, board: Board, target, clock: BoardClock, staging: Path, say: Say) -> dict:
    """The board top at ``clock`` synthesized and packed (:class:`~hwgen.toolchain.pack.Unplaceable`
    when it does not fit): the packed resources."""
    from .toolchain.bitstream import synthesize_board

    say(f"synthesizing the {board.name} board top at {clock.mhz:g} MHz (UART bridge, {clock.baud:,} baud) "
        "and packing it")
    for name in ("board_netlist.json", "board.asc", "board.config", "board_pnr.json"):
        (staging / name).unlink(missing_ok=True)
    return synthesize_board(make_design(), board, target, clock, staging, say)


def place(make_design, plan, board: Board, target, options, staging: Path, say: Say, clock: BoardClock,
          packed: dict, fmax_mhz: float | None) -> dict:
    """Places the synthesized board top (``clock``, ``packed``), steps the clock down once if it
    falls short (auto only), and returns the report's ``bitstream`` entry less its file."""
    from .toolchain.bitstream import place_board

    for attempt in (1, 2):
        say(f"placing and routing the {board.name} board top at {clock.mhz:g} MHz "
            f"({packed['lc'][0]:,} of {packed['lc'][1]:,} logic cells)")
        reached = place_board(board, target, clock, staging, packed, say)
        if reached >= clock.mhz:
            return entry(board, clock, reached, packed, plan, fmax_mhz)
        slower = [c for c in clocks(board, clock.baud, reached * 1e6) if c.hz < clock.hz]
        if options.board_clock_mhz is not None or attempt == 2 or not slower:
            break
        say(f"the board top reaches {reached:.1f} MHz, under {clock.mhz:g} MHz: again at {slower[0].mhz:g} MHz")
        clock = slower[0]
        packed = synthesize(make_design, board, target, clock, staging, say)
    raise BoardClockError(
        f"the {board.name} board top reaches {reached:.1f} MHz, under its {clock.mhz:g} MHz clock "
        f"(log: {staging / 'logs' / 'nextpnr_board.log'}); options: a lower --board-clock, fewer lanes (--lanes), "
        "a smaller model")


def entry(board: Board, clock: BoardClock, reached: float, packed: dict, plan, fmax_mhz: float | None) -> dict:
    return {"board": board.name, "fmax_mhz": round(reached, 2), **clock.to_json(),
            "oscillator_mhz": board.oscillator_hz / 1e6, "logic_cells": packed["lc"][0],
            **({"design_fmax_mhz": fmax_mhz} if fmax_mhz is not None else {}),
            "link": link_rates(clock, plan)}


def link_rates(clock: BoardClock, plan) -> dict:
    """Time steps per second end to end: the UART moves ``10 * bytes`` bits a step each way (start,
    8 data, stop; full duplex), the design ``cycles_per_step`` cycles a step at the clock. A host
    that keeps two steps in flight (docs/board.md) gets the slower of the two; one that waits for
    each answer adds them, with the design's latency."""
    bytes_in, bytes_out = payload_bytes(plan.input_width), payload_bytes(plan.output_width)
    link = clock.baud / (10 * max(bytes_in, bytes_out))
    design = clock.hz / plan.cycles_per_step
    wait = 10 * (bytes_in + bytes_out) / clock.baud + plan.latency / clock.hz
    return {"bytes_in": bytes_in, "bytes_out": bytes_out, "link_steps_per_second": round(link, 1),
            "design_steps_per_second": round(design, 1), "steps_per_second": round(min(link, design), 1),
            "one_at_a_time_steps_per_second": round(1 / wait, 1)}
