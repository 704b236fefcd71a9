"""The generated design: input stage, recurrent layers, output layer and output stage, chained
by streams (docs/generator.md; ports per docs/hardware-interface.md).

Every stage works on its own time step, so stages overlap: a new output leaves every
``cycles_per_step`` = the slowest stage's step, and a beat's answer appears ``latency`` = the sum
of the stages' steps after its input is offered to an idle design.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..ir import EmbeddingInput, QModel
from .dense import DenseStage
from .interface import check_output, input_format, output_format
from .loader import LOAD_WIDTH, WeightLoader, split
from .recurrent import RecurrentStage, check_serial, recurrent_drain, recurrent_issues
from .stages import ArgmaxStage, EmbeddingStage, VectorInputStage, VectorOutputStage

STYLES = ("folded", "unrolled")
#: where the layers' weight codes live: ``rom`` (memory contents in the bitstream) or ``spram``
#: (memories without contents, loaded through the ``load`` port: hwgen.generator.loader)
WEIGHTS = ("rom", "spram")


def design_params(qmodel: QModel, *, lanes: int = 4, style: str = "folded", output: str | None = None,
                  multipliers: int = 1, baseline: bool = False, weights: str = "rom") -> MappingProxyType:
    """The validated parameters (``output`` resolved to its default), read-only, for reports."""
    if not isinstance(qmodel, QModel):
        raise TypeError(f"build_design needs a hwgen QModel, not {type(qmodel).__name__}")
    for name, v, least in (("lanes", lanes, 1), ("multipliers", multipliers, 0)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"{name} must be an integer, not {v!r}")
        if v < least:
            raise ValueError(f"{name} must be at least {least}, not {v}")
    if style not in STYLES:
        raise ValueError(f"style must be 'folded' or 'unrolled', not {style!r}")
    if not isinstance(baseline, bool):
        raise TypeError(f"baseline must be True or False, not {baseline!r}")
    if baseline and style != "folded":
        raise ValueError("baseline (multiplier lanes) applies to the folded datapath; an unrolled "
                         "datapath's weights are constants, which synthesis turns into shift-adds anyway")
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    if weights == "spram" and style != "folded":
        raise ValueError("weights='spram' (codes loaded into RAM at run time) needs the folded datapath; "
                         "an unrolled datapath's weights are wiring")
    if multipliers == 0:
        for layer in qmodel.layers:
            check_serial(layer, style, int(lanes))
    return MappingProxyType({"lanes": int(lanes), "style": style, "output": check_output(qmodel, output),
                             "multipliers": int(multipliers), "baseline": baseline, "weights": weights})


def auto_multipliers(qmodel: QModel, **params) -> int:
    """0 (gate products on the serial shift-add unit) where the design leaves a hidden unit the
    cycles it needs, else 1."""
    try:
        design_params(qmodel, **{**params, "multipliers": 0})
        return 0
    except ValueError:
        return 1


def baseline_width(qmodel: QModel) -> int:
    """Width of a baseline weight word: the widest data word, as an ordinary fixed-point design
    stores its weights (and never narrower than the widest code value needs)."""
    fmts = [qmodel.input.fmt] + [L.formats.state for L in qmodel.layers]
    ws = [w for L in qmodel.layers for w in (L.w_ih, L.w_hh)] + ([qmodel.output.w] if qmodel.output else [])
    q_bits = max(int(np.abs(w.q).max(initial=0)).bit_length() + 1 for w in ws)
    return max([f.width for f in fmts] + [q_bits])


def fewest_lanes(step, pace: int, lanes: int) -> int:
    """The fewest lanes ``n`` with ``step(n)`` within ``pace`` (or within ``step(lanes)``, when
    even ``lanes`` lanes cannot keep that pace)."""
    limit = max(pace, step(lanes))
    return next(n for n in range(1, lanes + 1) if step(n) <= limit)


class HwgenTop(wiring.Component):
    """The whole model: ``i`` input stream, ``o`` output stream (docs/hardware-interface.md)."""

    def __init__(self, qmodel: QModel, **params):
        # Building a top only to read cycles_per_step / latency is normal use, not a mistake.
        self._MustUse__silence = True
        self.params = design_params(qmodel, **params)
        self.qmodel = qmodel
        p = self.params
        bw = baseline_width(qmodel) if p["baseline"] else None
        P, style = p["lanes"], p["style"]
        last = qmodel.layers[-1].formats.state
        dense = qmodel.output if qmodel.output is not None and p["output"] != "hidden" else None
        out_fmt, out_n = (dense.out, dense.out_size) if dense else (last, qmodel.layers[-1].hidden_size)
        reader = ArgmaxStage if p["output"] == "argmax" else VectorOutputStage
        # The layers set the pace; the stages after them get the fewest lanes that keep up.
        pace = max(1 + recurrent_issues(L, style, P) + recurrent_drain(L, style, P, p["multipliers"])
                   for L in qmodel.layers)
        dense_lanes = fewest_lanes(lambda n: DenseStage.step(dense, style, n), pace, P) if dense else None
        out_lanes = fewest_lanes(lambda n: reader.step(out_n, n), pace, P)
        in_lanes = [P] * len(qmodel.layers) + ([dense_lanes] if dense else []) + [out_lanes]
        if isinstance(qmodel.input, EmbeddingInput):
            stages = [EmbeddingStage(qmodel.input, P)]
        else:
            stages = [VectorInputStage(qmodel.input.fmt, qmodel.input.size, P)]
        for k, layer in enumerate(qmodel.layers):
            stages.append(RecurrentStage(layer, style=style, lanes=P, multipliers=p["multipliers"],
                                         baseline_width=bw, out_lanes=in_lanes[k + 1],
                                         loaded=p["weights"] == "spram"))
        if dense:
            stages.append(DenseStage(dense, last, style=style, lanes=dense_lanes, baseline_width=bw,
                                     out_lanes=out_lanes, loaded=p["weights"] == "spram"))
        stages.append(reader(out_fmt, out_n, out_lanes))
        for s in stages:  # elaborated by this top's elaborate()
            s._MustUse__silence = True
        self.stages = stages
        self.loaded = [s for s in stages if "codes" in s.signature.members]
        members = {"i": In(stream.Signature(input_format(qmodel).layout)),
                   "o": Out(stream.Signature(output_format(qmodel, p["output"]).layout))}
        if self.loaded:
            self.loader = WeightLoader([(s.rows.issues, s.rows.width) for s in self.loaded])
            self.loader._MustUse__silence = True
            members["load"] = In(stream.Signature(LOAD_WIDTH))
        super().__init__(members)

    @property
    def design_params(self) -> MappingProxyType:
        return self.params

    @property
    def cycles_per_step(self) -> int:
        """Cycles between output beats with input always offered and output always taken."""
        return max(s.interval for s in self.stages)

    @property
    def load_words(self) -> list[int]:
        """The image the ``load`` port takes after each reset (empty without one)."""
        return [x for s in self.loaded for x in split(s.rows.image(), s.rows.width)]

    @property
    def latency(self) -> int:
        """Cycles from an input beat offered to an idle design to its output beat being offered."""
        return sum(s.latency for s in self.stages)

    def elaborate(self, platform):
        m = Module()
        for k, s in enumerate(self.stages):
            m.submodules[f"stage{k}_{type(s).__name__.removesuffix('Stage').lower()}"] = s
        if self.loaded:
            # Inputs wait until every code is in: nothing starts a step before.
            m.submodules.loader = loader = self.loader
            wiring.connect(m, wiring.flipped(self.load), loader.load)
            for k, s in enumerate(self.loaded):
                wiring.connect(m, getattr(loader, f"w{k}"), s.codes)
            first = self.stages[0].i
            m.d.comb += [first.payload.eq(self.i.payload), first.valid.eq(self.i.valid & loader.done),
                         self.i.ready.eq(first.ready & loader.done)]
        else:
            wiring.connect(m, wiring.flipped(self.i), self.stages[0].i)
        for a, b in zip(self.stages, self.stages[1:]):
            wiring.connect(m, a.o, b.i)
        wiring.connect(m, self.stages[-1].o, wiring.flipped(self.o))
        return m


def build_design(qmodel: QModel, *, lanes: int = 4, style: str = "folded", output: str | None = None,
                 multipliers: int = 1, baseline: bool = False, weights: str = "rom") -> HwgenTop:
    """The Amaranth top for ``qmodel``: stream ports ``i``/``o``, ``cycles_per_step``, ``latency``.

    ``lanes``: weight codes applied per cycle in each folded stage (ignored by ``unrolled``);
    ``style``: ``folded`` or ``unrolled``; ``output``: ``logits``/``hidden``/``argmax`` (default
    logits with a dense layer, else hidden); ``multipliers``: per gate unit (GRU uses up to 2, LSTM
    up to 3); ``baseline``: multiply plain fixed-point weights instead (the cost reference);
    ``weights``: ``rom`` or ``spram`` (the layers' codes loaded through a ``load`` port
    after reset, :mod:`hwgen.generator.loader`).
    """
    return HwgenTop(qmodel, lanes=lanes, style=style, output=output, multipliers=multipliers, baseline=baseline,
                    weights=weights)
