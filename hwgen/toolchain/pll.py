"""The iCE40 PLL (SB_PLL40_PAD, simple feedback): which clocks it makes from a board's oscillator.

A board's oscillator (the iCEBreaker's 12 MHz) is slower than the designs it carries can run, so
the board top clocks them from the PLL instead. The search is icestorm's ``icepll``'s, restricted
to clocks the PLL makes exactly and on which the UART's bit time is a whole number of cycles (the
bridge counts cycles per bit): ``fout = fin / (DIVR + 1) * (DIVF + 1) / 2**DIVQ`` with the phase
detector at 10-133 MHz, the VCO at 533-1066 MHz and the output at 16-275 MHz (the iCE40 sysCLOCK
PLL's limits). Frequencies are handled in hertz as integers, so "exactly" means exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

PFD_HZ = (10_000_000, 133_000_000)
VCO_HZ = (533_000_000, 1_066_000_000)
OUT_HZ = (16_000_000, 275_000_000)


@dataclass(frozen=True)
class PllConfig:
    """One SB_PLL40_PAD setting: ``fin_hz`` in, ``fout_hz`` out."""

    fin_hz: int
    divr: int
    divf: int
    divq: int

    @property
    def pfd_hz(self) -> Fraction:
        return Fraction(self.fin_hz, self.divr + 1)

    @property
    def fout_hz(self) -> Fraction:
        return self.pfd_hz * (self.divf + 1) / (1 << self.divq)

    @property
    def filter_range(self) -> int:
        """The loop filter setting icepll gives for the phase detector's frequency."""
        pfd = self.pfd_hz / 1_000_000
        return next((r for r, top in enumerate((17, 26, 44, 66, 101), 1) if pfd < top), 6)

    def parameters(self) -> dict[str, object]:
        """The primitive's parameters (``p_`` keyword names for Amaranth's ``Instance``)."""
        return {"p_FEEDBACK_PATH": "SIMPLE", "p_PLLOUT_SELECT": "GENCLK", "p_DIVR": self.divr,
                "p_DIVF": self.divf, "p_DIVQ": self.divq, "p_FILTER_RANGE": self.filter_range}

    def to_json(self) -> dict:
        return {"in_mhz": self.fin_hz / 1e6, "out_mhz": float(self.fout_hz) / 1e6, "divr": self.divr,
                "divf": self.divf, "divq": self.divq, "filter_range": self.filter_range}


def settings(fin_hz: int):
    """Every valid simple-feedback setting for an input of ``fin_hz``, as icepll scans them."""
    for divr in range(16):
        pfd = Fraction(fin_hz, divr + 1)
        if not PFD_HZ[0] <= pfd <= PFD_HZ[1]:
            continue
        for divf in range(128):
            if not VCO_HZ[0] <= pfd * (divf + 1) <= VCO_HZ[1]:
                continue
            for divq in range(1, 7):
                config = PllConfig(fin_hz, divr, divf, divq)
                if OUT_HZ[0] <= config.fout_hz <= OUT_HZ[1]:
                    yield config


def exact(fin_hz: int, fout_hz: int) -> PllConfig | None:
    """The setting that makes exactly ``fout_hz`` (the first icepll's order finds), or None."""
    return next((c for c in settings(fin_hz) if c.fout_hz == fout_hz), None)


def uart_clocks(fin_hz: int, baud: int, max_hz: float) -> list[PllConfig]:
    """Settings whose clock is at most ``max_hz`` and a whole number (4 or more) of ``baud``'s
    bit times, fastest first; one per clock."""
    found: dict[Fraction, PllConfig] = {}
    for config in settings(fin_hz):
        f = config.fout_hz
        if f <= max_hz and f % baud == 0 and f // baud >= 4 and f not in found:
            found[f] = config
    return [found[f] for f in sorted(found, reverse=True)]
