"""The whole trainable model: input stage → stack of quantized recurrent layers → output layer.

A :class:`RecurrentModel` is built from a plain, JSON-able config dict (the ``"config"`` entry of a
model.pt, docs/model-pt-format.md)::

    {
      "input": {"kind": "embedding", "vocab_size": 50, "dim": 16}   # dim 0: one-hot into W_ih
             | {"kind": "features", "size": 12},
      "cell": "gru",                      # rnn | gru | lstm
      "hidden": [128],                    # one entry per layer
      "activation": "hard",               # hard (the hardware's units) | smooth
      "nonlinearity": "tanh",             # vanilla RNN only: tanh | relu
      "quantizer": {"name": "ternary", "w0": null} | null,   # Quantizer.spec(); null = float
      "quantize": {"input": true, "recurrent": true, "bias": true, "output": true},
      "batch_norm": false,                # false | "input" | "input_product" (cells' batch_norm)
      "bn_gamma": 1.0,                    # BatchNorm's initial scale (the reference: 0.1)
      "bias": "pair",                     # pair: torch's b_ih and b_hh | per_gate: one, input side
      "init": "glorot",                   # glorot | torch (see below)
      "output_size": 50,
    }

``init="glorot"`` (the default): every weight matrix block (one gate's ``hidden × fan_in`` block,
the output matrix) uniform in ``±sqrt(6/(fan_in+fan_out))``, biases zero. That bound is exactly
TernaryConnect's ``W0``, so a ternarized matrix starts half zero and a quarter ``±W0`` each.
torch's ``U(±1/sqrt(hidden))`` (``init="torch"``) lies mostly inside ``±W0/2`` (and inside
pow2-ternary's ``±1/4``), so those layers start all zero and training stalls: on synthetic-seq,
200 steps reach 0.96 valid accuracy with glorot and stay at 0.53 with torch's init, for both
ternary and pow2_ternary. Pow2-ternary widens the bound to 3/4 of its step where Glorot's is
smaller (:meth:`Quantizer.init_bound`): otherwise every weight of a PTB-sized layer rounds to zero.

``forward(x, state)`` takes token ids ``(B, T)`` (int64) or features ``(B, T, F)`` and returns
``(logits (B, T, output_size), state)``; ``state`` is the list of per-layer states (an LSTM
layer's is the pair ``(h, c)``), ``None`` for zeros.

The embedding table stays full precision (export turns it into a fixed-point table); the output
layer is a :class:`QuantLinear` using the recurrent layers' quantizer (bound to its own fans) unless
``quantize.output`` is false.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Mapping

import torch
from torch import nn

from .cells import CELLS, QuantStack, clip_shadow_weights_
from .quantizers import Codes, Quantizer, glorot_bound, make_quantizer

__all__ = ["QuantLinear", "RecurrentModel", "normalize_config", "detach_state", "map_state", "CELL_KINDS",
           "BIAS_MODES"]

CELL_KINDS = tuple(sorted(CELLS))
#: ``pair``: torch's ``b_ih`` and ``b_hh``; ``per_gate``: one bias per gate on the input side.
BIAS_MODES = ("pair", "per_gate")
_QUANTIZE_KEYS = ("input", "recurrent", "bias", "output")


class ConfigError(ValueError):
    """A model config that cannot describe a model."""


def _positive_int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"{what} must be a positive integer, not {v!r}")
    return v


def normalize_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A validated copy of ``config`` with every default filled in (raises :class:`ConfigError`)."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"a model config is a dict, not {type(config).__name__}")
    c = copy.deepcopy(dict(config))
    known = {"input", "cell", "hidden", "activation", "nonlinearity", "quantizer", "quantize",
             "batch_norm", "bn_gamma", "bias", "init", "output_size"}
    extra = sorted(set(c) - known)
    if extra:
        raise ConfigError(f"unknown model config keys {extra}; known: {sorted(known)}")
    inp = c.get("input")
    if not isinstance(inp, Mapping) or inp.get("kind") not in ("embedding", "features"):
        raise ConfigError("config['input'] must be {'kind': 'embedding', 'vocab_size': V, 'dim': D} "
                          "or {'kind': 'features', 'size': F}")
    inp = dict(inp)
    if inp["kind"] == "embedding":
        _positive_int(inp.get("vocab_size"), "input vocab_size")
        dim = inp.setdefault("dim", 0)
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            raise ConfigError(f"input embedding dim must be an integer >= 0 (0: one-hot), not {dim!r}")
    else:
        _positive_int(inp.get("size"), "input feature size")
    c["input"] = inp
    c.setdefault("cell", "gru")
    if c["cell"] not in CELLS:
        raise ConfigError(f"cell must be one of {list(CELL_KINDS)}, not {c['cell']!r}")
    hidden = c.get("hidden")
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    if not isinstance(hidden, (list, tuple)) or not hidden:
        raise ConfigError(f"hidden must be a non-empty list of layer sizes, not {hidden!r}")
    c["hidden"] = [_positive_int(h, "every hidden size") for h in hidden]
    c.setdefault("activation", "smooth")
    if c["activation"] not in ("hard", "smooth"):
        raise ConfigError(f"activation must be 'hard' or 'smooth', not {c['activation']!r}")
    c.setdefault("nonlinearity", "tanh")
    if c["nonlinearity"] not in ("tanh", "relu"):
        raise ConfigError(f"nonlinearity must be 'tanh' or 'relu', not {c['nonlinearity']!r}")
    q = c.get("quantizer")
    try:
        quant = make_quantizer(q)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"quantizer: {e}") from None
    c["quantizer"] = None if quant is None else quant.spec()
    flags = dict(c.get("quantize") or {})
    bad = sorted(set(flags) - set(_QUANTIZE_KEYS))
    if bad:
        raise ConfigError(f"quantize has unknown keys {bad}; known: {list(_QUANTIZE_KEYS)}")
    c["quantize"] = {k: bool(flags.get(k, True)) for k in _QUANTIZE_KEYS}
    bn = c.setdefault("batch_norm", False)
    if bn not in (False, "input", "input_product"):
        if bn is True:
            c["batch_norm"] = "input"
        else:
            raise ConfigError(f"batch_norm must be false, 'input' or 'input_product', not {bn!r}")
    gamma = c.setdefault("bn_gamma", 1.0)
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(gamma) \
            or gamma <= 0:
        raise ConfigError(f"bn_gamma must be a positive number, not {gamma!r}")
    c["bn_gamma"] = float(gamma)
    if c.setdefault("bias", "pair") not in BIAS_MODES:
        raise ConfigError(f"bias must be one of {list(BIAS_MODES)}, not {c['bias']!r}")
    c.setdefault("init", "glorot")
    if c["init"] not in ("glorot", "torch"):
        raise ConfigError(f"init must be 'glorot' or 'torch', not {c['init']!r}")
    c["output_size"] = _positive_int(c.get("output_size"), "output_size")
    return c


class QuantLinear(nn.Module):
    """``y = W_q h + b_q``: a dense layer whose weight and bias are quantized like the cells'.

    ``weight`` is ``(out_features, in_features)``; the quantizer is bound to those fans, and the bias
    uses the weight's binding (ternary's ``W0``), as in the cells.
    """

    def __init__(self, in_features: int, out_features: int, *, quantizer: Any = None,
                 quantize_weight: bool = True, quantize_bias: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        q = make_quantizer(quantizer)
        bound = q.bind(in_features, out_features) if q is not None else None
        self.quantizers: dict[str, Quantizer | None] = {
            "weight": bound if quantize_weight else None,
            "bias": bound if quantize_bias else None,
        }
        self.generator = generator
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn.Linear's U(-1/sqrt(in), 1/sqrt(in)) for both tensors, then clipping."""
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            self.bias.uniform_(-bound, bound)
        self.clip_weights_()

    def clip_weights_(self) -> None:
        for name, quant in self.quantizers.items():
            if quant is not None:
                quant.clip_(getattr(self, name))

    def effective_parameters(self, training: bool | None = None) -> dict[str, torch.Tensor]:
        training = self.training if training is None else training
        return {name: (getattr(self, name) if quant is None
                       else quant.quantize(getattr(self, name), training, self.generator))
                for name, quant in self.quantizers.items()}

    def codes(self) -> dict[str, Codes]:
        with torch.no_grad():
            eff = self.effective_parameters(training=False)
            return {n: q.codes(eff[n]) for n, q in self.quantizers.items() if q is not None}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.effective_parameters()
        return nn.functional.linear(x, w["weight"], w["bias"])

    def extra_repr(self) -> str:
        q = {k: (v.spec() if v is not None else None) for k, v in self.quantizers.items()}
        return f"{self.in_features}, {self.out_features}, quantizers={q}"


