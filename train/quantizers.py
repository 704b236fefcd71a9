"""Weight quantizers for quantization-aware training (Ott et al. 2016; docs/training.md).

Full-precision *shadow* weights are kept and updated by the optimizer; the forward pass uses their
quantized image; the gradient passes straight through the quantization unchanged (each quantizer
is a :class:`torch.autograd.Function` whose backward returns its incoming gradient).

=====================  ===========================================================================
registry name          definition (``W`` shadow weight, ``W_q`` quantized weight)
=====================  ===========================================================================
``binary``             ``W_q = +H`` where ``W >= 0`` else ``-H`` (``round(p)`` with
                       ``p = clip((W/H + 1)/2, 0, 1)``, halves away from zero; ``H = 1``)
``binary_stochastic``  ``W_q = +H`` with probability ``p``, else ``-H``
``ternary``            ``W0 = sqrt(6/(fan_in + fan_out))`` (Glorot bound); ``W_q = W0`` where
                       ``W > W0/2``, ``-W0`` where ``W < -W0/2``, else 0
``ternary_stochastic`` ``W_q = W0 * sign(W) * Bernoulli(clip(|W|/W0, 0, 1))``
``pow2_ternary``       ``clip(round(W * 2^f), -(2^(i+f) - 1), 2^(i+f) - 1) / 2^f``; ``(i, f) = (0, 1)``
                       gives {-0.5, 0, 0.5}; ``fixed`` is the same quantizer under its general name
``exponential``        ``k = clip(floor(log2|W|), k_min, k_max)``, ``p = |W|/2^k - 1``,
                       ``W_q = sign(W) * 2^clip(k + [p > 0.5], k_min, k_max)``
``exponential_stoch…`` as above with ``k + Bernoulli(clip(p, 0, 1))``
=====================  ===========================================================================

Decisions beyond the table (each one tested in tests/test_quantizers.py):

* ``round`` is half away from zero (:func:`round_half_away`, the reference's rounding and the one
  hwgen.spec.fixedpoint uses), never ``torch.round``'s half-to-even.
* Deterministic binary is evaluated as ``W >= 0``, which equals ``round(p)`` in exact arithmetic;
  evaluating ``p`` in float32 would send negative weights smaller than half an ulp of 1 to ``+H``.
* Exponential quantization has no zero level in training (the paper's quantizer): an exact 0 maps
  to ``+2^k_min``. ``zero=True`` (post-training quantization of a float model, ``hwgen export
  --quantize exponential``) adds the zero level the hardware's pow2 codes have: an exact zero, and
  any weight nearer zero than ``2^k_min`` (``|W| < 2^(k_min - 1)``; the tie goes away from zero),
  becomes 0. ``k + 1`` may pass
  ``k_max``; the final exponent is clipped to the window, so every output is ``±2^k`` with
  ``k_min <= k <= k_max``. Below ``2^k_min`` the stochastic rule is no longer unbiased (``p < 0``
  is clipped to 0): that is the price of a narrow window and is what the window's report measures.
* Ternary's ``W0`` comes from the fans the quantizer is bound to (:meth:`Quantizer.bind`); cells
  bind each stacked gate matrix with ``fan_out = hidden_size`` (one gate's block, the reference's
  per-gate matrices), and a bias uses the ``W0`` of the matrix it is added to. Unbound, ``W0``
  comes from a 2-D tensor's own shape (``fan_out, fan_in = W.shape``).
* ``W0`` and every level are rounded once to the tensor's dtype, so :meth:`Quantizer.codes`
  reproduces ``W_q`` bit for bit.
* Stochastic quantizers sample only when ``training`` is true; at evaluation they apply their
  deterministic counterpart (ternary's ``W0/2`` threshold, exponential's ``p > 0.5``, binary's
  sign). Samples come from an optional :class:`torch.Generator`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

import torch

__all__ = [
    "round_half_away",
    "binary_connect",
    "ternary_connect",
    "pow2_ternarize",
    "exponential_quantize",
    "BinaryConnectFn",
    "TernaryConnectFn",
    "Pow2TernaryFn",
    "ExponentialFn",
    "Codes",
    "Quantizer",
    "BinaryConnect",
    "TernaryConnect",
    "Pow2Ternary",
    "Exponential",
    "glorot_bound",
    "QUANTIZERS",
    "register_quantizer",
    "make_quantizer",
    "available_quantizers",
]


# ------------------------------------------------------------------------------------------------
# Plain (non-differentiable) quantization functions
# ------------------------------------------------------------------------------------------------


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """Round to integers (kept in ``x``'s float dtype), halves away from zero.

    The rule of :func:`hwgen.spec.fixedpoint.round_half_away`, evaluated the same exact way: not as
    ``floor(|x| + 1/2)``, which rounds the largest float below 1/2 up (0.49999997 in float32 would
    become 1), but by comparing ``|x| - floor(|x|)`` (exact) with 1/2.
    """
    a = torch.abs(x)
    whole = torch.floor(a)
    return torch.sign(x) * (whole + (a - whole >= 0.5).to(x.dtype))


def _bernoulli(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Boolean samples, true with probability ``p`` (``p`` in [0, 1]; ``U < p`` with U in [0, 1))."""
    u = torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device)
    return u < p


