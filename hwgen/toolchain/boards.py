"""Boards a bitstream can be built for: their device target, pins and clock."""

from __future__ import annotations

from dataclasses import dataclass

from .targets import TargetError


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    target: str  # the device target the board carries
    pcf: str  # pin constraints, a file in rtl_templates/
    clock_mhz: float
    baud: int = 115200

    @property
    def divisor(self) -> int:
        """UART clock cycles per bit."""
        return round(self.clock_mhz * 1e6 / self.baud)


BOARDS = {b.name: b for b in (
    Board("icebreaker", "1BitSquared iCEBreaker: iCE40UP5K-SG48, 12 MHz clock, UART over its FTDI chip",
          "ice40-up5k", "icebreaker.pcf", 12.0),
)}


def get_board(name: str) -> Board:
    if name not in BOARDS:
        raise TargetError(f"unknown board {name!r}; valid boards: {', '.join(BOARDS)}")
    return BOARDS[name]
