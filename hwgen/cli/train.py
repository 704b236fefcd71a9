"""`hwgen train`: quantization-aware training (the work is in train/; docs/training.md)."""

from __future__ import annotations

from .common import CliError, console

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


def add_parsers(sub) -> None:
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
