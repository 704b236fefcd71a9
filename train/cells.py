"""Quantization-aware recurrent layers: QuantRNN, QuantGRU, QuantLSTM and a stacking container.

The float equations are exactly torch.nn.RNN / GRU / LSTM's, with torch's gate order (GRU r, z, n;
LSTM i, f, g, o) and its GRU candidate ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
``h' = (1 - z) * n + z * h``. Parameters are ``weight_ih`` (gates*hidden, input),
``weight_hh`` (gates*hidden, hidden), ``bias_ih`` and ``bias_hh`` (gates*hidden): torch's
``*_l0`` tensors without the suffix (:meth:`QuantCell.from_torch` copies them over).

Each forward pass quantizes the shadow weights once (stochastically only in training mode) with a
straight-through gradient, then runs the sequence. Activations and state stay full precision.
``activation="smooth"`` (sigmoid/tanh) runs the whole sequence through PyTorch's own recurrent
kernels (``torch._VF.rnn_tanh / rnn_relu / gru / lstm``, what torch.nn.RNN/GRU/LSTM call), given the
quantized tensors as explicit weights, so autograd still carries the straight-through gradient to
the shadow weights; those kernels are 2-3x faster than a Python loop over time on a CPU. The
Python loop over time (:meth:`QuantCell.forward_steps`) remains where the kernels cannot follow:
``activation="hard"`` (the hardware's units, hwgen/spec/activation.py:
``hard_sigmoid(x) = clamp(x/4 + 1/2, 0, 1)`` and ``hard_tanh(x) = clamp(x, -1, 1)``; torch's own
Hardsigmoid is x/6 + 1/2 and is not used) and ``batch_norm="input_product"``, which normalises
``W_ih x`` between the product and the recurrence. Both paths compute the same function (tested).

``bias="input"`` keeps one bias per gate, on the input side (``bias_hh`` is a frozen zero tensor),
as the reference implementation of Ott et al. does (Lasagne's GRU: ``n = tanh(W_in x + b_n +
r * (W_hn h))``); ``bias=True`` is torch's pair of biases.

Input is batch-first ``(B, T, input_size)``; a state is ``h`` of shape ``(B, hidden)`` (LSTM:
the pair ``(h, c)``); ``forward`` returns ``(outputs (B, T, hidden), final_state)``.

Optional BatchNorm1d (statistics over batch and time) sits on the input path only, never on the
recurrent path: ``batch_norm="input"`` (or True) normalises the layer input x (the reference's
choice; ``bn_gamma`` sets the initial scale, 0.1 there);
``batch_norm="input_product"`` normalises ``W_ih x`` per row (Laurent et al. 2016), which folds
into a per-row scale and bias of the input weights at export without disturbing their codes.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .quantizers import Codes, Quantizer, make_quantizer

__all__ = [
    "hard_sigmoid",
    "hard_tanh",
    "QuantCell",
    "QuantRNN",
    "QuantGRU",
    "QuantLSTM",
    "QuantStack",
    "CELLS",
    "clip_shadow_weights_",
]


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """The hardware's hard sigmoid ``clamp(x/4 + 1/2, 0, 1)`` (slope 1/4, sigmoid's at 0)."""
    return torch.clamp(x * 0.25 + 0.5, 0.0, 1.0)


def hard_tanh(x: torch.Tensor) -> torch.Tensor:
    """The hardware's hard tanh ``clamp(x, -1, 1)``."""
    return torch.clamp(x, -1.0, 1.0)


_ACTIVATIONS = {
    "smooth": (torch.sigmoid, torch.tanh),
    "hard": (hard_sigmoid, hard_tanh),
}
_BATCH_NORM = {False: None, None: None, True: "input", "input": "input", "input_product": "input_product"}
_TENSORS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_BIAS = (True, False, "input")

State = Any  # a (B, H) tensor, or (h, c) for an LSTM


