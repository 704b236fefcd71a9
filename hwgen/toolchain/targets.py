"""Build targets: what a device offers and how the toolchain is driven for it.

A target is data, not code: the synthesis and place-and-route steps read these fields.
Resource totals are the vendors' datasheet figures (iCE40 UltraPlus and LP/HX families).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Resources the fitter and the reports know about, in report order.
RESOURCES = ("lc", "ebr", "spram", "dsp")
RESOURCE_NAMES = {"lc": "logic cells (LUT4+DFF)", "ebr": "block RAM (4 Kbit)", "spram": "SPRAM (256 Kbit)",
                  "dsp": "DSP (SB_MAC16)"}


class TargetError(ValueError):
    """An unknown target or board."""


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    family: str  # "ice40" or "generic"
    device: str = ""  # nextpnr device flag, e.g. "up5k"
    package: str = ""
    resources: dict[str, int] = field(default_factory=dict)
    synth: str = "synth -top {top}"  # the yosys synthesis command
    boards: tuple[str, ...] = ()

    @property
    def has_pnr(self) -> bool:
        return self.family == "ice40"

    def available(self, resource: str) -> int:
        return self.resources.get(resource, 0)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("ice40-up5k", "Lattice iCE40 UltraPlus UP5K (SG48): 5,280 LCs, 30 EBR, 4 SPRAM, 8 DSP",
               "ice40", "up5k", "sg48", {"lc": 5280, "ebr": 30, "spram": 4, "dsp": 8},
               "synth_ice40 -dsp -top {top}", ("icebreaker",)),
        Target("ice40-hx8k", "Lattice iCE40 HX8K (CT256): 7,680 LCs, 32 EBR, no DSP",
               "ice40", "hx8k", "ct256", {"lc": 7680, "ebr": 32},
               "synth_ice40 -top {top}"),
        Target("ice40-hx1k", "Lattice iCE40 HX1K (TQ144): 1,280 LCs, 16 EBR, no DSP",
               "ice40", "hx1k", "tq144", {"lc": 1280, "ebr": 16},
               "synth_ice40 -top {top}"),
        Target("generic", "technology-independent yosys synthesis to CMOS gates, with a transistor estimate",
               "generic"),
    )
}
ALIASES = {"ice40": "ice40-up5k"}


def get_target(name: str) -> Target:
    """The target called ``name`` (aliases included); :class:`TargetError` lists the valid ones."""
    key = ALIASES.get(name, name)
    if key not in TARGETS:
        raise TargetError(f"unknown target {name!r}; valid targets: {', '.join(target_names())}")
    return TARGETS[key]


def target_names() -> list[str]:
    return [*TARGETS, *ALIASES]
