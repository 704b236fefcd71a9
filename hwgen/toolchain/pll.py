"""The PLLs hwgen drives on a board's clock pin, and which clocks each makes from the oscillator.

A board's oscillator (the iCEBreaker's 12 MHz, the ULX3S's 25 MHz) is slower than the designs it
carries can run, so the board top clocks them from the FPGA's PLL instead. Each family's search is
its vendor-neutral tool's, restricted to clocks the PLL makes exactly (frequencies are integer
hertz and :class:`~fractions.Fraction`, so "exactly" means exactly), because the UART bridge counts
whole cycles per bit:

* iCE40 ``SB_PLL40_PAD`` (simple feedback), as icestorm's ``icepll`` searches:
  ``fout = fin / (DIVR + 1) * (DIVF + 1) / 2**DIVQ``, phase detector 10-133 MHz, VCO 533-1066 MHz,
  output 16-275 MHz.
* ECP5 ``EHXPLLL`` (feedback from CLKOP), as prjtrellis's ``ecppll`` searches:
  ``fout = fin / CLKI_DIV * CLKFB_DIV``, VCO ``= fout * CLKOP_DIV`` at 400-800 MHz (the one nearest
  600 MHz preferred), phase detector 3.125-400 MHz, output 10-400 MHz.

This module computes settings only; :class:`~hwgen.toolchain.uart_bridge.BoardTop` instantiates
them (``primitive``, ``parameters()``, ``ports()``), so importing it imports no Amaranth.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

ICE40_PFD_HZ = (10_000_000, 133_000_000)
ICE40_VCO_HZ = (533_000_000, 1_066_000_000)
ICE40_OUT_HZ = (16_000_000, 275_000_000)

ECP5_PFD_HZ = (3_125_000, 400_000_000)
ECP5_VCO_HZ = (400_000_000, 800_000_000)
ECP5_OUT_HZ = (10_000_000, 400_000_000)
ECP5_VCO_PREFERRED_HZ = 600_000_000


@dataclass(frozen=True)
class Ice40Pll:
    """One SB_PLL40_PAD setting: ``fin_hz`` in, ``fout_hz`` out."""

    fin_hz: int
    divr: int
    divf: int
    divq: int

    primitive = "SB_PLL40_PAD"

    @property
    def pfd_hz(self) -> Fraction:
        return Fraction(self.fin_hz, self.divr + 1)

    @property
    def vco_hz(self) -> Fraction:
        return self.pfd_hz * (self.divf + 1)

    @property
    def fout_hz(self) -> Fraction:
        return self.vco_hz / (1 << self.divq)

    @property
    def filter_range(self) -> int:
        """The loop filter setting icepll gives for the phase detector's frequency."""
        pfd = self.pfd_hz / 1_000_000
        return next((r for r, top in enumerate((17, 26, 44, 66, 101), 1) if pfd < top), 6)

    def parameters(self) -> dict[str, object]:
        """The primitive's parameters (``p_`` keyword names for Amaranth's ``Instance``)."""
        return {"p_FEEDBACK_PATH": "SIMPLE", "p_PLLOUT_SELECT": "GENCLK", "p_DIVR": self.divr,
                "p_DIVF": self.divf, "p_DIVQ": self.divq, "p_FILTER_RANGE": self.filter_range}

    @staticmethod
    def ports(pin, out, lock) -> dict[str, object]:
        """``Instance`` ports: the clock pin in, the global clock ``out`` and ``lock`` out."""
        return {"i_PACKAGEPIN": pin, "i_RESETB": 1, "i_BYPASS": 0, "o_PLLOUTGLOBAL": out, "o_LOCK": lock}

    def to_json(self) -> dict:
        return {"primitive": self.primitive, "in_mhz": self.fin_hz / 1e6, "out_mhz": float(self.fout_hz) / 1e6,
                "divr": self.divr, "divf": self.divf, "divq": self.divq, "filter_range": self.filter_range}


