"""The QModel file: versioned, human-readable JSON that round-trips exactly and needs no torch.

Layout (docs/qmodel-format.md): formats as ``s16.14`` strings, weight codes and tables as integer
lists, one matrix row per line. The text is a pure function of the QModel, so its SHA-256
(:func:`digest`) identifies a model in generated Verilog headers and reports.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .files import TORCH_MAGIC, write_atomic
from .spec.golden import check_bounds
from .spec.fixedpoint import Fmt, FormatError
from .spec.ir import (
    Activation, DenseLayer, EmbeddingInput, FeatureInput, FixedArray, LayerFormats, QModel,
    QModelError, RecurrentLayer, WeightCodes, thaw,
)

FORMAT_NAME = "hwgen-qmodel"
VERSION = 1


class QModelFileError(ValueError):
    """A QModel file that cannot be read; the message names the file, the field and the fix."""


# ---------------------------------------------------------------- QModel -> plain data


def _codes(w: WeightCodes) -> dict:
    return {
        "kind": w.kind.value, "exp": w.exp, "span": w.span,
        "scale": _fixed(w.scale) if w.scale is not None else None,
        "q": w.q.tolist(),
    }


def _fixed(a: FixedArray) -> dict:
    return {"frac": a.frac, "values": a.values.tolist()}


def _act(a: Activation | None) -> dict | None:
    if a is None:
        return None
    d = {"func": a.func.value, "impl": a.impl.value, "out": str(a.out)}
    if a.values is not None:
        d.update(range_log2=a.range_log2, values=a.values.tolist())
    return d


def _layer(layer: RecurrentLayer) -> dict:
    f = layer.formats
    return {
        "kind": layer.kind, "input_size": int(layer.input_size), "hidden_size": int(layer.hidden_size),
        "formats": {
            "input": str(f.input), "state": str(f.state), "preact": str(f.preact),
            "cell": str(f.cell) if f.cell else None,
        },
        "gate_act": _act(layer.gate_act), "cand_act": _act(layer.cand_act), "cell_act": _act(layer.cell_act),
        "w_ih": _codes(layer.w_ih), "b_ih": _fixed(layer.b_ih),
        "w_hh": _codes(layer.w_hh), "b_hh": _fixed(layer.b_hh),
    }


def _input(stage) -> dict:
    if isinstance(stage, EmbeddingInput):
        return {
            "kind": "embedding", "fmt": str(stage.fmt),
            "vocab": list(stage.vocab) if stage.vocab is not None else None,
            "table": stage.table.tolist(),
        }
    return {"kind": "features", "size": int(stage.size), "fmt": str(stage.fmt)}


def to_dict(qmodel: QModel) -> dict:
    out = qmodel.output
    return {
        "format": FORMAT_NAME, "version": VERSION, "name": qmodel.name, "meta": thaw(qmodel.meta),
        "input": _input(qmodel.input),
        "layers": [_layer(layer) for layer in qmodel.layers],
        "output": None if out is None else {"w": _codes(out.w), "b": _fixed(out.b), "out": str(out.out)},
    }


def _dump(obj, pad: str = "") -> str:
    """JSON with objects indented, scalar lists on one line and matrices one row per line."""
    inner = pad + " "
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = (f"{inner}{json.dumps(k)}: {_dump(v, inner)}" for k, v in obj.items())
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and all(isinstance(x, (list, dict)) for x in obj):
        return "[\n" + ",\n".join(inner + _dump(x, inner) for x in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":") if isinstance(obj, list) else None)


def to_text(qmodel: QModel) -> str:
    return _dump(to_dict(qmodel)) + "\n"


def digest(qmodel: QModel) -> str:
    """SHA-256 of the file text: the model's identity in Verilog headers and reports."""
    return hashlib.sha256(to_text(qmodel).encode()).hexdigest()


def save(qmodel: QModel, path: str | os.PathLike) -> Path:
    """Write atomically: a reader never sees a half-written file."""
    text = to_text(qmodel)
    return write_atomic(path, lambda fh: fh.write(text))


# ---------------------------------------------------------------- plain data -> QModel


class _Reader:
    """Reads fields of a dict, naming the path of any missing or wrong field."""

    def __init__(self, data, where: str):
        if not isinstance(data, dict):
            raise QModelFileError(f"{where}: expected an object, got {type(data).__name__}")
        self.data, self.where = data, where

    def __call__(self, key: str, kind=None, optional: bool = False):
        if key not in self.data:
            if optional:
                return None
            raise QModelFileError(f"{self.where}: missing field {key!r}")
        v = self.data[key]
        if v is None and optional:
            return None
        if kind is not None and not isinstance(v, kind) or isinstance(v, bool) and kind is int:
            name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise QModelFileError(f"{self.where}.{key}: expected {name}, got {type(v).__name__}")
        return v

    def sub(self, key: str, optional: bool = False):
        v = self(key, dict, optional)
        return None if v is None else _Reader(v, f"{self.where}.{key}")

    def fmt(self, key: str, optional: bool = False) -> Fmt | None:
        v = self(key, str, optional)
        if v is None:
            return None
        try:
            return Fmt.parse(v)
        except FormatError as e:
            raise QModelFileError(f"{self.where}.{key}: {e}") from None


