"""The generated design: input stage, recurrent layers, output layer and output stage, chained
by streams (docs/generator.md; ports per docs/hardware-interface.md).

Every stage works on its own time step, so stages overlap: a new output leaves every
``cycles_per_step`` = the slowest stage's step, and a beat's answer appears ``latency`` = the sum
of the stages' steps after its input is offered to an idle design.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.ir import QModel
from .code_memory import load_image
from .dense import DenseStage
from .hot_column import hot_split
from .interface import input_format, output_format
from .loader import LOAD_WIDTH, WeightLoader
from .plan import DesignParams, DesignPlan, StagePlan
from .planner import plan_design
from .recurrent import RecurrentStage
from .stages import ArgmaxStage, EmbeddingStage, VectorInputStage, VectorOutputStage


class HwgenTop(wiring.Component):
    """The whole model: ``i`` input stream, ``o`` output stream (docs/hardware-interface.md), and
    ``load`` where the plan keeps codes in memories loaded at run time. Built from a plan
    (:func:`hwgen.generator.planner.plan_design`); its stages are made when it is elaborated."""

    def __init__(self, qmodel: QModel, plan: DesignPlan):
        if not isinstance(qmodel, QModel):
            raise TypeError(f"a design needs a hwgen QModel, not {type(qmodel).__name__}")
        if not isinstance(plan, DesignPlan) or plan.qmodel_name != qmodel.name:
            raise TypeError(f"HwgenTop needs the DesignPlan of this QModel (plan_design(qmodel, ...)), not {plan!r:.60}")
        self.qmodel, self.plan = qmodel, plan
        members = {"i": In(stream.Signature(input_format(qmodel).layout)),
                   "o": Out(stream.Signature(output_format(qmodel, plan.params.output).layout))}
        if plan.loaded:
            members["load"] = In(stream.Signature(LOAD_WIDTH))
        super().__init__(members)

    @property
    def cycles_per_step(self) -> int:
        return self.plan.cycles_per_step

    @property
    def latency(self) -> int:
        return self.plan.latency

    @property
    def load_words(self) -> list[int]:
        """The image the ``load`` port takes after each reset (empty without one)."""
        return load_image(self.qmodel, self.plan)

    def _stage(self, sp: StagePlan) -> wiring.Component:
        q, bw = self.qmodel, self.plan.baseline_width
        split = hot_split(q, 0, self.plan.params.style, self.plan.params.lanes) if sp.hot else None
        if sp.kind == "embedding":
            return EmbeddingStage(q.input, sp, split)
        if sp.kind == "vectorinput":
            return VectorInputStage(q.input.fmt, q.input.size, sp)
        if sp.kind == "recurrent":
            return RecurrentStage(q.layers[sp.layer], sp, bw, split)
        if sp.kind == "dense":
            return DenseStage(q.output, q.layers[-1].formats.state, sp, bw)
        dense = self.plan.params.output != "hidden" and q.output is not None
        fmt, n = (q.output.out, q.output.out_size) if dense else (q.layers[-1].formats.state, q.layers[-1].hidden_size)
        return {"argmax": ArgmaxStage, "vectoroutput": VectorOutputStage}[sp.kind](fmt, n, sp)

    def elaborate(self, platform):
        m = Module()
        stages = [self._stage(sp) for sp in self.plan.stages]
        for sp, s in zip(self.plan.stages, stages):
            m.submodules[sp.name] = s
        loaded = [s for sp, s in zip(self.plan.stages, stages) if sp.loaded]
        if loaded:
            # Inputs wait until every code is in: nothing starts a step before.
            m.submodules.loader = loader = WeightLoader([(s.rows.depth, s.rows.width) for s in loaded])
            wiring.connect(m, wiring.flipped(self.load), loader.load)
            for k, s in enumerate(loaded):
                wiring.connect(m, getattr(loader, f"w{k}"), s.codes)
            first = stages[0].i
            m.d.comb += [first.payload.eq(self.i.payload), first.valid.eq(self.i.valid & loader.done),
                         self.i.ready.eq(first.ready & loader.done)]
        else:
            wiring.connect(m, wiring.flipped(self.i), stages[0].i)
        for a, b in zip(stages, stages[1:]):
            wiring.connect(m, a.o, b.i)
        wiring.connect(m, stages[-1].o, wiring.flipped(self.o))
        return m


def build_design(qmodel: QModel, params: DesignParams | None = None, **kwargs) -> HwgenTop:
    """The Amaranth top for ``qmodel``, planned from ``params`` (or :class:`DesignParams`'s
    fields as keywords): ``lanes``: weight codes applied per cycle in each folded stage (ignored
    by ``unrolled``); ``style``: ``folded`` or ``unrolled``; ``output``: ``logits``/``hidden``/
    ``argmax`` (default logits with a dense layer, else hidden); ``multipliers``: per gate unit
    (GRU uses up to 2, LSTM up to 3; None: auto); ``baseline``: multiply plain fixed-point weights
    instead (the cost reference); ``weights``: ``rom`` or ``spram`` (the layers' codes loaded
    through a ``load`` port after reset, :mod:`hwgen.generator.loader`)."""
    return HwgenTop(qmodel, plan_design(qmodel, params, **kwargs))
