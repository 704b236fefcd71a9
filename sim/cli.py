"""`hwgen sim`: generate a model's design, run the cocotb bench on it, print a summary.

hwgen/cli/simulate.py holds only the sub-command's wiring (:func:`add_arguments`, :func:`run`).
"""

from __future__ import annotations

import time
from pathlib import Path


class SimCliError(Exception):
    """A user-facing error (hwgen's CLI prints it as one line, exit status 1)."""


def add_arguments(s) -> None:
    s.add_argument("model", help="QModel file (.qmodel.json) or a trained model.pt (exported first)")
    s.add_argument("--sim", default="icarus", choices=("icarus", "verilator"), help="simulator (default icarus)")
    s.add_argument("--sequences", type=int, default=8, metavar="N", help="random sequences (default 8)")
    s.add_argument("--seed", type=int, default=1, metavar="S", help="seed of inputs, idle cycles and backpressure (default 1)")
    s.add_argument("--min-len", type=int, default=4, metavar="T", help="shortest sequence (default 4)")
    s.add_argument("--max-len", type=int, default=32, metavar="T", help="longest sequence (default 32)")
    s.add_argument("--text", help="drive this text instead (character models with a vocabulary; one sequence)")
    s.add_argument("--style", default="folded", choices=("folded", "unrolled"), help="datapath (default folded)")
    s.add_argument("--lanes", type=int, default=4, metavar="P", help="code lanes of the folded datapath (default 4)")
    s.add_argument("--output", choices=("logits", "hidden", "argmax"), help="output stream data (default: the model's)")
    s.add_argument("--multipliers", type=int, default=1, metavar="M", help="gate-product multipliers, 0 for the serial shift-add unit (default 1)")
    s.add_argument("--idle", type=float, default=0.2, metavar="P", help="chance of an idle input cycle (default 0.2)")
    s.add_argument("--backpressure", type=float, default=0.2, metavar="P",
                   help="chance the output refuses a beat in a cycle (default 0.2)")
    s.add_argument("--waves", default="on-failure", choices=("on-failure", "always", "never"),
                   help="waveform (FST under Icarus, VCD under Verilator): kept for a failing run only by default")
    s.add_argument("--build-dir", metavar="DIR",
                   help="build folders and the compiled-runtime cache (default: HWGEN_SIM_BUILD, else "
                        "~/.cache/hwgen/sim_build); runs sharing it do not disturb each other")


def load_qmodel(path: str, say=print):
    """A QModel from a QModel file, or from a checkpoint through hwgen's export (hwgen.models)."""
    from hwgen.export import ExportOptions
    from hwgen.models import ModelError, load_model

    try:
        return load_model(path, export_options=ExportOptions(eval_limit=0), say=say)[0]
    except ModelError as e:
        raise SimCliError(str(e)) from None


def _text_tokens(qmodel, text: str) -> list[list[int]]:
    from hwgen.spec.ir import EmbeddingInput

    stage = qmodel.input
    if not isinstance(stage, EmbeddingInput) or stage.vocab is None:
        raise SimCliError("--text needs a model with an embedding input and a vocabulary")
    from hwgen.spec.tokens import text_to_ids

    try:
        return [text_to_ids(stage.vocab, text)]
    except ValueError as e:
        raise SimCliError(f"--text has {e}") from None


def _writable_root(root: Path) -> Path:
    """The build folder, created; one clear message when it cannot be (before any work)."""
    from hwgen.files import FileWriteError, ensure_folder

    try:
        ensure_folder(root)
    except FileWriteError as e:
        raise SimCliError(f"--build-dir {e}; choose another") from None
    return root.resolve()


def run(args, console) -> int:
    """Build, simulate, print the summary; returns the exit status (1 on any mismatch)."""
    from . import runner
    from .designs import DesignParams, GeneratorMissing, golden_spec, qmodel_design, tag

    if args.sequences < 1 or not 1 <= args.min_len <= args.max_len:
        raise SimCliError("need --sequences >= 1 and 1 <= --min-len <= --max-len")
    if not (0 <= args.idle < 1 and 0 <= args.backpressure < 1):
        raise SimCliError("--idle and --backpressure are probabilities in [0, 1)")
    try:
        runner.find_simulator(args.sim)
    except runner.SimulatorMissing as e:
        raise SimCliError(str(e)) from None
    qmodel = load_qmodel(args.model, say=console.print)
    root = _writable_root(Path(args.build_dir) if args.build_dir else runner.build_root())
    try:
        params = DesignParams(style=args.style, lanes=args.lanes, output=args.output, multipliers=args.multipliers)
        design, qpath = qmodel_design(qmodel, params, root / "designs")
    except GeneratorMissing as e:
        raise SimCliError(str(e)) from None
    except ValueError as e:  # the generator's refusals
        raise SimCliError(f"cannot generate the design: {e}") from None
    tokens = _text_tokens(qmodel, args.text) if args.text is not None else None
    ref = golden_spec(qpath, args.output, sequences=args.sequences, seed=args.seed, min_len=args.min_len,
                      max_len=args.max_len, tokens=tokens, cycles_per_step=design.cycles_per_step)
    console.print(f"hwgen sim: {qmodel.name} ({tag(params)}) on {args.sim}, seed {args.seed}")
    console.print(f"  compiling (reused when unchanged) and simulating {len(tokens) if tokens else args.sequences} "
                  f"sequence(s), {design.cycles_per_step or '?'} cycles per step ...")
    t0 = time.perf_counter()
    try:
        result = runner.run(design, args.sim, ref, seed=args.seed, idle=args.idle,
                            backpressure=args.backpressure, waves=args.waves, root=root)
    except RuntimeError as e:
        raise SimCliError(str(e)) from None
    wall = time.perf_counter() - t0
    s = result.summary
    rows = [("sequences", s.get("sequences")), ("steps", s.get("steps")), ("cycles", s.get("cycles")),
            ("cycles per step", f"{s['cycles'] / max(s['steps'], 1):.1f}" if s else None),
            ("mismatches", s.get("mismatches")),
            ("simulated cycles/s", f"{result.cycles_per_s:,.0f}"),
            ("compile", f"{result.compile_s:.1f} s" + (" (reused build)" if result.compile_s == 0 else "")),
            ("wall", f"{wall:.1f} s")]
    for k, v in rows:
        console.print(f"  {k:20s} {v}")
    if not result.ok:
        console.print(result.failure or "failed", markup=False, highlight=False)
        if result.waveform:
            console.print(f"  waveform: {result.waveform}")
        console.print(f"  simulator log: {result.log}")
        console.print(f"[bold red]FAIL[/bold red] (rerun: --seed {args.seed})")
        return 1
    console.print("[bold green]PASS[/bold green]: every output beat matches the golden model bit for bit")
    return 0