def _const(value: float, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(value, dtype=like.dtype, device=like.device)


def binary_connect(w: torch.Tensor, H: float = 1.0, stochastic: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """BinaryConnect: ``±H``. Deterministic: ``+H`` where ``W >= 0``; stochastic: ``+H`` w.p. ``p``."""
    h = _const(H, w)
    if stochastic:
        p = torch.clamp((w / h + 1) / 2, 0, 1)
        up = _bernoulli(p, generator)
    else:
        up = w >= 0
    return torch.where(up, h, -h)


def ternary_connect(w: torch.Tensor, w0: float, stochastic: bool = False,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """TernaryConnect: ``{-W0, 0, W0}``; deterministic threshold at ``±W0/2`` (strict)."""
    c = _const(w0, w)
    zero = torch.zeros((), dtype=w.dtype, device=w.device)
    if stochastic:
        keep = _bernoulli(torch.clamp(torch.abs(w) / c, 0, 1), generator)
        return torch.where(keep, torch.sign(w) * c, zero)
    half = c / 2
    return torch.where(w > half, c, torch.where(w < -half, -c, zero))


def pow2_ternarize(w: torch.Tensor, i: int = 0, f: int = 1) -> torch.Tensor:
    """Fixed-point rounding (half away from zero) with saturation to ``i`` integer, ``f`` fraction bits."""
    m = float(2 ** (i + f) - 1)
    q = torch.clamp(round_half_away(w * 2.0 ** f), -m, m)
    return q * 2.0 ** -f


def _exponent_floor(a: torch.Tensor) -> torch.Tensor:
    """``floor(log2 a)`` exactly (via frexp) for ``a > 0``; integer tensor."""
    _, e = torch.frexp(a)
    return e.to(torch.int64) - 1


def _pow2(k: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``2**k`` (integer tensor ``k``) in ``like``'s dtype, exact."""
    return torch.exp2(k.to(like.dtype))


def exponential_quantize(w: torch.Tensor, k_min: int = -22, k_max: int = 9, stochastic: bool = False,
                         generator: torch.Generator | None = None, zero: bool = False) -> torch.Tensor:
    """Exponential (power-of-two) quantization: ``sign(W) * 2^k`` with ``k`` in ``[k_min, k_max]``.

    Exact zeros map to ``+2^k_min`` (there is no zero level), unless ``zero``: then weights with
    ``|W| < 2^(k_min - 1)`` (nearer 0 than ``2^k_min``), exact zeros among them, become 0.
    """
    a = torch.abs(w)
    k = torch.clamp(_exponent_floor(a), k_min, k_max)
    k = torch.where(a > 0, k, k_min)  # frexp(0) has exponent 0; zero maps to +2^k_min
    p = a * _pow2(-k, a) - 1  # exact: a power-of-two scaling, then x - 1 for x in [1, 2)
    if stochastic:
        up = _bernoulli(torch.clamp(p, 0, 1), generator)
    else:
        up = p > 0.5
    kq = torch.clamp(k + up.to(torch.int64), k_min, k_max)
    sign = torch.where(w < 0, -torch.ones_like(w), torch.ones_like(w))
    out = sign * _pow2(kq, w)
    if zero:
        out = torch.where(a < math.ldexp(1.0, k_min - 1), torch.zeros_like(out), out)
    return out


# ------------------------------------------------------------------------------------------------
# Straight-through autograd Functions
# ------------------------------------------------------------------------------------------------


class _StraightThrough(torch.autograd.Function):
    """Backward passes the gradient unchanged to the weight; the other arguments get none."""

    n_args: ClassVar[int]

    @classmethod
    def backward(cls, ctx, grad):  # type: ignore[override]
        return (grad,) + (None,) * (cls.n_args - 1)


class BinaryConnectFn(_StraightThrough):
    """``BinaryConnectFn.apply(w, H, stochastic, generator)``."""

    n_args = 4

    @staticmethod
    def forward(ctx, w, H, stochastic, generator):
        return binary_connect(w, H, stochastic, generator)


class TernaryConnectFn(_StraightThrough):
    """``TernaryConnectFn.apply(w, w0, stochastic, generator)``."""

    n_args = 4

    @staticmethod
    def forward(ctx, w, w0, stochastic, generator):
        return ternary_connect(w, w0, stochastic, generator)


class Pow2TernaryFn(_StraightThrough):
    """``Pow2TernaryFn.apply(w, i, f)``."""

    n_args = 3

    @staticmethod
    def forward(ctx, w, i, f):
        return pow2_ternarize(w, i, f)


class ExponentialFn(_StraightThrough):
    """``ExponentialFn.apply(w, k_min, k_max, stochastic, generator, zero)``."""

    n_args = 6

    @staticmethod
    def forward(ctx, w, k_min, k_max, stochastic, generator, zero=False):
        return exponential_quantize(w, k_min, k_max, stochastic, generator, zero)


# ------------------------------------------------------------------------------------------------
# Codes: the integer view export reads
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Codes:
    """A quantized tensor as integers: ``W_q = q * 2**exp * scale``.

    ``kind`` and ``span`` follow :class:`hwgen.spec.ir.CodeKind` / ``WeightCodes``: ``binary`` (q = ±1),
    ``ternary`` (q in {-1, 0, 1}), ``pow2`` (q = ±2**j, 0 <= j <= span), ``fixed`` (|q| < 2**span).
    ``scale`` is binary's ``H`` or ternary's ``W0`` (already rounded to the tensor's dtype), else 1.
    """

    kind: str
    q: torch.Tensor  # int64, the tensor's shape
    exp: int
    scale: float
    span: int = 0

    def to_float(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The values ``q * 2**exp * scale`` (exact in float64; cast once to ``dtype``)."""
        v = self.q.to(torch.float64) * math.ldexp(1.0, self.exp) * self.scale
        return v.to(dtype)


def _check_codes(codes: Codes, w_q: torch.Tensor, name: str) -> Codes:
    if not torch.equal(codes.to_float(w_q.dtype), w_q):
        bad = (codes.to_float(w_q.dtype) != w_q).nonzero()[0].tolist()
        raise ValueError(
            f"{name}: value {w_q[tuple(bad)].item()!r} at {bad} is not one of this quantizer's "
            f"levels; codes() takes the output of the same quantizer"
        )
    return codes


# ------------------------------------------------------------------------------------------------
# Quantizer objects (configuration + the operations training and export need)
# ------------------------------------------------------------------------------------------------


def glorot_bound(fan_in: int, fan_out: int) -> float:
    """``sqrt(6 / (fan_in + fan_out))``, TernaryConnect's ``W0``."""
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"fans must be positive, got fan_in={fan_in}, fan_out={fan_out}")
    return math.sqrt(6.0 / (fan_in + fan_out))


class Quantizer:
    """Base class. Subclasses are frozen dataclasses; instances are configuration, not state."""

    name: ClassVar[str] = ""
    stochastic: bool = False

    def quantize(self, w: torch.Tensor, training: bool = False,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """``W_q`` with a straight-through gradient; stochastic only when ``training``."""
        raise NotImplementedError

    def __call__(self, w: torch.Tensor, training: bool = False,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        return self.quantize(w, training, generator)

    def bind(self, fan_in: int, fan_out: int) -> "Quantizer":
        """This quantizer specialised to one matrix (fixes ternary's ``W0``); others return self."""
        return self

    def bounds(self, like: torch.Tensor | None = None) -> tuple[float, float]:
        """The interval the shadow weights are clipped to after each optimizer step."""
        raise NotImplementedError

    def init_bound(self, glorot: float) -> float:
        """The bound of the uniform initialisation of a matrix whose Glorot bound is ``glorot``."""
        return glorot

    def clip_(self, w: torch.Tensor) -> torch.Tensor:
        """Clip shadow weights in place to :meth:`bounds`; returns ``w``."""
        lo, hi = self.bounds(w)
        with torch.no_grad():
            w.clamp_(lo, hi)
        return w

    def levels(self, like: torch.Tensor | None = None) -> torch.Tensor:
        """Every value the quantizer can output, ascending (in ``like``'s dtype, else float64)."""
        raise NotImplementedError

    def codes(self, w_q: torch.Tensor) -> Codes:
        """Integer codes of a tensor this quantizer produced; raises ValueError for any other value."""
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """``{"name": ..., **fields}``; ``make_quantizer(q.spec()) == q``."""
        return {"name": self.name, **dataclasses.asdict(self)}  # type: ignore[call-overload]


def _dtype_of(like: torch.Tensor | None) -> torch.dtype:
    return torch.float64 if like is None else like.dtype


@dataclass(frozen=True)
class BinaryConnect(Quantizer):
    H: float = 1.0
    stochastic: bool = False
    name: ClassVar[str] = "binary"

    def __post_init__(self):
        if not self.H > 0:
            raise ValueError(f"BinaryConnect: H must be positive, got {self.H}")

    def spec(self):
        return {"name": "binary_stochastic" if self.stochastic else "binary", "H": self.H}

    def quantize(self, w, training=False, generator=None):
        return BinaryConnectFn.apply(w, self.H, self.stochastic and training, generator)

    def bounds(self, like=None):
        return (-self.H, self.H)

    def levels(self, like=None):
        h = float(torch.tensor(self.H, dtype=_dtype_of(like)))
        return torch.tensor([-h, h], dtype=_dtype_of(like))

    def codes(self, w_q):
        scale = float(_const(self.H, w_q))
        q = torch.where(w_q > 0, 1, -1).to(torch.int64)
        return _check_codes(Codes("binary", q, 0, scale), w_q, "BinaryConnect")


@dataclass(frozen=True)
class TernaryConnect(Quantizer):
    """``w0=None``: the Glorot bound of the bound fans (:meth:`bind`), else of the tensor's shape."""

    stochastic: bool = False
    w0: float | None = None
    name: ClassVar[str] = "ternary"

    def __post_init__(self):
        if self.w0 is not None and not self.w0 > 0:
            raise ValueError(f"TernaryConnect: w0 must be positive, got {self.w0}")

    def spec(self):
        return {"name": "ternary_stochastic" if self.stochastic else "ternary", "w0": self.w0}

    def bind(self, fan_in, fan_out):
        return self if self.w0 is not None else dataclasses.replace(self, w0=glorot_bound(fan_in, fan_out))

    def w0_for(self, w: torch.Tensor | None) -> float:
        if self.w0 is not None:
            return self.w0
        if w is None or w.dim() != 2:
            shape = None if w is None else tuple(w.shape)
            raise ValueError(
                f"TernaryConnect: W0 is the Glorot bound of a matrix, but this quantizer is not bound "
                f"to one and the tensor's shape is {shape}; call .bind(fan_in, fan_out) or pass w0="
            )
        fan_out, fan_in = w.shape
        return glorot_bound(fan_in, fan_out)

    def quantize(self, w, training=False, generator=None):
        return TernaryConnectFn.apply(w, self.w0_for(w), self.stochastic and training, generator)

    def bounds(self, like=None):
        w0 = self.w0_for(like)
        return (-w0, w0)

    def levels(self, like=None):
        w0 = float(torch.tensor(self.w0_for(like), dtype=_dtype_of(like)))
        return torch.tensor([-w0, 0.0, w0], dtype=_dtype_of(like))

    def codes(self, w_q):
        scale = float(_const(self.w0_for(w_q), w_q))
        q = torch.sign(w_q).to(torch.int64)
        return _check_codes(Codes("ternary", q, 0, scale), w_q, "TernaryConnect")


@dataclass(frozen=True)
class Pow2Ternary(Quantizer):
    """Fixed point with ``i`` integer and ``f`` fraction bits (plus sign); (0, 1) is pow2-ternary."""

    i: int = 0
    f: int = 1
    name: ClassVar[str] = "pow2_ternary"

    def __post_init__(self):
        if int(self.i) != self.i or int(self.f) != self.f or self.i + self.f < 1:
            raise ValueError(
                f"Pow2Ternary: i and f must be integers with i + f >= 1 (a nonzero level), "
                f"got i={self.i}, f={self.f}"
            )

    @property
    def max_code(self) -> int:
        return 2 ** (self.i + self.f) - 1

    def quantize(self, w, training=False, generator=None):
        return Pow2TernaryFn.apply(w, self.i, self.f)

    def bounds(self, like=None):
        m = math.ldexp(self.max_code, -self.f)
        return (-m, m)

    def init_bound(self, glorot):
        """At least 3/4 of a step ``2^-f``, so a third of the weights start nonzero. A Glorot bound
        under half a step (the paper's setting: fan_in + fan_out > 96) rounds every weight to zero,
        and a network whose weights are all zero passes no gradient to any of them: it only learns
        biases (PTB, GRU 64: valid bpc 5.02 after 600 steps, 2.97 with this bound; bounds of 0.6
        and 1 step gave 3.00 and 3.09)."""
        return max(glorot, 0.75 * 2.0 ** -self.f)

    def levels(self, like=None):
        q = torch.arange(-self.max_code, self.max_code + 1, dtype=torch.float64)
        return (q * 2.0 ** -self.f).to(_dtype_of(like))

    def codes(self, w_q):
        q = round_half_away(w_q.to(torch.float64) * 2.0 ** self.f).to(torch.int64)
        if self.i + self.f == 1:  # q in {-1, 0, 1}: hardware's add/subtract/skip
            codes = Codes("ternary", q, -self.f, 1.0, 0)
        else:
            codes = Codes("fixed", q, -self.f, 1.0, self.i + self.f)
        if torch.any(q.abs() > self.max_code):
            raise ValueError(f"Pow2Ternary: a value exceeds the largest level {self.bounds()[1]}")
        return _check_codes(codes, w_q, "Pow2Ternary")


@dataclass(frozen=True)
class Exponential(Quantizer):
    """``±2^k``, ``k`` in ``[k_min, k_max]`` (the reference used [-22, 9]; hardware wants narrower).
    ``zero``: also 0, for weights nearer zero than ``2^k_min`` (post-training quantization)."""

    k_min: int = -22
    k_max: int = 9
    stochastic: bool = False
    zero: bool = False
    name: ClassVar[str] = "exponential"

    def __post_init__(self):
        if int(self.k_min) != self.k_min or int(self.k_max) != self.k_max or self.k_min > self.k_max:
            raise ValueError(
                f"Exponential: the window needs integers k_min <= k_max, got [{self.k_min}, {self.k_max}]"
            )

    def spec(self):
        spec = {"name": "exponential_stochastic" if self.stochastic else "exponential",
                "k_min": self.k_min, "k_max": self.k_max}
        return {**spec, "zero": True} if self.zero else spec

    def quantize(self, w, training=False, generator=None):
        return ExponentialFn.apply(w, self.k_min, self.k_max, self.stochastic and training, generator,
                                   self.zero)

    def bounds(self, like=None):
        m = math.ldexp(1.0, self.k_max)
        return (-m, m)

    def levels(self, like=None):
        pos = torch.exp2(torch.arange(self.k_min, self.k_max + 1, dtype=torch.float64))
        zero = torch.zeros(1 if self.zero else 0, dtype=torch.float64)
        return torch.cat([-pos.flip(0), zero, pos]).to(_dtype_of(like))

    def codes(self, w_q):
        a = torch.abs(w_q)
        k = torch.clamp(_exponent_floor(a), self.k_min, self.k_max)
        sign = torch.where(w_q < 0, -1, 1).to(torch.int64)
        q = sign * torch.bitwise_left_shift(torch.ones_like(k), k - self.k_min)
        if self.zero:
            q = torch.where(a > 0, q, torch.zeros_like(q))
        codes = Codes("pow2", q, self.k_min, 1.0, self.k_max - self.k_min)
        return _check_codes(codes, w_q, "Exponential")


# ------------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------------

QUANTIZERS: dict[str, Callable[..., Quantizer]] = {}


def register_quantizer(name: str, factory: Callable[..., Quantizer]) -> None:
    """Make ``make_quantizer(name, **kwargs)`` call ``factory(**kwargs)``."""
    if name in QUANTIZERS:
        raise ValueError(f"quantizer {name!r} is already registered")
    QUANTIZERS[name] = factory


register_quantizer("binary", functools.partial(BinaryConnect, stochastic=False))
register_quantizer("binary_stochastic", functools.partial(BinaryConnect, stochastic=True))
register_quantizer("ternary", functools.partial(TernaryConnect, stochastic=False))
register_quantizer("ternary_stochastic", functools.partial(TernaryConnect, stochastic=True))
register_quantizer("pow2_ternary", Pow2Ternary)
register_quantizer("fixed", Pow2Ternary)
register_quantizer("exponential", functools.partial(Exponential, stochastic=False))
register_quantizer("exponential_stochastic", functools.partial(Exponential, stochastic=True))

_NO_QUANTIZATION = (None, "none", "float")


def available_quantizers() -> list[str]:
    return sorted(QUANTIZERS)


def make_quantizer(spec: str | Mapping[str, Any] | Quantizer | None, **kwargs) -> Quantizer | None:
    """A quantizer from a registry name (plus keyword settings), a ``spec()`` dict, or an instance.

    ``None``, ``"none"`` and ``"float"`` mean no quantization and return None.
    """
    if isinstance(spec, Quantizer):
        if kwargs:
            raise TypeError("make_quantizer: settings cannot be given with a Quantizer instance")
        return spec
    if isinstance(spec, Mapping):
        spec = dict(spec)
        if "name" not in spec:
            raise ValueError(f"make_quantizer: a spec dict needs a 'name' key, got {sorted(spec)}")
        name = spec.pop("name")
        spec = {k: v for k, v in spec.items() if v is not None}
        return make_quantizer(name, **{**spec, **kwargs})
    if spec in _NO_QUANTIZATION:
        if kwargs:
            raise TypeError(f"make_quantizer: no quantization takes no settings, got {sorted(kwargs)}")
        return None
    if not isinstance(spec, str) or spec not in QUANTIZERS:
        raise ValueError(
            f"unknown quantizer {spec!r}; one of {available_quantizers()} or 'none'"
        )
    try:
        return QUANTIZERS[spec](**kwargs)
    except TypeError as e:
        raise TypeError(f"quantizer {spec!r}: {e}") from None
