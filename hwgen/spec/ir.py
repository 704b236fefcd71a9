"""QModel, hwgen's intermediate representation: the one type every stage after export takes.

A QModel is immutable and its structure is validated on construction (shapes, formats, codes,
how the stages connect). It holds only integers and fixed-point formats, so the golden model and
the generator need no floats to agree. This module is the bottom of the spec and imports nothing
above it: that no signal of a model can overflow int64 is the bound inference's check
(:func:`hwgen.spec.golden.check_bounds`), made by everything that builds a QModel from outside data
(the file reader, the export, :mod:`hwgen.spec.random_qmodel`) and by every golden run. The file form
(JSON, see :mod:`hwgen.qmodel_file`) round-trips exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Mapping

import numpy as np

from .fixedpoint import Fmt, FormatError

LIMIT = 1 << 62  # magnitude limit of any stored integer (see fixedpoint.SAFE_BITS)
EXP_LIMIT = 64  # |exp| and |frac| limit

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
GATE_NAMES = {"rnn": ("a",), "gru": ("r", "z", "n"), "lstm": ("i", "f", "g", "o")}


class QModelError(ValueError):
    """A QModel that breaks the IR's rules; the message names the field and the fix."""


class CodeKind(str, Enum):
    """How a weight matrix's integers ``q`` are restricted (and so how hardware applies them)."""

    BINARY = "binary"  # q in {-1, +1}
    TERNARY = "ternary"  # q in {-1, 0, +1}
    POW2 = "pow2"  # q = 0 or +-2**k, 0 <= k <= span
    FIXED = "fixed"  # |q| <= 2**span - 1, applied as a sum of signed powers of two


class ActFunc(str, Enum):
    SIGMOID = "sigmoid"
    TANH = "tanh"
    RELU = "relu"


class ActImpl(str, Enum):
    HARD = "hard"  # hard sigmoid x/4 + 1/2 / hard tanh / relu: shifts and clamps
    TABLE = "table"  # ROM of 2**addr_bits samples over [-2**range_log2, 2**range_log2)


def frozen_ints(values, what: str, ndim: int | None = None) -> np.ndarray:
    """A read-only int64 copy of ``values``; refuses floats that are not whole numbers."""
    try:
        arr = np.array(values)
    except (TypeError, ValueError) as e:
        raise QModelError(f"{what}: not an integer array ({e})") from None
    if arr.dtype == object or arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        elif arr.size:
            raise QModelError(f"{what}: expected integers, got {arr.dtype} values")
    if arr.size and (arr.max() >= LIMIT or arr.min() <= -LIMIT):
        raise QModelError(f"{what}: values beyond ±2**62")
    arr = arr.astype(np.int64)
    if ndim is not None and arr.ndim != ndim:
        raise QModelError(f"{what}: expected a {ndim}-d array, got shape {arr.shape}")
    arr.flags.writeable = False
    return arr


def _check_shape(arr: np.ndarray, shape: tuple, what: str, why: str):
    if arr.shape != shape:
        raise QModelError(f"{what}: shape {arr.shape}, but {why} needs {shape}")


@dataclass(frozen=True, eq=False)
class FixedArray:
    """Integers at a common binary point: ``values * 2**-frac`` (biases, per-row scales)."""

    values: np.ndarray
    frac: int

    def __post_init__(self):
        object.__setattr__(self, "values", frozen_ints(self.values, "fixed-point array", 1))
        if not isinstance(self.frac, (int, np.integer)) or abs(int(self.frac)) > 64:
            raise QModelError(f"fixed-point array frac {self.frac!r} must be an integer in [-64, 64]")
        object.__setattr__(self, "frac", int(self.frac))

    @classmethod
    def zeros(cls, n: int, frac: int = 0) -> "FixedArray":
        return cls(np.zeros(n, dtype=np.int64), frac)

    def to_float(self) -> np.ndarray:
        return np.ldexp(self.values.astype(np.float64), -self.frac)