class QuantCell(nn.Module):
    """One recurrent layer; subclasses set ``gates`` and ``_step``.

    ``quantizer`` (a registry name, spec dict, :class:`~train.quantizers.Quantizer` or None) applies
    to the weight matrices, ``bias_quantizer`` to the biases (``"same"``: the weights' quantizer;
    a ternary bias uses the ``W0`` of the matrix it is added to). ``quantize_ih``,
    ``quantize_hh`` and ``quantize_bias`` switch each group off. ``generator`` feeds the
    stochastic quantizers. ``bias``: True (torch's ``b_ih`` and ``b_hh``), ``"input"`` (one bias
    per gate: ``b_ih``; ``b_hh`` stays a frozen zero so the parameter layout is torch's) or False.
    """

    gates: int = 1
    kind: str = ""

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True,
                 activation: str = "smooth", quantizer: Any = None, bias_quantizer: Any = "same",
                 quantize_ih: bool = True, quantize_hh: bool = True, quantize_bias: bool = True,
                 batch_norm: bool | str = False, bn_gamma: float = 1.0,
                 generator: torch.Generator | None = None, device=None, dtype=None):
        super().__init__()
        for what, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{type(self).__name__}: {what} must be a positive integer, not {v!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{type(self).__name__}: activation must be one of "
                             f"{sorted(_ACTIVATIONS)}, not {activation!r}")
        if batch_norm not in _BATCH_NORM:
            raise ValueError(f"{type(self).__name__}: batch_norm must be False, True, 'input' or "
                             f"'input_product', not {batch_norm!r}")
        if not any(bias is b for b in _BIAS) and bias != "input":
            raise ValueError(f"{type(self).__name__}: bias must be True, False or 'input', not {bias!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.bias, self.one_bias = bool(bias), bias == "input"
        self.activation = activation
        self._sigmoid, self._tanh = _ACTIVATIONS[activation]
        self.generator = generator
        rows = self.gates * hidden_size
        kw = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size, **kw))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows, **kw))
            # One bias per gate: b_hh is a frozen zero (no gradient, never quantized), so the
            # state_dict and every reader of it keep torch's layout.
            self.bias_hh = nn.Parameter(torch.zeros(rows, **kw), requires_grad=not self.one_bias)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.batch_norm = _BATCH_NORM[batch_norm]
        if self.batch_norm == "input":
            self.bn = nn.BatchNorm1d(input_size, **kw)
        elif self.batch_norm == "input_product":
            self.bn = nn.BatchNorm1d(rows, **kw)
        else:
            self.bn = None
        if self.bn is not None:
            with torch.no_grad():
                self.bn.weight.fill_(bn_gamma)

        wq = make_quantizer(quantizer)
        bq = wq if isinstance(bias_quantizer, str) and bias_quantizer == "same" else make_quantizer(bias_quantizer)
        # Each stacked gate block is one matrix of the reference: fan_out = hidden_size.
        fans = {"ih": (input_size, hidden_size), "hh": (hidden_size, hidden_size)}
        q: dict[str, Quantizer | None] = {
            "weight_ih": wq.bind(*fans["ih"]) if wq is not None and quantize_ih else None,
            "weight_hh": wq.bind(*fans["hh"]) if wq is not None and quantize_hh else None,
            "bias_ih": bq.bind(*fans["ih"]) if bq is not None and quantize_bias and bias else None,
            "bias_hh": (bq.bind(*fans["hh"]) if bq is not None and quantize_bias and bias
                        and not self.one_bias else None),
        }
        self.quantizers = q
        self.reset_parameters()

    # -- parameters ------------------------------------------------------------------------------

    def reset_parameters(self) -> None:
        """torch.nn.RNN's initialisation, U(-1/sqrt(hidden), 1/sqrt(hidden)), then clipping."""
        bound = self.hidden_size ** -0.5
        with torch.no_grad():
            for name in _TENSORS:
                p = getattr(self, name)
                if p is not None and p.requires_grad:
                    p.uniform_(-bound, bound)
        self.clip_weights_()

    def clip_weights_(self) -> None:
        """Clip every quantized tensor's shadow weights to its quantizer's range (after each step)."""
        for name, quant in self.quantizers.items():
            p = getattr(self, name)
            if quant is not None and p is not None:
                quant.clip_(p)

    def effective_parameters(self, training: bool | None = None) -> dict[str, torch.Tensor | None]:
        """The tensors the forward pass uses: quantized (straight-through) where switched on."""
        training = self.training if training is None else training
        out = {}
        for name in _TENSORS:
            p, quant = getattr(self, name), self.quantizers[name]
            out[name] = p if p is None or quant is None else quant.quantize(p, training, self.generator)
        return out

    def codes(self) -> dict[str, Codes]:
        """Integer codes of each quantized tensor, deterministic (evaluation) quantization."""
        with torch.no_grad():
            eff = self.effective_parameters(training=False)
            return {name: self.quantizers[name].codes(eff[name])
                    for name in _TENSORS if self.quantizers[name] is not None and eff[name] is not None}

    @torch.no_grad()
    def load_torch_(self, module: nn.RNNBase, layer: int = 0) -> "QuantCell":
        """Copy layer ``layer`` of a torch.nn.RNN / GRU / LSTM (unidirectional, no projection)."""
        expect = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[self.kind]
        if not isinstance(module, expect):
            raise TypeError(f"{type(self).__name__} loads a {expect.__name__}, not {type(module).__name__}")
        if module.bidirectional or getattr(module, "proj_size", 0):
            raise ValueError("bidirectional and projected torch layers are not supported")
        if (module.input_size if layer == 0 else module.hidden_size) != self.input_size \
                or module.hidden_size != self.hidden_size or module.bias != self.bias:
            raise ValueError(f"size or bias mismatch loading layer {layer} of {module}")
        if self.one_bias:
            raise ValueError("a cell with one bias per gate (bias='input') cannot hold torch's two; "
                             "load into a cell with bias=True")
        for name in _TENSORS:
            if getattr(self, name) is not None:
                getattr(self, name).copy_(getattr(module, f"{name}_l{layer}"))
        return self

    @classmethod
    def from_torch(cls, module: nn.RNNBase, layer: int = 0, **kwargs) -> "QuantCell":
        """A cell with layer ``layer``'s weights of ``module`` (dtype and device follow it).

        Shadow weights are loaded as they are, not clipped; call :meth:`clip_weights_` to clip.
        """
        extra = {}
        if cls is QuantRNN:
            extra["nonlinearity"] = module.nonlinearity
        w = getattr(module, f"weight_ih_l{layer}")
        cell = cls(module.input_size if layer == 0 else module.hidden_size, module.hidden_size,
                   bias=module.bias, device=w.device, dtype=w.dtype, **extra, **kwargs)
        return cell.load_torch_(module, layer)

    # -- forward ---------------------------------------------------------------------------------

    def init_state(self, batch: int, like: torch.Tensor) -> State:
        return torch.zeros(batch, self.hidden_size, dtype=like.dtype, device=like.device)

    def _check_state(self, state: State, batch: int) -> State:
        def fix(t: torch.Tensor, what: str) -> torch.Tensor:
            if t.dim() == 3 and t.shape[0] == 1:  # torch's (num_layers=1, B, H)
                t = t[0]
            if tuple(t.shape) != (batch, self.hidden_size):
                raise ValueError(f"{type(self).__name__}: initial {what} has shape {tuple(t.shape)}, "
                                 f"expected ({batch}, {self.hidden_size})")
            return t
        return fix(state, "state")

    @property
    def fused(self) -> bool:
        """Whether :meth:`forward` runs torch's recurrent kernel (smooth units, no BN inside)."""
        return self.activation == "smooth" and self.batch_norm != "input_product"

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """``(outputs (B, T, hidden), final state)``; torch's kernel where :attr:`fused`."""
        return self._forward(x, state, fused=self.fused)

    def forward_steps(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """The same function as :meth:`forward` as a Python loop over time (any activation)."""
        return self._forward(x, state, fused=False)

    def _forward(self, x: torch.Tensor, state: State | None, fused: bool) -> tuple[torch.Tensor, State]:
        if x.dim() != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input must be (batch, time, {self.input_size}), "
                             f"got {tuple(x.shape)}")
        B, T, _ = x.shape
        w = self.effective_parameters()  # quantized once per call: once per optimizer step
        if self.batch_norm == "input":
            x = self.bn(x.reshape(B * T, -1)).reshape(B, T, -1)
        state = self.init_state(B, x) if state is None else self._check_state(state, B)
        if T == 0:
            return x.new_zeros(B, 0, self.hidden_size), state
        if fused:
            return self._kernel(x, state, w)
        gi = torch.matmul(x, w["weight_ih"].t())
        if self.batch_norm == "input_product":
            gi = self.bn(gi.reshape(B * T, -1)).reshape(B, T, -1)
        if w["bias_ih"] is not None:
            gi = gi + w["bias_ih"]
        outs = []
        for t in range(T):
            gh = torch.matmul(self._h(state), w["weight_hh"].t())
            if w["bias_hh"] is not None:
                gh = gh + w["bias_hh"]
            state = self._step(gi[:, t], gh, state)
            outs.append(self._h(state))
        return torch.stack(outs, 1), state

    def _kernel(self, x: torch.Tensor, state: State, w: dict[str, torch.Tensor | None]):
        """torch's own recurrent kernel with explicit (quantized) weights; batch-first."""
        params = [w["weight_ih"], w["weight_hh"]]
        if self.bias:
            params += [w["bias_ih"], w["bias_hh"]]
        out, h = self._vf(x, state[None], params)
        return out, h[0]

    def _vf(self, x, hx, params):
        raise NotImplementedError

    @staticmethod
    def _h(state: State) -> torch.Tensor:
        return state

    def _step(self, gi: torch.Tensor, gh: torch.Tensor, state: State) -> State:
        raise NotImplementedError

    def extra_repr(self) -> str:
        q = {k: (v.spec() if v is not None else None) for k, v in self.quantizers.items()}
        bias = "'input'" if self.one_bias else self.bias
        return (f"{self.input_size}, {self.hidden_size}, bias={bias}, activation={self.activation!r}, "
                f"batch_norm={self.batch_norm!r}, quantizers={q}")


