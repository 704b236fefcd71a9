"""The `hwgen` command line."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import numpy as np
from rich.console import Console

from . import __version__

console = Console()


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1, no traceback."""


def _load(path: str):
    from .qmodel_file import QModelFileError, load

    try:
        return load(path)
    except QModelFileError as e:
        raise CliError(f"{e}\n  (hwgen reads QModel files written by `hwgen export`; see docs/qmodel-format.md)") from None


def cmd_inspect(args) -> None:
    from .summary import describe, print_description

    d = describe(_load(args.model))
    if args.json:
        print(json.dumps(d, indent=1))
    else:
        print_description(d, console)


def _inputs(qmodel, args):
    """Token ids from --text (embedding models with a vocabulary), else seeded random inputs."""
    from .ir import EmbeddingInput

    rng = np.random.default_rng(args.seed)
    stage = qmodel.input
    if args.text is not None:
        if not isinstance(stage, EmbeddingInput) or stage.vocab is None:
            raise CliError("--text needs a model with an embedding input and a vocabulary")
        from .tokens import text_to_ids

        try:
            return np.array([text_to_ids(stage.vocab, args.text)], dtype=np.int64)
        except ValueError as e:
            raise CliError(f"--text has {e}") from None
    if isinstance(stage, EmbeddingInput):
        return rng.integers(0, stage.vocab_size, (args.batch, args.steps))
    lo, hi = stage.fmt.min_int, stage.fmt.max_int
    return rng.integers(lo // 2, hi // 2 + 1, (args.batch, args.steps, stage.size))


def cmd_golden(args) -> None:
    from . import golden
    from .ir import EmbeddingInput

    from .limits import LimitError, check_memory, golden_bytes

    if args.batch < 1 or args.steps < 1:
        raise CliError("--batch and --steps must be positive")
    qmodel = _load(args.model)
    batch, steps = (1, len(args.text)) if args.text is not None else (args.batch, args.steps)
    try:
        check_memory(golden_bytes(qmodel, batch, steps), f"{batch:,} x {steps:,} golden-model steps",
                     "ask for fewer --batch or --steps")
    except LimitError as e:
        raise CliError(str(e)) from None
    if args.save_outputs and not args.save_outputs.endswith(".npz"):
        args.save_outputs += ".npz"  # numpy's own convention for savez
    _check_writable_file(args.save_outputs, "--save-outputs")
    x = _inputs(qmodel, args)
    t0 = time.perf_counter()
    result = golden.run(qmodel, x)
    seconds = time.perf_counter() - t0
    batch, steps = x.shape[:2]
    out = result.outputs
    console.print(f"[bold]golden model[/bold] {qmodel.name}: {batch} sequence(s) × {steps} steps "
                  f"in {seconds:.3f} s ({batch * steps / seconds:,.0f} sequence-steps/s)")
    console.print(f"outputs: {out.shape[-1]} per step, format {result.fmt}, "
                  f"integer range [{out.min()}, {out.max()}], "
                  f"at a rail {np.mean((out == result.fmt.min_int) | (out == result.fmt.max_int)):.1%}")
    stage = qmodel.input
    if args.text is not None and qmodel.output is not None and out.shape[-1] == stage.vocab_size:
        predicted = "".join(stage.vocab[i] for i in result.argmax()[0])
        console.print(f"input text:           {args.text!r}")
        console.print(f"predicted next chars: {predicted!r}")
    elif isinstance(stage, EmbeddingInput) or args.text is None:
        console.print(f"last step of sequence 0: {result.fmt.to_float(out[0, -1])[:8].round(4).tolist()}"
                      f"{' …' if out.shape[-1] > 8 else ''}")
    if args.save_outputs:
        _save_npz(args.save_outputs, inputs=x, outputs=out)
        console.print(f"wrote {args.save_outputs}")


def _check_writable_file(path: str | None, flag: str) -> None:
    """Fail before the work if ``path`` cannot be written (its folder missing, not a folder, or
    not writable; or ``path`` itself a folder)."""
    from .files import FileWriteError, check_writable

    try:
        check_writable(path, flag)
    except FileWriteError as e:
        raise CliError(str(e)) from None


def _save_npz(path: str, **arrays) -> None:
    from .files import FileWriteError, write_atomic

    try:
        write_atomic(path, lambda f: np.savez_compressed(f, **arrays), binary=True)
    except FileWriteError as e:
        raise CliError(str(e)) from None


# ------------------------------------------------------------------------------------------------
# hwgen train
# ------------------------------------------------------------------------------------------------

TRAIN_QUANTIZERS = ("float", "binary", "binary_stochastic", "ternary", "ternary_stochastic",
                    "pow2_ternary", "exponential", "exponential_stochastic")
TRAIN_DATASETS = ("ptb-char", "wiki-char", "japanese-vowels", "mnist-seq", "synthetic-text", "synthetic-seq")
_MODEL_OPTIONS = ("cell", "hidden", "embed", "activation", "quantizer", "int_bits", "frac_bits",
                  "k_min", "k_max", "batch_norm", "nonlinearity", "init", "preset", "bn_gamma", "bias",
                  "quantize_output")
_NO_QUANTIZE = ("no_quantize_input", "no_quantize_recurrent", "no_quantize_bias")
#: preset setting -> the flag that sets it (for messages)
_PRESET_FLAGS = {"activation": "--activation", "batch_norm": "--batch-norm", "bn_gamma": "--bn-gamma",
                 "bias": "--bias", "quantize_output": "--quantize-output / --no-quantize-output"}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _hidden_sizes(values) -> list[int]:
    sizes = []
    for v in values or ["128"]:
        for part in str(v).split(","):
            part = part.strip()
            try:
                n = int(part)
            except ValueError:
                raise CliError(f"--hidden: {part!r} is not a layer size (give integers, e.g. --hidden 128,128)") from None
            if n < 1:
                raise CliError(f"--hidden: {n} is not a positive layer size")
            sizes.append(n)
    return sizes


def _quantizer_spec(args):
    name = args.quantizer or "float"
    if name not in TRAIN_QUANTIZERS:
        raise CliError(f"--quantizer: unknown quantizer {name!r}; one of {', '.join(TRAIN_QUANTIZERS)}")
    fixed = name == "pow2_ternary"
    expo = name.startswith("exponential")
    for opt, ok, which in (("int_bits", fixed, "pow2_ternary"), ("frac_bits", fixed, "pow2_ternary"),
                           ("k_min", expo, "exponential"), ("k_max", expo, "exponential")):
        if getattr(args, opt) is not None and not ok:
            raise CliError(f"{_option(opt)} applies to --quantizer {which}, not {name}")
    if name == "float":
        return None
    spec = {"name": name}
    if fixed:
        spec.update(i=0 if args.int_bits is None else args.int_bits,
                    f=1 if args.frac_bits is None else args.frac_bits)
    if expo:
        if args.k_min is not None:
            spec["k_min"] = args.k_min
        if args.k_max is not None:
            spec["k_max"] = args.k_max
    return spec


def _batch_norm(value: str):
    return False if value == "off" else value


def cmd_train(args) -> None:
    from pathlib import Path

    from train import trainer
    from train.model import ConfigError
    from train.presets import PresetConflict, apply_preset

    try:
        from train.datasets import DatasetUnavailable
    except ImportError as e:
        raise CliError(f"training data support is missing ({e})") from None

    out = Path(args.out)
    explicit = {k: getattr(args, k) for k in ("dataset", "limit", "epochs", "steps", "batch", "bptt",
                                              "lr", "clip", "eval_every", "seed", "reset_every",
                                              "schedule", "lr_factor", "lr_patience", "patience",
                                              "weight_decay", "decay_quantized", "lr_scale",
                                              "eval_batch", "device")
                if getattr(args, k) is not None}
    try:
        if args.resume:
            given = [_option(k) for k in _MODEL_OPTIONS if getattr(args, k) is not None]
            given += [_option(k) for k in _NO_QUANTIZE if getattr(args, k)]
            if given:
                raise CliError(f"--resume continues the saved model; drop {', '.join(given)} "
                               f"(or train a new model with another --out)")
            settings = trainer.resume_settings(out, **explicit)
            config = None
        else:
            if args.dataset is None:
                raise CliError("--dataset is required (one of " + ", ".join(TRAIN_DATASETS) + ")")
            if args.dataset not in TRAIN_DATASETS:
                raise CliError(f"--dataset: unknown dataset {args.dataset!r}; one of {', '.join(TRAIN_DATASETS)}")
            hidden = _hidden_sizes(args.hidden)
            try:
                model_settings = apply_preset(args.preset, {
                    "activation": args.activation, "bn_gamma": args.bn_gamma, "bias": args.bias,
                    "batch_norm": None if args.batch_norm is None else _batch_norm(args.batch_norm),
                    "quantize_output": args.quantize_output}, _PRESET_FLAGS)
            except PresetConflict as e:
                raise CliError(str(e)) from None
            qspec = _quantizer_spec(args)
            if args.embed is not None and args.embed < 0:
                raise CliError(f"--embed: {args.embed} is negative (0 means one-hot input)")
            settings = trainer.TrainSettings(**explicit)
            settings.validate()
        trainer.check_writable(out)
        if not args.resume and out.exists() and not args.force:
            raise CliError(f"--out {out} exists; --resume continues that run, --force replaces it "
                           f"(and its {trainer.last_path(out).name}), or choose another --out")
        try:
            data = trainer.load_data(settings.dataset, settings.limit)
        except DatasetUnavailable as e:
            raise CliError(str(e)) from None
        except (ValueError, KeyError) as e:
            raise CliError(f"--dataset {settings.dataset}: {e}") from None
        if not args.resume:
            if args.embed is not None and trainer.task_of(data) != "lm":
                raise CliError(f"--embed applies to text datasets; {settings.dataset} has feature input")
            config = trainer.model_config_for(
                data, cell=args.cell or "gru", hidden=hidden, embed=args.embed or 0,
                activation=model_settings["activation"], quantizer=qspec,
                quantize={"input": not args.no_quantize_input, "recurrent": not args.no_quantize_recurrent,
                          "bias": not args.no_quantize_bias, "output": model_settings["quantize_output"]},
                batch_norm=model_settings["batch_norm"], bn_gamma=model_settings["bn_gamma"],
                bias=model_settings["bias"],
                nonlinearity=args.nonlinearity or "tanh", init=args.init or "glorot")
        trainer.train(config, settings, out, data=data, resume=args.resume,
                      console=None if args.quiet else console)
    except (trainer.TrainingError, ConfigError) as e:
        raise CliError(str(e)) from None


# ------------------------------------------------------------------------------------------------
# hwgen export / hwgen eval (the work is in hwgen/export/commands.py)
# ------------------------------------------------------------------------------------------------


def cmd_export(args) -> None:
    from .export import ExportError
    from .export.commands import run_export

    try:
        run_export(args, console)
    except ExportError as e:
        raise CliError(str(e)) from None


def cmd_eval(args) -> None:
    from .export import ExportError
    from .export.commands import run_eval

    try:
        run_eval(args, _load(args.model), console)
    except ExportError as e:
        raise CliError(str(e)) from None


def cmd_build(args) -> None:
    from .build_command import BUILD_ERRORS, run_build

    try:
        run_build(args, console)
    except BUILD_ERRORS as e:
        raise CliError(str(e)) from None


def cmd_targets(args) -> None:
    from .build_command import run_targets

    run_targets(args, console)


def cmd_sim(args) -> None:
    from sim.cli import SimCliError, run

    try:
        status = run(args, console)
    except SimCliError as e:
        raise CliError(str(e)) from None
    if status:
        raise CliError("the design does not match the golden model (report above)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hwgen", description="Low-precision RNN/GRU/LSTM to verified RTL.")
    p.add_argument("--version", action="version", version=f"hwgen {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("inspect", help="print a QModel's layers, formats and weight-code statistics")
    s.add_argument("model", help="QModel file (.qmodel.json)")
    s.add_argument("--json", action="store_true", help="print the description as JSON")
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("golden", help="run the golden model (the bit-exact specification) on inputs")
    s.add_argument("model", help="QModel file (.qmodel.json)")
    s.add_argument("--text", help="input text, for character models with a vocabulary")
    s.add_argument("--batch", type=int, default=64, help="random sequences (default 64)")
    s.add_argument("--steps", type=int, default=100, help="steps per random sequence (default 100)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--save-outputs", metavar="NPZ", help="write inputs and integer outputs to NPZ")
    s.set_defaults(func=cmd_golden)

    s = sub.add_parser("train", help="quantization-aware training of an RNN/GRU/LSTM; writes model.pt",
                       description="Quantization-aware training (Ott et al. 2016). Writes the best "
                                   "checkpoint (by valid metric) to --out, the latest state to "
                                   "OUT.last.pt (for --resume) and a training curve to OUT.curve.png.")
    g = s.add_argument_group("data")
    g.add_argument("--dataset", metavar="NAME", help="one of: " + ", ".join(TRAIN_DATASETS))
    g.add_argument("--limit", type=int, metavar="N", help="truncate the dataset (for quick runs)")
    g = s.add_argument_group("model")
    g.add_argument("--preset", choices=("ott2016", "hard"),
                   help="ott2016: the reference implementation's set-up (smooth units, BatchNorm on "
                        "the input with gamma 0.1, one bias per gate, float output layer; also the "
                        "defaults when no preset is named); hard: the hardware's clamp units, no "
                        "BatchNorm, everything quantized. A flag contradicting a named preset is refused")
    g.add_argument("--cell", choices=("rnn", "gru", "lstm"), help="default gru")
    g.add_argument("--hidden", action="append", metavar="N[,N...]",
                   help="hidden size; repeat it or give a comma list for a stack (default 128)")
    g.add_argument("--embed", type=int, metavar="DIM",
                   help="token embedding size for text; 0 = one-hot into the first layer (default 0)")
    g.add_argument("--activation", choices=("hard", "smooth"),
                   help="smooth (sigmoid/tanh, table units in hardware; default) or hard (the "
                        "hardware's clamp units)")
    g.add_argument("--nonlinearity", choices=("tanh", "relu"), help="vanilla RNN only (default tanh)")
    g.add_argument("--quantizer", metavar="NAME", help="weight quantizer: " + ", ".join(TRAIN_QUANTIZERS)
                   + " (default float)")
    g.add_argument("--int-bits", type=int, metavar="I", help="pow2_ternary integer bits (default 0)")
    g.add_argument("--frac-bits", type=int, metavar="F", help="pow2_ternary fraction bits (default 1)")
    g.add_argument("--k-min", type=int, metavar="K", help="exponential: smallest exponent (default -22)")
    g.add_argument("--k-max", type=int, metavar="K", help="exponential: largest exponent (default 9)")
    for what, doc in (("input", "input weights W_ih"), ("recurrent", "recurrent weights W_hh"),
                      ("bias", "biases")):
        g.add_argument(f"--no-quantize-{what}", action="store_true", help=f"keep {doc} full precision")
    q = g.add_mutually_exclusive_group()
    q.add_argument("--quantize-output", dest="quantize_output", action="store_const", const=True,
                   help="quantize the output layer too (default: full precision, exported as "
                        "fixed-point codes)")
    q.add_argument("--no-quantize-output", dest="quantize_output", action="store_const", const=False,
                   help="keep the output layer full precision (the default)")
    g.add_argument("--batch-norm", nargs="?", const="input", choices=("input", "input_product", "off"),
                   help="BatchNorm on each layer's input path, not the recurrent one: 'input' (the "
                        "reference's, the default) normalises x, 'input_product' normalises W_ih x "
                        "per row, 'off'")
    g.add_argument("--bn-gamma", type=float, metavar="G",
                   help="BatchNorm's initial scale (default 0.1, the reference's)")
    g.add_argument("--bias", choices=("per_gate", "pair"),
                   help="per_gate: one bias per gate on the input side (the reference's; default); "
                        "pair: torch's b_ih and b_hh")
    g.add_argument("--init", choices=("glorot", "torch"),
                   help="weight initialisation: glorot (U(±W0), ternary's W0; biases 0) or torch's (default glorot)")
    g = s.add_argument_group("training")
    g.add_argument("--epochs", type=int, metavar="N", help="epochs (with --steps: whichever ends first)")
    g.add_argument("--steps", type=int, metavar="N", help="optimizer steps at most")
    g.add_argument("--batch", type=int, metavar="N", help="batch size (default 32)")
    g.add_argument("--bptt", type=int, metavar="T", help="truncated-BPTT length for text (default 50)")
    g.add_argument("--lr", type=float, help="Adam learning rate (default 0.002)")
    g.add_argument("--lr-scale", choices=("none", "glorot"),
                   help="glorot: each quantized tensor's rate times 1/sqrt(1.5/(fan_in+fan_out)), "
                        "the reference's W_LR_scale (default none)")
    g.add_argument("--schedule", choices=("plateau", "cosine", "none"),
                   help="learning-rate schedule: plateau (halve after --lr-patience evaluations "
                        "without improvement; default), cosine over the step budget, none")
    g.add_argument("--lr-factor", type=float, metavar="F", help="plateau: factor per cut (default 0.5)")
    g.add_argument("--lr-patience", type=int, metavar="N",
                   help="plateau: evaluations without improvement before a cut (default 1)")
    g.add_argument("--patience", type=int, metavar="N",
                   help="early stopping: stop after N evaluations without a better valid metric, "
                        "0 = never (default 4)")
    g.add_argument("--weight-decay", type=float, metavar="W",
                   help="Adam weight decay of the full-precision tensors (default 0)")
    g.add_argument("--decay-quantized", action="store_const", const=True,
                   help="apply --weight-decay to the quantized tensors' shadow weights too")
    g.add_argument("--clip", type=float, help="gradient-norm clipping, 0 = off (default 1.0)")
    g.add_argument("--eval-every", type=int, metavar="N", help="evaluate every N steps (default: each epoch)")
    g.add_argument("--eval-batch", type=int, metavar="N",
                   help="lanes (text) or sequences per call when evaluating (default 128)")
    g.add_argument("--reset-every", type=int, metavar="N",
                   help="text: reset the carried state to zero every N chunks, 0 = each epoch only (default 20)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")
    g.add_argument("--device", metavar="DEV", help="cpu (default) or cuda[:N]")
    g = s.add_argument_group("output")
    g.add_argument("--out", default="model.pt", metavar="PATH", help="best checkpoint (default model.pt)")
    g.add_argument("--resume", action="store_true", help="continue from OUT.last.pt (budget may grow)")
    g.add_argument("--force", action="store_true", help="replace an existing OUT (and OUT.last.pt)")
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-evaluation lines")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("export", help="model.pt (or a torch.nn checkpoint) to a QModel file and a report",
                       description="Map trained weights to integer codes, choose fixed-point formats "
                                   "from calibration data, and report codes, formats and accuracy "
                                   "(docs/export.md).")
    s.add_argument("model", help="hwgen model.pt, or a torch.nn RNN/GRU/LSTM state_dict checkpoint")
    s.add_argument("-o", "--output", required=True, metavar="QMODEL", help="QModel file to write (.qmodel.json)")
    s.add_argument("--report", metavar="JSON", help="report file (default: OUTPUT with .export.json)")
    from .arguments import add_build_arguments, add_export_arguments

    add_export_arguments(s)
    s.add_argument("--name", help="model name in the QModel (default: the file's stem)")
    s.add_argument("--quiet", action="store_true", help="no progress bar or tables")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("eval", help="accuracy of the golden model on real data, beside the float models")
    s.add_argument("model", help="QModel file (.qmodel.json)")
    s.add_argument("--dataset", help="dataset (default: the one recorded at export)")
    s.add_argument("--split", choices=("test", "valid", "train"), default="test")
    s.add_argument("--limit", type=int, metavar="N", help="only the first N characters / sequences")
    s.add_argument("--checkpoint", metavar="PT", help="the model.pt it came from (default: recorded at export)")
    s.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("build", help="model to Verilog, resource report, Fmax and bitstream (docs/build.md)",
                       description="Export (for model.pt), generate the datapath that fits the target, "
                                   "synthesize it and report its cost; optionally place and route, "
                                   "build a board bitstream and simulate against the golden model.")
    add_build_arguments(s)
    s.set_defaults(func=cmd_build)
    s = sub.add_parser("targets", help="list the build targets")
    s.set_defaults(func=cmd_targets)

    from sim.cli import add_arguments as add_sim_arguments

    s = sub.add_parser("sim", help="simulate the generated Verilog (cocotb; Icarus or Verilator) against the golden model",
                       description="Generate the design, drive random sequences (or --text) through it with "
                                   "random idle cycles and backpressure, check every output bit against the "
                                   "golden model (docs/simulation.md). Exit status 1 on any mismatch.")
    add_sim_arguments(s)
    s.set_defaults(func=cmd_sim)
    return p


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every cleanup on the way out runs."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """The command line. Ctrl-C and SIGTERM unwind like an error: each command's cleanup runs
    (staging folders removed, child tools and simulators ended), then exit 130 / 143."""
    import signal

    previous = signal.signal(signal.SIGTERM, _terminate) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except CliError as e:
        print(f"hwgen: error: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Terminated) as e:
        _stop_children()
        print("hwgen: " + ("terminated" if isinstance(e, Terminated) else "interrupted"), file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _stop_children() -> None:
    """End tools still running (in case a command's own cleanup did not get to them)."""
    if "hwgen.toolchain" in sys.modules:
        sys.modules["hwgen.toolchain"].stop_tools()


if __name__ == "__main__":
    sys.exit(main())