def _read_fixed(r: _Reader | None) -> FixedArray | None:
    if r is None:
        return None
    return FixedArray(r("values", list), r("frac", int))


def _read_codes(r: _Reader) -> WeightCodes:
    return WeightCodes(r("kind", str), r("q", list), r("exp", int), r("span", int),
                       _read_fixed(r.sub("scale", optional=True)))


def _read_act(r: _Reader | None) -> Activation | None:
    if r is None:
        return None
    return Activation(r("func", str), r("impl", str), r.fmt("out"),
                      r("range_log2", int, optional=True), r("values", list, optional=True))


def _built(where: str, make):
    """Run a constructor, prefixing IR errors with the field path."""
    try:
        return make()
    except (QModelError, FormatError) as e:
        raise QModelFileError(f"{where}: {e}") from None


def _read_layer(r: _Reader) -> RecurrentLayer:
    f = r.sub("formats")
    formats = LayerFormats(f.fmt("input"), f.fmt("state"), f.fmt("preact"), f.fmt("cell", optional=True))
    parts = {}
    for key in ("w_ih", "w_hh"):
        parts[key] = _built(f"{r.where}.{key}", lambda k=key: _read_codes(r.sub(k)))
    for key in ("b_ih", "b_hh"):
        parts[key] = _built(f"{r.where}.{key}", lambda k=key: _read_fixed(r.sub(k)))
    for key in ("gate_act", "cand_act", "cell_act"):
        parts[key] = _built(f"{r.where}.{key}", lambda k=key: _read_act(r.sub(k, optional=True)))
    return _built(r.where, lambda: RecurrentLayer(
        r("kind", str), r("input_size", int), r("hidden_size", int), formats=formats, **parts))


def _read_input(r: _Reader):
    kind = r("kind", str)
    if kind == "features":
        return _built(r.where, lambda: FeatureInput(r("size", int), r.fmt("fmt")))
    if kind == "embedding":
        return _built(r.where, lambda: EmbeddingInput(r("table", list), r.fmt("fmt"), r("vocab", list, optional=True)))
    raise QModelFileError(f"{r.where}.kind: unknown input stage {kind!r}; 'features' or 'embedding'")


def from_dict(data) -> QModel:
    r = _Reader(data, "qmodel")
    if r("format", str, optional=True) != FORMAT_NAME:
        raise QModelFileError(f"not a QModel: field 'format' must be {FORMAT_NAME!r}")
    version = r("version", int)
    if version != VERSION:
        raise QModelFileError(
            f"QModel file version {version} is not supported by this hwgen (reads version {VERSION}); "
            "re-export the model with this version of hwgen"
        )
    layers = r("layers", list)
    stage = _read_input(r.sub("input"))
    built = [_read_layer(_Reader(d, f"layers[{i}]")) for i, d in enumerate(layers)]
    o = r.sub("output", optional=True)
    output = None
    if o is not None:
        output = _built("output", lambda: DenseLayer(_read_codes(o.sub("w")), _read_fixed(o.sub("b")), o.fmt("out")))
    return _built("qmodel", lambda: check_bounds(QModel(stage, tuple(built), output, r("name", str), r("meta", dict))))




def load(path: str | os.PathLike) -> QModel:
    """Read a QModel file; any problem raises :class:`QModelFileError` naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise QModelFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise QModelFileError(f"{path}: is a folder, not a QModel file") from None
    except OSError as e:
        raise QModelFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw.startswith(TORCH_MAGIC):
        raise QModelFileError(f"{path}: is a torch checkpoint, not a QModel file: run `hwgen export {path} -o "
                              f"model.qmodel.json` first (or give it to `hwgen build`, which exports it)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise QModelFileError(f"{path}: not a QModel file (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise QModelFileError(f"{path}: not a QModel file (invalid JSON at line {e.lineno}: {e.msg})") from None
    except RecursionError:
        raise QModelFileError(f"{path}: not a QModel file (its JSON is nested too deeply)") from None
    try:
        return from_dict(data)
    except QModelFileError as e:
        raise QModelFileError(f"{path}: {e}") from None
    except RecursionError:
        raise QModelFileError(f"{path}: not a QModel file (a value is nested too deeply)") from None


__all__ = ["QModelFileError", "digest", "from_dict", "load", "save", "to_dict", "to_text"]