class QuantRNN(QuantCell):
    """Elman RNN: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act tanh (hard: clamp) or relu."""

    gates, kind = 1, "rnn"

    def __init__(self, input_size: int, hidden_size: int, *, nonlinearity: str = "tanh", **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"QuantRNN: nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        super().__init__(input_size, hidden_size, **kwargs)
        self.nonlinearity = nonlinearity

    def _step(self, gi, gh, h):
        z = gi + gh
        return self._tanh(z) if self.nonlinearity == "tanh" else torch.relu(z)

    def _vf(self, x, hx, params):
        op = torch._VF.rnn_tanh if self.nonlinearity == "tanh" else torch._VF.rnn_relu
        return op(x, hx, params, self.bias, 1, 0.0, self.training, False, True)

    def extra_repr(self):
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class QuantGRU(QuantCell):
    """torch.nn.GRU's cell, gates r, z, n."""

    gates, kind = 3, "gru"

    def _step(self, gi, gh, h):
        i_r, i_z, i_n = gi.chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r = self._sigmoid(i_r + h_r)
        z = self._sigmoid(i_z + h_z)
        n = self._tanh(i_n + r * h_n)
        return (1 - z) * n + z * h

    def _vf(self, x, hx, params):
        return torch._VF.gru(x, hx, params, self.bias, 1, 0.0, self.training, False, True)


class QuantLSTM(QuantCell):
    """torch.nn.LSTM's cell, gates i, f, g, o; ``c' = f*c + i*g``, ``h' = o * tanh(c')``."""

    gates, kind = 4, "lstm"

    def init_state(self, batch, like):
        z = super().init_state(batch, like)
        return (z, z.clone())

    def _check_state(self, state, batch):
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError("QuantLSTM: the initial state is a pair (h, c)")
        return tuple(super(QuantLSTM, self)._check_state(s, batch) for s in state)

    @staticmethod
    def _h(state):
        return state[0]

    def _step(self, gi, gh, state):
        h, c = state
        g = gi + gh
        i, f, cand, o = g.chunk(4, 1)
        c = self._sigmoid(f) * c + self._sigmoid(i) * self._tanh(cand)
        return (self._sigmoid(o) * self._tanh(c), c)

    def _kernel(self, x, state, w):
        params = [w["weight_ih"], w["weight_hh"]]
        if self.bias:
            params += [w["bias_ih"], w["bias_hh"]]
        h0, c0 = state
        out, h, c = torch._VF.lstm(x, (h0[None], c0[None]), params, self.bias, 1, 0.0,
                                   self.training, False, True)
        return out, (h[0], c[0])


CELLS: dict[str, type[QuantCell]] = {"rnn": QuantRNN, "gru": QuantGRU, "lstm": QuantLSTM}


class QuantStack(nn.Module):
    """``num_layers`` cells of one kind, each feeding the next; keyword settings go to every cell.

    ``forward(x, states=None)`` takes and returns a list of per-layer states.
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs):
        super().__init__()
        if kind not in CELLS:
            raise ValueError(f"QuantStack: kind must be one of {sorted(CELLS)}, not {kind!r}")
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"QuantStack: num_layers must be a positive integer, not {num_layers!r}")
        self.kind = kind
        self.layers = nn.ModuleList(
            CELLS[kind](input_size if n == 0 else hidden_size, hidden_size, **kwargs)
            for n in range(num_layers)
        )

    @classmethod
    def from_torch(cls, module: nn.RNNBase, **kwargs) -> "QuantStack":
        kind = {nn.RNN: "rnn", nn.GRU: "gru", nn.LSTM: "lstm"}.get(type(module))
        if kind is None:
            raise TypeError(f"QuantStack.from_torch takes an nn.RNN, GRU or LSTM, not {type(module).__name__}")
        if not module.batch_first:
            raise ValueError("QuantStack.from_torch: the torch module must be batch_first "
                             "(these layers take (batch, time, features))")
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.kind = kind
        self.layers = nn.ModuleList(CELLS[kind].from_torch(module, n, **kwargs)
                                    for n in range(module.num_layers))
        return self

    def forward(self, x: torch.Tensor, states: Sequence[State] | None = None
                ) -> tuple[torch.Tensor, list[State]]:
        if states is not None and len(states) != len(self.layers):
            raise ValueError(f"QuantStack: {len(states)} initial states for {len(self.layers)} layers")
        finals = []
        for n, layer in enumerate(self.layers):
            x, s = layer(x, None if states is None else states[n])
            finals.append(s)
        return x, finals

    def clip_weights_(self) -> None:
        for layer in self.layers:
            layer.clip_weights_()


def clip_shadow_weights_(module: nn.Module) -> None:
    """Clip the shadow weights of every quantized cell in ``module``; call after ``optimizer.step()``."""
    for m in module.modules():
        if isinstance(m, QuantCell):
            m.clip_weights_()
