"""Named training set-ups (``hwgen train --preset``): model settings that belong together.

``ott2016`` follows the reference implementation of Ott et al. (2016) (its Lasagne GRU layer and
quantizers): smooth sigmoid/tanh, BatchNorm on the layer input with its scale initialised to 0.1,
one bias per gate on the input side, quantized together with the input weights, and the output
layer kept in full precision (it is not part of the reference's quantized layer). It is also the
set of defaults when no preset is named; each setting may then be changed by its own flag.
docs/training.md lists what still differs from the reference.

``hard`` is the cheapest hardware: the hardware's clamp units (no activation tables), no
BatchNorm, torch's two biases and every tensor quantized, the output layer too. It trains worse
(docs/training.md gives the measurements) and is kept for designs where block RAM is short.

A named preset is a promise: a flag that contradicts it is refused, naming both.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["PRESETS", "DEFAULT_PRESET", "PresetConflict", "apply_preset"]

#: preset name -> model-config settings it fixes (keys of train.model's config).
PRESETS: dict[str, dict[str, Any]] = {
    "ott2016": {"activation": "smooth", "batch_norm": "input", "bn_gamma": 0.1, "bias": "per_gate",
                "quantize_output": False},
    "hard": {"activation": "hard", "batch_norm": False, "bn_gamma": 1.0, "bias": "pair",
             "quantize_output": True},
}
DEFAULT_PRESET = "ott2016"

#: settings a user may still ask for under a named preset without contradicting it (the output
#: layer is "full precision unless asked").
_MAY_CHANGE = {"ott2016": {"quantize_output"}, "hard": set()}


class PresetConflict(ValueError):
    """A setting given together with a named preset that fixes it to something else."""


def apply_preset(name: str | None, given: Mapping[str, Any],
                 names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The preset's settings with ``given`` (the settings a user named; None = not given) laid over.

    ``name=None`` takes :data:`DEFAULT_PRESET` as plain defaults: anything given wins. A named
    preset refuses a given setting that differs from its own (:class:`PresetConflict`), naming
    it by ``names[key]`` (a command-line flag, say) where given.
    """
    names = names or {}
    if name is not None and name not in PRESETS:
        raise PresetConflict(f"unknown preset {name!r}; one of {', '.join(PRESETS)}")
    base = PRESETS[name or DEFAULT_PRESET]
    out = dict(base)
    for key, value in given.items():
        if value is None:
            continue
        if name is not None and key in base and value != base[key] and key not in _MAY_CHANGE[name]:
            raise PresetConflict(f"{names.get(key, key)} {_show(value)} contradicts --preset {name}, "
                                 f"which sets {_show(base[key])}")
        out[key] = value
    return out


def _show(value: Any) -> str:
    return "off" if value is False else "on" if value is True else str(value)
