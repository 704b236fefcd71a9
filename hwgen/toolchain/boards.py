"""Boards a bitstream can be built for: their device target, pins and oscillator, and the clock a
board top runs at (the oscillator, or the PLL's output from it) with the UART's divisor at it."""

from __future__ import annotations

from dataclasses import dataclass

from .pll import Ecp5Pll, Ice40Pll, exact, settings
from .targets import TargetError

#: the UART's default rate: the iCEBreaker's FT2232H runs 3 Mbaud (up to 12), 26x 115,200
DEFAULT_BAUD = 3_000_000
#: how far the bit time may be off the host's (8N1 framing tolerates about 4% end to end)
BAUD_TOLERANCE = 0.01
#: the fastest clock auto chooses, as a share of the design's measured median Fmax
CLOCK_MARGIN = 0.9


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    targets: tuple[str, ...]  # the device targets the board comes with (the first is the default)
    pins: str  # pin constraints, a file in rtl_templates/ (.pcf for iCE40, .lpf for ECP5)
    oscillator_hz: int  # the clock pin's frequency
    pll: str | None = "ice40"  # the family of the PLL the clock pin reaches (pll.SEARCHES), None: none
    led: str = "led_n"  # the overrun LED's port: led_n lit low, led lit high
    default_baud: int = DEFAULT_BAUD


@dataclass(frozen=True)
class BoardClock:
    """The clock a board top runs at (``pll`` None: the oscillator itself) and its UART."""

    hz: int
    pll: Ice40Pll | Ecp5Pll | None
    baud: int

    @property
    def mhz(self) -> float:
        return self.hz / 1e6

    @property
    def divisor(self) -> int:
        """UART clock cycles per bit."""
        return round(self.hz / self.baud)

    @property
    def baud_error(self) -> float:
        """The bridge's bit rate against ``baud``, relative."""
        return self.hz / self.divisor / self.baud - 1

    def to_json(self) -> dict:
        return {"clock_mhz": self.mhz, "baud": self.baud, "uart_divisor": self.divisor,
                "baud_error": round(self.baud_error, 6), "pll": None if self.pll is None else self.pll.to_json()}


BOARDS = {b.name: b for b in (
    Board("icebreaker", "1BitSquared iCEBreaker: iCE40UP5K-SG48, 12 MHz oscillator into the PLL, UART over its "
          "FT2232H", ("ice40-up5k",), "icebreaker.pcf", 12_000_000),
    # The FT231X's rates are 3 MHz / n; 1 Mbaud is a whole number of cycles of the 25 MHz
    # oscillator (25) and of every PLL clock in whole MHz (3 Mbaud would be 8.33 of the oscillator).
    Board("ulx3s", "Radiona ULX3S: ECP5 LFE5U-25F/45F/85F (CABGA381), 25 MHz oscillator into the PLL, UART over "
          "its FT231X", ("ecp5-25k", "ecp5-45k", "ecp5-85k"), "ulx3s.lpf", 25_000_000, pll="ecp5", led="led",
          default_baud=1_000_000),
)}


def get_board(name: str) -> Board:
    if name not in BOARDS:
        raise TargetError(f"unknown board {name!r}; valid boards: {', '.join(BOARDS)}")
    return BOARDS[name]


def _usable(clock: BoardClock) -> bool:
    return clock.divisor >= 4 and abs(clock.baud_error) <= BAUD_TOLERANCE


def clocks(board: Board, baud: int, max_hz: float) -> list[BoardClock]:
    """Every clock up to ``max_hz`` the board top can run at with the UART at ``baud`` (at least
    4 cycles a bit, within :data:`BAUD_TOLERANCE`), fastest first: the PLL's exact outputs and
    the oscillator itself (preferred at equal speed: no PLL)."""
    found = {board.oscillator_hz: BoardClock(board.oscillator_hz, None, baud)}
    if board.pll is not None:
        for config in settings(board.oscillator_hz, board.pll):
            f = config.fout_hz
            if f.denominator == 1 and int(f) not in found:
                found[int(f)] = BoardClock(int(f), config, baud)
    return [c for hz, c in sorted(found.items(), reverse=True) if hz <= max_hz and _usable(c)]


def fixed_clock(board: Board, baud: int, mhz: float) -> BoardClock:
    """The clock asked for with ``--board-clock MHZ``, or :class:`TargetError` naming why not and
    the nearest ones that work."""
    hz = round(mhz * 1e6)
    if hz == board.oscillator_hz:
        clock = BoardClock(hz, None, baud)
    else:
        config = exact(board.oscillator_hz, hz, board.pll) if board.pll is not None else None
        clock = None if config is None else BoardClock(hz, config, baud)
    if clock is not None and _usable(clock):
        return clock
    near = sorted(clocks(board, baud, 1e12), key=lambda c: abs(c.hz - hz))[:4]
    why = (f"hwgen drives no PLL on it: its clock is the {board.oscillator_hz / 1e6:g} MHz oscillator"
           if board.pll is None else
           f"the PLL cannot make it from the {board.oscillator_hz / 1e6:g} MHz oscillator" if clock is None else
           f"a UART at {baud:,} baud needs a clock of at least 4 cycles a bit within {BAUD_TOLERANCE:.0%}")
    raise TargetError(f"--board-clock {mhz:g} MHz does not work on {board.name}: {why}; nearest that do: "
                      + ", ".join(f"{c.mhz:g}" for c in sorted(near, key=lambda c: c.hz)) + " MHz")
