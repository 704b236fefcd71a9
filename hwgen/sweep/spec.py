"""A sweep's SPEC: a small TOML file naming a grid of training runs and of hardware builds
(docs/sweep.md), read and checked completely before anything runs.

Every key of ``[train]`` and ``[hardware]`` that names a grid axis takes one value or a list; the
grid is their product. A key that is not known, a value of the wrong type or outside its choices,
or an empty axis gets one message naming the key and what it takes.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from train.names import CELLS, DATASETS, PRESETS, QUANTIZERS

from .points import HardwarePoint, TrainPoint

#: [train] axes: key -> (type, allowed values or None); names follow `hwgen train`'s flags
TRAIN_AXES = {
    "dataset": (str, DATASETS), "cell": (str, CELLS), "hidden": (int, None), "quantizer": (str, QUANTIZERS),
    "seed": (int, None), "preset": (str, PRESETS), "epochs": (int, None), "steps": (int, None),
    "limit": (int, None),
}
#: [train] keys that are not axes: every point gets the same
TRAIN_FIXED = {"extra": "a list of further `hwgen train` arguments, e.g. [\"--eval-every\", \"1000\"]",
               "variants": "a table of named argument lists, one more axis: each point trains with "
                           "one of them, e.g. {recurrent_only = [\"--no-quantize-input\"]}",
               "reuse": "a list of folders of finished model.pt files to take over instead of training again"}
#: [hardware] axes (`hwgen build`'s flags)
HARDWARE_AXES = {
    "model": (str, None), "target": (str, None), "lanes": (int, None), "style": (str, ("folded", "unrolled")),
    "weights": (str, ("rom", "spram")), "output": (str, ("logits", "hidden", "argmax")),
}
HARDWARE_FIXED = {"pnr_seeds": "a list of nextpnr seeds (each a place and route of every design; none: "
                               "synthesis only)",
                  "freq": "the place-and-route clock goal in MHz (default 48)"}
TOP_KEYS = {"name": "the sweep's name (a string)", "train": "the training grid (a table)",
            "hardware": "the hardware grid (a table)"}


class SpecError(ValueError):
    """A SPEC that cannot run; the message names the key and what it takes."""


@dataclass(frozen=True)
class Spec:
    name: str
    train: tuple[TrainPoint, ...]
    hardware: tuple[HardwarePoint, ...]
    reuse: tuple[Path, ...]
    #: the SPEC as read (plain JSON values): a results folder records it, so that a folder made by
    #: another SPEC is noticed
    content: dict

    @property
    def identity(self) -> str:
        return identity_of(self.content)


def identity_of(content: dict) -> str:
    """What a results folder belongs to: the SPEC less ``train.reuse`` (where finished runs may be
    found changes nothing about what the grid computes)."""
    if not isinstance(content, dict):
        return json.dumps(content, sort_keys=True)
    grid = dict(content)
    if isinstance(grid.get("train"), dict):
        grid["train"] = {k: v for k, v in grid["train"].items() if k != "reuse"}
    return json.dumps(grid, sort_keys=True)


def load_spec(path: str | Path) -> Spec:
    """Read and check the SPEC at ``path`` (relative model paths are taken from its folder)."""
    path = Path(path)
    try:
        content = tomllib.loads(path.read_text())
    except OSError as e:
        raise SpecError(f"{path}: cannot read it ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: not a TOML file ({e})") from None
    return parse_spec(content, path.parent, where=str(path))


def parse_spec(content: dict, base: Path, where: str = "SPEC") -> Spec:
    _known(content, TOP_KEYS, where)
    name = content.get("name", "sweep")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: name must be a non-empty string, not {name!r}")
    train = content.get("train")
    hardware = content.get("hardware")
    if train is None and hardware is None:
        raise SpecError(f"{where}: nothing to run: give a [train] table, a [hardware] table or both")
    train_points, reuse = (), ()
    if train is not None:
        train_points, reuse = _train(_table(train, f"{where} [train]"), base, f"{where} [train]")
    hardware_points = ()
    if hardware is not None:
        hardware_points = _hardware(_table(hardware, f"{where} [hardware]"), base, f"{where} [hardware]",
                                    trained=bool(train_points))
    return Spec(name, train_points, hardware_points, reuse, content)


def _table(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a table (a [section]), not {type(value).__name__}")
    return value


def _known(table: dict, allowed: dict, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(allowed))}")


def _axis(table: dict, key: str, kind: type, choices, where: str, default=None) -> list:
    """The values of axis ``key`` (a scalar is a one-value axis)."""
    if key not in table:
        return [default]
    value = table[key]
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SpecError(f"{where}: {key} is an empty list: give at least one value")
    for v in values:
        if not isinstance(v, kind) or isinstance(v, bool):
            raise SpecError(f"{where}: {key} takes {kind.__name__} values{_choices(choices)}, not {v!r}")
        if choices is not None and v not in choices:
            raise SpecError(f"{where}: {key} {v!r} is not one of {', '.join(map(str, choices))}")
        if kind is int and v < (0 if key == "seed" else 1):
            raise SpecError(f"{where}: {key} must be {'at least 0' if key == 'seed' else 'positive'}, not {v}")
    if len(set(values)) != len(values):
        raise SpecError(f"{where}: {key} lists a value twice: {values}")
    return values


def _choices(choices) -> str:
    return f" (one of {', '.join(map(str, choices))})" if choices else ""


def _string_list(table: dict, key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: {key} must be a list of strings, not {value!r}")
    return value


def _train(table: dict, base: Path, where: str) -> tuple[tuple[TrainPoint, ...], tuple[Path, ...]]:
    _known(table, {**TRAIN_AXES, **TRAIN_FIXED}, where)
    if "dataset" not in table:
        raise SpecError(f"{where}: dataset is required (one of {', '.join(DATASETS)})")
    axes = {k: _axis(table, k, kind, choices, where) for k, (kind, choices) in TRAIN_AXES.items()}
    extra = tuple(_string_list(table, "extra", where))
    variants = _variants(table.get("variants"), where)
    reuse = tuple((base / p).resolve() for p in _string_list(table, "reuse", where))  # missing ones: nothing to reuse
    # Axes given as lists name the points; a single value is the same for all and stays out of names.
    varying = tuple(k for k in TRAIN_AXES if isinstance(table.get(k), list) or k in TrainPoint.ALWAYS_NAMED)
    varying += ("variant",) if variants else ()
    points = []
    for values in itertools.product(*axes.values(), variants or [None]):
        *values, variant = values
        args = extra + (variants[variant] if variant is not None else ())
        points.append(TrainPoint(**dict(zip(axes, values)), variant=variant, extra=args, named=varying))
    _check_train_arguments(points, where)
    return tuple(points), reuse


def _variants(value, where: str) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        raise SpecError(f"{where}: variants must be a table of names to argument lists, e.g. "
                        f"variants = {{all = [], recurrent_only = [\"--no-quantize-input\"]}}, not {value!r}")
    out = {}
    for name, args in value.items():
        if not name.replace("_", "").isalnum():
            raise SpecError(f"{where}: variant name {name!r}: letters, digits and _ only (it names folders)")
        out[name] = tuple(_string_list({name: args}, name, f"{where} variants"))
    return out


def _check_train_arguments(points: list[TrainPoint], where: str) -> None:
    """Each point's arguments go through `hwgen train`'s own parser now, not when it runs."""
    import argparse
    import contextlib
    import io

    from ..cli.arguments import train_parser

    parser = train_parser()
    for p in points:
        argv = p.arguments("model.pt")
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                _, unknown = parser.parse_known_args(argv)
        except (argparse.ArgumentError, SystemExit) as e:
            raise SpecError(f"{where}: `hwgen train {' '.join(argv)}` is refused: {e}") from None
        if unknown:
            raise SpecError(f"{where}: `hwgen train {' '.join(argv)}` is refused: unrecognized "
                            f"arguments: {' '.join(unknown)}")


def _hardware(table: dict, base: Path, where: str, trained: bool) -> tuple[HardwarePoint, ...]:
    from ..toolchain.targets import TargetError, get_target

    _known(table, {**HARDWARE_AXES, **HARDWARE_FIXED}, where)
    if "model" not in table:
        raise SpecError(f"{where}: model is required: model files (.pt or .qmodel.json), or \"trained\" "
                        f"for the models of the [train] grid")
    axes = {k: _axis(table, k, kind, choices, where, default={"target": "ice40"}.get(k))
            for k, (kind, choices) in HARDWARE_AXES.items()}
    models = []
    for m in axes["model"]:
        if m == "trained":
            if not trained:
                raise SpecError(f"{where}: model \"trained\" needs a [train] grid")
            models.append(m)
            continue
        path = (base / m).resolve()
        if not path.is_file():
            raise SpecError(f"{where}: model {m!r}: no such file ({path})")
        models.append(str(path))
    axes["model"] = models
    for t in axes["target"]:
        try:
            get_target(t)
        except TargetError as e:
            raise SpecError(f"{where}: target {t!r}: {e}") from None
    seeds = table.get("pnr_seeds", [])
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise SpecError(f"{where}: pnr_seeds must be a list of seeds (integers >= 0), not {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise SpecError(f"{where}: pnr_seeds lists a seed twice: {seeds}")
    freq = table.get("freq", 48.0)
    if not isinstance(freq, (int, float)) or isinstance(freq, bool) or freq <= 0:
        raise SpecError(f"{where}: freq must be a positive number of MHz, not {freq!r}")
    if seeds and not all(get_target(t).has_pnr for t in axes["target"]):
        raise SpecError(f"{where}: pnr_seeds need FPGA targets; {', '.join(axes['target'])} include a "
                        f"synthesis-only one")
    return tuple(HardwarePoint(**dict(zip(axes, values)), pnr_seeds=tuple(seeds), freq=float(freq))
                 for values in itertools.product(*axes.values()))
