"""nextpnr's packer alone: how many logic cells a netlist really takes.

Synthesis counts LUT4s, carries and flip-flops apart; an iCE40 logic cell holds one of each, but
only when they are wired to share it, so the packed count can be nearly twice the largest of the
three (a flip-flop fed from a memory or another flip-flop takes a cell of its own). The packer
runs in about a second, so the fitter packs every candidate it synthesizes and the build packs
the design in its place-and-route harness before placement, which would otherwise fail only after
minutes ("Unable to find legal placement").
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from .targets import Target
from .tools import ToolError, run_tool

#: nextpnr's names for the resources hwgen reports, per family
NEXTPNR_RESOURCES = {
    "ice40": {"lc": "ICESTORM_LC", "ebr": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM", "dsp": "ICESTORM_DSP",
              "io": "SB_IO", "global": "SB_GB"},
    "ecp5": {"lc": "TRELLIS_COMB", "ff": "TRELLIS_FF", "ebr": "DP16KD", "dsp": "MULT18X18D", "io": "TRELLIS_IO",
             "global": "DCC"},
}


def pack(target: Target, netlist: Path, workdir: Path, announce: Callable[[str], None] = print,
         name: str = "pack") -> dict[str, tuple[int, int]]:
    """nextpnr ``--pack-only`` on ``netlist`` (a yosys JSON netlist), run in ``workdir`` (report
    ``<name>_report.json``, log ``logs/nextpnr_<name>.log``): ``{resource: (used, available)}``.
    Ports are not placed, so a design with more port bits than the package has pins packs too."""
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    report = workdir / f"{name}_report.json"
    run_tool(target.pnr_tool,
             [f"--{target.device}", "--package", target.package, "--json", os.path.relpath(netlist, workdir),
              "--pack-only", "--report", report.name, "-q", "-l", f"logs/nextpnr_{name}.log"],
             workdir / "logs" / f"nextpnr_{name}.run.log", workdir, announce)
    try:
        util = json.loads(report.read_text())["utilization"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ToolError(f"nextpnr's packer wrote no readable report ({report}): {e}") from None
    return {name: (int(util[key]["used"]), int(util[key]["available"]))
            for name, key in NEXTPNR_RESOURCES[target.family].items() if key in util}


class Unplaceable(ToolError):
    """The packed design needs more of a resource than the device has: ``over`` is
    ``{resource: (used, available)}``, ``where`` what was packed."""

    def __init__(self, message: str, over: dict[str, tuple[int, int]], where: str):
        super().__init__(message)
        self.over, self.where = over, where


def require_room(packed: dict[str, tuple[int, int]], target: Target, where: str, logs: Path) -> None:
    """:class:`Unplaceable` where ``packed`` (:func:`pack`'s answer for ``where``) exceeds the device."""
    over = {r: (u, a) for r, (u, a) in packed.items() if u > a}
    if over:
        raise Unplaceable(f"packed, {where} does not fit {target.name}: " + "; ".join(
            f"{r} {u:,} > {a:,}" for r, (u, a) in over.items()) + f" (nextpnr's packer: {logs})", over, where)
