"""`hwgen train`: quantization-aware training (the work is in train/; docs/training.md)."""

from __future__ import annotations

from train.names import DATASETS as TRAIN_DATASETS, QUANTIZERS as TRAIN_QUANTIZERS

from .common import CliError, console

#: `hwgen train`'s help texts (its arguments: hwgen/cli/arguments.py)
TRAIN_PARSER = dict(help="quantization-aware training of an RNN/GRU/LSTM; writes model.pt",
                       description="Quantization-aware training (Ott et al. 2016). Writes the best "
                                   "checkpoint (by valid metric) to --out, the latest state to "
                                   "OUT.last.pt (for --resume) and a training curve to OUT.curve.png.")
#: options that shape the model: `--resume` takes them from the checkpoint and refuses them
MODEL_OPTIONS = ("cell", "hidden", "embed", "activation", "quantizer", "int_bits", "frac_bits",
                  "k_min", "k_max", "batch_norm", "nonlinearity", "init", "preset", "bn_gamma", "bias",
                  "quantize_output")
NO_QUANTIZE = ("no_quantize_input", "no_quantize_recurrent", "no_quantize_bias")
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
            given = [_option(k) for k in MODEL_OPTIONS if getattr(args, k) is not None]
            given += [_option(k) for k in NO_QUANTIZE if getattr(args, k)]
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
    from .arguments import add_train_arguments

    s = sub.add_parser("train", **TRAIN_PARSER)
    add_train_arguments(s)
    s.set_defaults(func=cmd_train)