def map_state(state, fn):
    """``fn`` applied to every tensor of a carried state (a tensor, an LSTM's (h, c), a list of
    per-layer states, or None), the structure kept."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    return type(state)(map_state(s, fn) for s in state)


def detach_state(state):
    """The state with every tensor detached (truncated BPTT); lists and (h, c) pairs kept."""
    return map_state(state, torch.Tensor.detach)


def _uniform_init(module: nn.Module, name: str, fan_in: int, fan_out: int) -> None:
    """Glorot-uniform, widened where the matrix's quantizer needs it (:meth:`Quantizer.init_bound`)."""
    bound = glorot_bound(fan_in, fan_out)
    quantizer = module.quantizers.get(name)
    if quantizer is not None:
        bound = quantizer.init_bound(bound)
    getattr(module, name).uniform_(-bound, bound)


class RecurrentModel(nn.Module):
    """Input stage, a :class:`~train.cells.QuantStack` of layers, and a :class:`QuantLinear` output.

    Submodules (their names are the state_dict prefixes): ``embedding`` (``nn.Embedding``, only for
    an embedding input with ``dim > 0``), ``stack.layers.N`` (the cells), ``output``.
    All stochastic quantizers share one :class:`torch.Generator`, :attr:`generator`.
    """

    def __init__(self, config: Mapping[str, Any]):
        super().__init__()
        self.config = normalize_config(config)
        c = self.config
        self.generator = torch.Generator()
        inp = c["input"]
        if inp["kind"] == "embedding":
            self.vocab_size = inp["vocab_size"]
            if inp["dim"] > 0:
                self.embedding = nn.Embedding(inp["vocab_size"], inp["dim"])
                in_size = inp["dim"]
            else:
                self.embedding = None
                in_size = inp["vocab_size"]
        else:
            self.vocab_size = None
            self.embedding = None
            in_size = inp["size"]
        self.input_size = in_size
        qspec, flags = c["quantizer"], c["quantize"]
        cell_kw: dict[str, Any] = dict(
            activation=c["activation"], quantizer=qspec, quantize_ih=flags["input"],
            quantize_hh=flags["recurrent"], quantize_bias=flags["bias"],
            batch_norm=c["batch_norm"], bn_gamma=c["bn_gamma"], generator=self.generator,
            bias="input" if c["bias"] == "per_gate" else True,
        )
        if c["cell"] == "rnn":
            cell_kw["nonlinearity"] = c["nonlinearity"]
        hidden = c["hidden"]
        self.stack = QuantStack(c["cell"], in_size, hidden[0], 1, **cell_kw)
        for prev, h in zip(hidden, hidden[1:]):  # layers of differing sizes
            self.stack.layers.append(CELLS[c["cell"]](prev, h, **cell_kw))
        self.output = QuantLinear(hidden[-1], c["output_size"], quantizer=qspec,
                                  quantize_weight=flags["output"],
                                  quantize_bias=flags["output"] and flags["bias"],
                                  generator=self.generator)
        if c["init"] == "glorot":
            self.reset_glorot_()

    @torch.no_grad()
    def reset_glorot_(self) -> None:
        """Glorot-uniform weights per gate block, zero biases, then shadow-weight clipping."""
        for layer in self.stack.layers:
            h = layer.hidden_size
            for name, fan_in in (("weight_ih", layer.input_size), ("weight_hh", h)):
                _uniform_init(layer, name, fan_in, h)
            for name in ("bias_ih", "bias_hh"):
                if getattr(layer, name) is not None:
                    getattr(layer, name).zero_()  # b_hh of a per-gate layer is zero anyway
        _uniform_init(self.output, "weight", self.output.in_features, self.output.out_features)
        self.output.bias.zero_()
        self.clip_weights_()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "RecurrentModel":
        return cls(config)

    def use_generator(self, generator: torch.Generator) -> None:
        """Make every stochastic quantizer draw from ``generator`` (one on the model's device)."""
        self.generator = generator
        for m in self.modules():
            if m is not self and hasattr(m, "generator"):
                m.generator = generator

    @property
    def is_token_model(self) -> bool:
        return self.config["input"]["kind"] == "embedding"

    def clip_weights_(self) -> None:
        """Clip every quantized tensor's shadow weights (cells and output); after each step."""
        clip_shadow_weights_(self)
        self.output.clip_weights_()

    def codes(self) -> dict[str, Codes]:
        """Integer codes of every quantized tensor, keyed by its state_dict name."""
        out: dict[str, Codes] = {}
        for n, layer in enumerate(self.stack.layers):
            out.update({f"stack.layers.{n}.{k}": v for k, v in layer.codes().items()})
        out.update({f"output.{k}": v for k, v in self.output.codes().items()})
        return out

    def quantized_tensors(self) -> dict[str, dict[str, Any] | None]:
        """For each weight/bias in the cells and the output: its bound quantizer spec, or None."""
        out: dict[str, dict[str, Any] | None] = {}
        for n, layer in enumerate(self.stack.layers):
            for k, q in layer.quantizers.items():
                if getattr(layer, k) is not None:
                    out[f"stack.layers.{n}.{k}"] = None if q is None else q.spec()
        for k, q in self.output.quantizers.items():
            out[f"output.{k}"] = None if q is None else q.spec()
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_token_model:
            if x.dim() != 2:
                raise ValueError(f"token input must be (batch, time) ids, got shape {tuple(x.shape)}")
            x = x.long()
            if self.embedding is not None:
                return self.embedding(x)
            return nn.functional.one_hot(x, self.vocab_size).to(self.output.weight.dtype)
        if x.dim() != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"feature input must be (batch, time, {self.input_size}), got {tuple(x.shape)}")
        return x.to(self.output.weight.dtype)

    def forward(self, x: torch.Tensor, state=None):
        h, state = self.stack(self.embed(x), state)
        return self.output(h), state