@dataclass(frozen=True)
class Ecp5Pll:
    """One EHXPLLL setting (CLKOP fed back): ``fin_hz`` in, ``fout_hz`` out of CLKOP."""

    fin_hz: int
    clki_div: int
    clkfb_div: int
    clkop_div: int

    primitive = "EHXPLLL"

    @property
    def pfd_hz(self) -> Fraction:
        return Fraction(self.fin_hz, self.clki_div)

    @property
    def fout_hz(self) -> Fraction:
        return self.pfd_hz * self.clkfb_div

    @property
    def vco_hz(self) -> Fraction:
        return self.fout_hz * self.clkop_div

    def parameters(self) -> dict[str, object]:
        """The primitive's parameters and the attributes ecppll writes beside them (``a_``: the
        frequencies nextpnr-ecp5 reads, and the loop settings Lattice's tools use)."""
        mhz = lambda hz: f"{float(hz) / 1e6:g}"  # noqa: E731
        return {"a_FREQUENCY_PIN_CLKI": mhz(self.fin_hz), "a_FREQUENCY_PIN_CLKOP": mhz(self.fout_hz),
                "a_ICP_CURRENT": "12", "a_LPF_RESISTOR": "8", "a_MFG_ENABLE_FILTEROPAMP": "1",
                "a_MFG_GMCREF_SEL": "2",
                "p_PLLRST_ENA": "DISABLED", "p_INTFB_WAKE": "DISABLED", "p_STDBY_ENABLE": "DISABLED",
                "p_DPHASE_SOURCE": "DISABLED", "p_OUTDIVIDER_MUXA": "DIVA", "p_CLKOP_ENABLE": "ENABLED",
                "p_CLKI_DIV": self.clki_div, "p_CLKFB_DIV": self.clkfb_div, "p_CLKOP_DIV": self.clkop_div,
                "p_CLKOP_CPHASE": (self.clkop_div - 1) // 2, "p_CLKOP_FPHASE": 0, "p_FEEDBK_PATH": "CLKOP"}

    @staticmethod
    def ports(pin, out, lock) -> dict[str, object]:
        """``Instance`` ports: the clock pin in, CLKOP ``out`` (fed back) and ``lock`` out."""
        return {"i_CLKI": pin, "i_CLKFB": out, "o_CLKOP": out, "i_RST": 0, "i_STDBY": 0, "i_PHASESEL0": 0,
                "i_PHASESEL1": 0, "i_PHASEDIR": 1, "i_PHASESTEP": 1, "i_PHASELOADREG": 1, "i_PLLWAKESYNC": 0,
                "i_ENCLKOP": 0, "o_LOCK": lock}

    def to_json(self) -> dict:
        return {"primitive": self.primitive, "in_mhz": self.fin_hz / 1e6, "out_mhz": float(self.fout_hz) / 1e6,
                "clki_div": self.clki_div, "clkfb_div": self.clkfb_div, "clkop_div": self.clkop_div,
                "vco_mhz": float(self.vco_hz) / 1e6}


def _within(value, limits) -> bool:
    return limits[0] <= value <= limits[1]


def ice40_settings(fin_hz: int):
    """Every valid simple-feedback SB_PLL40_PAD setting for an input of ``fin_hz``, as icepll
    scans them."""
    for divr in range(16):
        if not _within(Fraction(fin_hz, divr + 1), ICE40_PFD_HZ):
            continue
        for divf in range(128):
            for divq in range(1, 7):
                config = Ice40Pll(fin_hz, divr, divf, divq)
                if _within(config.vco_hz, ICE40_VCO_HZ) and _within(config.fout_hz, ICE40_OUT_HZ):
                    yield config


def ecp5_settings(fin_hz: int):
    """One EHXPLLL setting per (CLKI_DIV, CLKFB_DIV) pair that has a valid VCO: the output
    divider whose VCO is nearest 600 MHz (the lowest on a tie), as ecppll prefers."""
    for clki_div in range(1, 129):
        if not _within(Fraction(fin_hz, clki_div), ECP5_PFD_HZ):
            continue
        for clkfb_div in range(1, 81):
            fout = Fraction(fin_hz, clki_div) * clkfb_div
            if not _within(fout, ECP5_OUT_HZ):
                continue
            dividers = [d for d in range(1, 129) if _within(fout * d, ECP5_VCO_HZ)]
            if dividers:
                best = min(dividers, key=lambda d: abs(fout * d - ECP5_VCO_PREFERRED_HZ))
                yield Ecp5Pll(fin_hz, clki_div, clkfb_div, best)


SEARCHES = {"ice40": ice40_settings, "ecp5": ecp5_settings}


def settings(fin_hz: int, family: str):
    """Every setting of ``family``'s PLL for an input of ``fin_hz``, in its tool's search order."""
    return SEARCHES[family](fin_hz)


def exact(fin_hz: int, fout_hz: int, family: str):
    """The setting of ``family``'s PLL that makes exactly ``fout_hz`` as its tool would choose it
    (icepll: the first found; ecppll: the VCO nearest 600 MHz, then the first), or None."""
    found = [c for c in settings(fin_hz, family) if c.fout_hz == fout_hz]
    if family == "ecp5":
        found.sort(key=lambda c: abs(c.vco_hz - ECP5_VCO_PREFERRED_HZ))  # stable: the first on a tie
    return found[0] if found else None