@dataclass(frozen=True, eq=False)
class WeightCodes:
    """A weight matrix as integer codes: ``W[r, c] = q[r, c] * 2**exp * scale[r]``.

    ``span`` depends on ``kind``: for POW2 the exponent window is ``[exp, exp + span]``; for FIXED
    ``|q| < 2**span``; BINARY and TERNARY take 0. ``scale`` (binary/ternary's W0, folded per row)
    is optional and positive; it multiplies the exact row sum, so it adds no rounding.
    """

    kind: CodeKind
    q: np.ndarray
    exp: int = 0
    span: int = 0
    scale: FixedArray | None = None

    def __post_init__(self):
        try:
            object.__setattr__(self, "kind", CodeKind(self.kind))
        except ValueError:
            raise QModelError(
                f"unknown weight code kind {self.kind!r}; one of {[k.value for k in CodeKind]}"
            ) from None
        object.__setattr__(self, "q", frozen_ints(self.q, "weight codes", 2))
        for name in ("exp", "span"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or abs(int(v)) > EXP_LIMIT:
                raise QModelError(f"weight {name} {v!r} must be an integer in [-{EXP_LIMIT}, {EXP_LIMIT}]")
            object.__setattr__(self, name, int(v))
        self._check_codes()
        if self.scale is not None:
            if self.scale.values.shape != (self.q.shape[0],):
                raise QModelError(
                    f"weight scale: shape {self.scale.values.shape}, but {self.q.shape[0]} rows "
                    f"need ({self.q.shape[0]},)"
                )
            if np.any(self.scale.values <= 0):
                raise QModelError("weight scale: every per-row scale must be positive")

    def _check_codes(self):
        q, kind = self.q, self.kind
        if kind in (CodeKind.BINARY, CodeKind.TERNARY) and self.span != 0:
            raise QModelError(f"{kind.value} codes take span 0, not {self.span}")
        if kind is CodeKind.BINARY:
            bad = (q != 1) & (q != -1)
            rule = "binary codes must be -1 or +1"
        elif kind is CodeKind.TERNARY:
            bad = np.abs(q) > 1
            rule = "ternary codes must be -1, 0 or +1"
        elif kind is CodeKind.POW2:
            if not 0 <= self.span <= 31:
                raise QModelError(f"pow2 exponent span {self.span} is outside [0, 31]")
            mag = np.abs(q)
            bad = (mag != 0) & (((mag & (mag - 1)) != 0) | (mag > (1 << self.span)))
            lo, hi = self.exp, self.exp + self.span
            rule = (f"pow2 codes must be 0 or +-2**k with 0 <= k <= {self.span} "
                    f"(weights 0 or +-2**e with e in the exponent window [{lo}, {hi}])")
        else:
            if not 1 <= self.span <= 16:
                raise QModelError(f"fixed mantissa bits {self.span} is outside [1, 16]")
            bad = np.abs(q) >= (1 << self.span)
            rule = f"fixed codes must satisfy |q| < 2**{self.span}"
        if np.any(bad):
            r, c = (int(i) for i in np.argwhere(bad)[0])
            raise QModelError(f"code {int(q[r, c])} at [{r}, {c}]: {rule}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.q.shape

    def to_float(self) -> np.ndarray:
        w = np.ldexp(self.q.astype(np.float64), self.exp)
        if self.scale is not None:
            w = w * self.scale.to_float()[:, None]
        return w


@dataclass(frozen=True, eq=False)
class Activation:
    """An activation unit: which function, how it is built, and the format it writes.

    TABLE units hold their samples: ``values[k] = f((k - N/2) * step)`` rounded to ``out``,
    ``N = len(values) = 2**addr_bits``, ``step = 2**(range_log2 + 1 - addr_bits)``.
    Build them with :func:`hwgen.spec.activation.table_activation`.
    """

    func: ActFunc
    impl: ActImpl
    out: Fmt
    range_log2: int | None = None
    values: np.ndarray | None = None

    def __post_init__(self):
        try:
            object.__setattr__(self, "func", ActFunc(self.func))
            object.__setattr__(self, "impl", ActImpl(self.impl))
        except ValueError as e:
            raise QModelError(f"activation: {e}") from None
        if self.func is ActFunc.RELU and self.impl is not ActImpl.HARD:
            raise QModelError("activation: relu has only the 'hard' implementation")
        if self.func is not ActFunc.RELU and not self.out.holds_one(self.func is ActFunc.TANH):
            span = "[-1, 1]" if self.func is ActFunc.TANH else "[0, 1]"
            kind = "a signed format" if self.func is ActFunc.TANH else "a format"
            raise QModelError(
                f"activation {self.func.value}: output format {self.out} cannot hold {span}; use "
                f"{kind} with a non-negative frac and width >= frac + 2, e.g. s16.14"
            )
        if self.impl is ActImpl.TABLE:
            self._check_table()
        elif self.range_log2 is not None or self.values is not None:
            raise QModelError("activation: only table activations take range_log2 and values")

    def _check_table(self):
        if self.values is None or self.range_log2 is None:
            raise QModelError("table activation needs range_log2 and values")
        values = frozen_ints(self.values, f"{self.func.value} table", 1)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "range_log2", int(self.range_log2))
        n = len(values)
        if n < 2 or n & (n - 1) or n > 1 << 16:
            raise QModelError(f"{self.func.value} table: {n} entries; need a power of two in [2, 65536]")
        if not -8 <= self.range_log2 <= 8:
            raise QModelError(f"{self.func.value} table: range_log2 {self.range_log2} outside [-8, 8]")
        if not self.out.contains(values):
            raise QModelError(f"{self.func.value} table: entries outside its output format {self.out}")
        if np.any(np.diff(values) < 0):
            raise QModelError(f"{self.func.value} table: entries must be non-decreasing")

    @property
    def addr_bits(self) -> int:
        return int(len(self.values)).bit_length() - 1 if self.values is not None else 0

    @property
    def step_log2(self) -> int:
        """log2 of the table's input step (table activations only)."""
        return self.range_log2 + 1 - self.addr_bits


@dataclass(frozen=True)
class LayerFormats:
    """Formats of the signals of a recurrent layer that cross a register.

    ``input`` is x, ``state`` h (also this layer's output), ``preact`` every rounded gate
    pre-activation (and GRU's rounded ``W_hn h + b_hn``), ``cell`` LSTM's c.
    """

    input: Fmt
    state: Fmt
    preact: Fmt
    cell: Fmt | None = None


@dataclass(frozen=True, eq=False)
class RecurrentLayer:
    """One RNN / GRU / LSTM layer, gates stacked in torch.nn's order (GRU r,z,n; LSTM i,f,g,o).

    ``gate_act`` is the sigmoid (GRU, LSTM), ``cand_act`` the candidate's tanh (or an RNN's
    tanh/relu, writing the state format), ``cell_act`` LSTM's tanh(c).
    """

    kind: str
    input_size: int
    hidden_size: int
    w_ih: WeightCodes
    w_hh: WeightCodes
    b_ih: FixedArray
    b_hh: FixedArray
    formats: LayerFormats
    cand_act: Activation
    gate_act: Activation | None = None
    cell_act: Activation | None = None

    def __post_init__(self):
        if self.kind not in GATES:
            raise QModelError(f"unknown cell kind {self.kind!r}; one of {sorted(GATES)}")
        for name in ("input_size", "hidden_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise QModelError(f"{name} must be a positive integer, not {v!r}")
        rows = self.gates * self.hidden_size
        why = f"{self.kind} with hidden_size {self.hidden_size}"
        _check_shape(self.w_ih.q, (rows, self.input_size), "w_ih", f"{why}, input_size {self.input_size}")
        _check_shape(self.w_hh.q, (rows, self.hidden_size), "w_hh", why)
        _check_shape(self.b_ih.values, (rows,), "b_ih", why)
        _check_shape(self.b_hh.values, (rows,), "b_hh", why)
        self._check_activations()

    def _check_activations(self):
        f, lstm = self.formats, self.kind == "lstm"
        if not isinstance(self.cand_act, Activation):
            raise QModelError(f"{self.kind} layer: cand_act (the candidate/state activation) is required")
        expect = {
            "gate_act": ActFunc.SIGMOID if self.kind != "rnn" else None,
            "cell_act": ActFunc.TANH if lstm else None,
        }
        for name, func in expect.items():
            act = getattr(self, name)
            if (act is None) != (func is None) or (act is not None and act.func is not func):
                want = f"a {func.value} activation" if func else "None"
                raise QModelError(f"{self.kind} layer: {name} must be {want}")
        cand_ok = (ActFunc.TANH, ActFunc.RELU) if self.kind == "rnn" else (ActFunc.TANH,)
        if self.cand_act.func not in cand_ok:
            raise QModelError(
                f"{self.kind} layer: cand_act must be {' or '.join(a.value for a in cand_ok)}"
            )
        if self.kind == "rnn" and self.cand_act.out != f.state:
            raise QModelError(
                f"rnn layer: the activation writes the state, so its output format "
                f"{self.cand_act.out} must equal the state format {f.state}"
            )
        if lstm != (f.cell is not None):
            raise QModelError(f"{self.kind} layer: a cell format is {'required' if lstm else 'not allowed'}")

    @property
    def gates(self) -> int:
        return GATES[self.kind]

    @property
    def activations(self) -> dict[str, Activation]:
        acts = {"gate_act": self.gate_act, "cand_act": self.cand_act, "cell_act": self.cell_act}
        return {k: v for k, v in acts.items() if v is not None}


@dataclass(frozen=True, eq=False)
class FeatureInput:
    """Feature vectors of ``size`` integers in ``fmt`` arrive each time step."""

    size: int
    fmt: Fmt

    def __post_init__(self):
        if not isinstance(self.size, (int, np.integer)) or self.size < 1:
            raise QModelError(f"feature input size must be a positive integer, not {self.size!r}")

    @property
    def out_size(self) -> int:
        return self.size


@dataclass(frozen=True, eq=False)
class EmbeddingInput:
    """Token ids arrive each time step and select a row of ``table`` (integers in ``fmt``)."""

    table: np.ndarray
    fmt: Fmt
    vocab: tuple[str, ...] | None = None

    def __post_init__(self):
        table = frozen_ints(self.table, "embedding table", 2)
        object.__setattr__(self, "table", table)
        if not self.fmt.contains(table):
            raise QModelError(f"embedding table: entries outside its format {self.fmt}")
        if self.vocab is not None:
            object.__setattr__(self, "vocab", tuple(str(t) for t in self.vocab))
            if len(self.vocab) != table.shape[0]:
                raise QModelError(
                    f"embedding vocab has {len(self.vocab)} tokens but the table has {table.shape[0]} rows"
                )

    @property
    def vocab_size(self) -> int:
        return self.table.shape[0]

    @property
    def out_size(self) -> int:
        return self.table.shape[1]


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """The output layer ``y = W h + b``, rounded once into ``out`` (logits)."""

    w: WeightCodes
    b: FixedArray
    out: Fmt

    def __post_init__(self):
        _check_shape(self.b.values, (self.w.shape[0],), "output b", f"{self.w.shape[0]} output rows")

    @property
    def out_size(self) -> int:
        return self.w.shape[0]


@dataclass(frozen=True, eq=False)
class QModel:
    """A whole model: input stage, recurrent layers, optional dense output layer."""

    input: FeatureInput | EmbeddingInput
    layers: tuple[RecurrentLayer, ...]
    output: DenseLayer | None = None
    name: str = "model"
    meta: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "meta", _frozen_meta(self.meta))
        if not isinstance(self.name, str) or not self.name:
            raise QModelError(f"name must be a non-empty string, not {self.name!r}")
        if not self.layers:
            raise QModelError("a QModel needs at least one recurrent layer")
        size, fmt, where = self.input.out_size, self.input.fmt, "the input stage"
        for i, layer in enumerate(self.layers):
            if layer.input_size != size:
                raise QModelError(
                    f"layers[{i}]: input_size {layer.input_size}, but {where} gives {size}"
                )
            if layer.formats.input != fmt:
                raise QModelError(
                    f"layers[{i}]: input format {layer.formats.input}, but {where} gives {fmt}"
                )
            size, fmt, where = layer.hidden_size, layer.formats.state, f"layers[{i}]"
        if self.output is not None and self.output.w.shape[1] != size:
            raise QModelError(
                f"output: weight shape {self.output.w.shape} takes {self.output.w.shape[1]} inputs, "
                f"but {where} gives {size}"
            )

    @property
    def out_fmt(self) -> Fmt:
        return self.output.out if self.output is not None else self.layers[-1].formats.state

    @property
    def out_size(self) -> int:
        return self.output.out_size if self.output is not None else self.layers[-1].hidden_size

    def __eq__(self, other) -> bool:
        """Field by field, arrays by value (the same model, however it was made)."""
        return isinstance(other, QModel) and _same(self, other)

    __hash__ = None


def _same(a, b) -> bool:
    """Deep equality of IR values: dataclasses field by field, arrays by value, mappings and
    sequences element by element."""
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
        return int(a) == int(b)
    return type(a) is type(b) and a == b


def _frozen_meta(meta) -> Mapping[str, object]:
    """A deep, read-only copy of plain JSON data (dicts become mappings, lists tuples)."""
    try:
        data = json.loads(json.dumps(thaw(meta), sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise QModelError(f"meta must be plain JSON values: {e}") from None
    if not isinstance(data, dict):
        raise QModelError("meta must be a mapping of names to JSON values")
    return _freeze(data)


def _freeze(obj):
    if isinstance(obj, dict):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(v) for v in obj)
    return obj


def thaw(obj):
    """Plain dicts and lists again, from frozen meta data."""
    if isinstance(obj, Mapping):
        return {k: thaw(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [thaw(v) for v in obj]
    return obj


__all__ = [
    "ActFunc", "ActImpl", "Activation", "CodeKind", "DenseLayer", "EmbeddingInput", "FeatureInput",
    "FixedArray", "Fmt", "FormatError", "GATES", "GATE_NAMES", "LayerFormats", "QModel",
    "QModelError", "RecurrentLayer", "WeightCodes",
]
