"""nextpnr's packer alone: how many logic cells a netlist really takes; and a design that does
not fit the device (over when packed, or with no legal placement) as one exception.

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


#: nextpnr's flag for a pin constraints file, per family
PIN_FLAGS = {"ice40": "--pcf", "ecp5": "--lpf"}


def pack(target: Target, netlist: Path, workdir: Path, announce: Callable[[str], None] = print,
         name: str = "pack", pins: str | None = None) -> dict[str, tuple[int, int]]:
    """nextpnr ``--pack-only`` on ``netlist`` (a yosys JSON netlist), run in ``workdir`` (report
    ``<name>_report.json``, log ``logs/nextpnr_<name>.log``): ``{resource: (used, available)}``.
    Without ``pins`` (a pin constraints file in ``workdir``) ports are not placed, so a design
    with more port bits than the package has pins packs too; a board top gives its pins (a PLL
    fed from a pad needs that pad's site)."""
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    report = workdir / f"{name}_report.json"
    run_tool(target.pnr_tool,
             [f"--{target.device}", "--package", target.package, "--json", os.path.relpath(netlist, workdir),
              "--pack-only", "--report", report.name, "-q", "-l", f"logs/nextpnr_{name}.log",
              *([PIN_FLAGS[target.family], pins] if pins else [])],
             workdir / "logs" / f"nextpnr_{name}.run.log", workdir, announce)
    try:
        util = json.loads(report.read_text())["utilization"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ToolError(f"nextpnr's packer wrote no readable report ({report}): {e}") from None
    return {name: (int(util[key]["used"]), int(util[key]["available"]))
            for name, key in NEXTPNR_RESOURCES[target.family].items() if key in util}


class Unplaceable(ToolError):
    """The design does not fit the device: packed, it needs more of a resource than the device has,
    or nextpnr found no legal placement for it. ``over`` is ``{resource: (used, available)}`` as
    packed, ``where`` what was packed or placed, ``rejected`` the reason in a few words."""

    def __init__(self, message: str, over: dict[str, tuple[int, int]], where: str, rejected: str):
        super().__init__(message)
        self.over, self.where, self.rejected = over, where, rejected


def require_room(packed: dict[str, tuple[int, int]], target: Target, where: str, logs: Path) -> None:
    """:class:`Unplaceable` where ``packed`` (:func:`pack`'s answer for ``where``) exceeds the device."""
    over = {r: (u, a) for r, (u, a) in packed.items() if u > a}
    if over:
        rejected = "packed in " + where + ": " + "; ".join(
            f"{'logic cells' if r == 'lc' else r} {u:,} > {a:,}" for r, (u, a) in over.items()) + " (nextpnr's packer)"
        raise Unplaceable(f"packed, {where} does not fit {target.name}: " + "; ".join(
            f"{r} {u:,} > {a:,}" for r, (u, a) in over.items()) + f" (nextpnr's packer: {logs})", over, where, rejected)


#: what nextpnr's placer says when a design that packs has no legal placement
NO_PLACEMENT = "Unable to find legal placement"


def no_placement(logs: list[Path]) -> bool:
    """Whether a failed nextpnr run (its logs) ended for want of a legal placement."""
    return any(log.exists() and NO_PLACEMENT in log.read_text(errors="replace") for log in logs)


def run_placer(target: Target, args: list[str], workdir: Path, log: str, announce: Callable[[str], None],
               packed: dict[str, tuple[int, int]] | None = None, where: str = "the design") -> None:
    """nextpnr (place and route) with ``args`` in ``workdir``, its log ``logs/<log>.log`` and its
    output ``logs/<log>.run.log``. Given what the netlist ``packed`` to, a run that ends for want
    of a legal placement raises :class:`Unplaceable` for ``where``; other failures stay
    :class:`ToolError`."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        run_tool(target.pnr_tool, [*args, "-q", "-l", f"logs/{log}.log"], logs / f"{log}.run.log", workdir, announce)
    except ToolError:
        if packed is not None and no_placement([logs / f"{log}.log", logs / f"{log}.run.log"]):
            raise unplaced(packed, target, where, logs / f"{log}.log") from None
        raise


def unplaced(packed: dict[str, tuple[int, int]], target: Target, where: str, log: Path) -> Unplaceable:
    """:class:`Unplaceable` for a design that packs (``packed``) but that nextpnr could not place:
    near a device's size the placer can fail where the packer succeeds, so the fit treats it as
    too large, like one that does not pack."""
    used, available = packed.get("lc", (0, 0))
    share = f" ({used:,} of {available:,} logic cells, {100 * used / available:.0f}%)" if available else ""
    return Unplaceable(f"placed, {where} found no legal placement in {target.name}{share}; log: {log}",
                       {"lc": (used, available)}, where,
                       f"placed in {where}: no legal placement{share} (nextpnr's placer)")
