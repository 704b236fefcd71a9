"""The planner: a QModel and a user's :class:`DesignParams` resolved into a :class:`DesignPlan`.

Each stage class owns its cost (its ``plan`` classmethod says the cycles and memory its hardware
takes); the planner only chains them: the recurrent layers set the pace, and the stages after them
get the fewest lanes that keep it. Nothing here builds an Amaranth object.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..spec.ir import EmbeddingInput, QModel
from ..qmodel_file import digest
from .dense import DenseStage
from .hot_column import hot_split
from .interface import check_output, input_format, output_format
from .plan import DesignParams, DesignPlan, StagePlan
from .recurrent import RecurrentStage, check_serial
from .sparse_layout import skippable
from .stages import ArgmaxStage, EmbeddingStage, VectorInputStage, VectorOutputStage


def plan_design(qmodel: QModel, params: DesignParams | None = None, **kwargs) -> DesignPlan:
    """The plan of ``qmodel``'s design under ``params`` (or the :class:`DesignParams` fields as
    keywords). ValueError where the parameters cannot build this model (the message says which
    to change)."""
    if not isinstance(qmodel, QModel):
        raise TypeError(f"a design needs a hwgen QModel, not {type(qmodel).__name__}")
    if params is None:
        params = DesignParams(**kwargs)
    elif kwargs:
        raise TypeError("give DesignParams or keywords, not both")
    elif not isinstance(params, DesignParams):
        raise TypeError(f"params must be DesignParams, not {type(params).__name__}")
    output = check_output(qmodel, params.output)
    multipliers = auto_multipliers(qmodel, params) if params.multipliers is None else params.multipliers
    if multipliers == 0:
        for k, layer in enumerate(qmodel.layers):
            check_serial(layer, params.style, params.lanes, hot_reads(qmodel, params) and k == 0,
                         sparse_reads(layer, params))
    params = dataclasses.replace(params, output=output, multipliers=multipliers)
    return DesignPlan(params=params, qmodel_name=qmodel.name, qmodel_sha256=digest(qmodel),
                      stages=_stages(qmodel, params), input_width=input_format(qmodel).width,
                      output_width=output_format(qmodel, output).width,
                      baseline_width=baseline_width(qmodel) if params.baseline else None)


def _stages(qmodel: QModel, params: DesignParams) -> tuple[StagePlan, ...]:
    P, style, loaded = params.lanes, params.style, params.weights == "spram"
    bw = baseline_width(qmodel) if params.baseline else None
    hot = hot_reads(qmodel, params)
    stages = [EmbeddingStage.plan(0, P, hot=hot) if isinstance(qmodel.input, EmbeddingInput)
              else VectorInputStage.plan(0, P)]
    for k, layer in enumerate(qmodel.layers):
        stages.append(RecurrentStage.plan(len(stages), layer, k, style=style, lanes=P, multipliers=params.multipliers,
                                          baseline_width=bw, loaded=loaded, hot=hot and k == 0,
                                          sparse=sparse_reads(layer, params), dsp=params.lane_dsps))
    pace = max(s.interval for s in stages[1:])
    dense = qmodel.output if qmodel.output is not None and params.output != "hidden" else None
    if dense is not None:
        def dense_plan(n):
            return DenseStage.plan(len(stages), dense, style=style, lanes=n, baseline_width=bw, loaded=loaded,
                                   dsp=params.lane_dsps, in_fmt=qmodel.layers[-1].formats.state)
        stages.append(dense_plan(fewest_lanes(lambda n: dense_plan(n).interval, pace, P)))
    reader = ArgmaxStage if params.output == "argmax" else VectorOutputStage
    out_n = dense.out_size if dense is not None else qmodel.layers[-1].hidden_size
    stages.append(reader.plan(len(stages), out_n,
                              fewest_lanes(lambda n: reader.plan(0, out_n, n).interval, pace, P)))
    # Each stage publishes its vector as wide as the next one reads it.
    return tuple(dataclasses.replace(a, out_lanes=b.lanes) if a.out_lanes is None else a
                 for a, b in zip(stages, stages[1:])) + (stages[-1],)


def hot_reads(qmodel: QModel, params: DesignParams) -> bool:
    """Whether the first layer reads its token input as one hot column (hwgen.generator.hot_column)."""
    return params.hot_column and hot_split(qmodel, 0, params.style, params.lanes) is not None


def sparse_reads(layer, params: DesignParams) -> bool:
    """Whether a layer's rows skip the zero codes of its ``W_hh`` (hwgen.generator.sparse_layout):
    asked for, and its codes can be zero."""
    return params.skip_zeros and skippable(layer.w_hh)


def auto_multipliers(qmodel: QModel, params: DesignParams) -> int:
    """0 (gate products on the serial shift-add unit) where the design leaves a hidden unit the
    cycles it needs, else 1."""
    hot = hot_reads(qmodel, params)
    try:
        for k, layer in enumerate(qmodel.layers):
            check_serial(layer, params.style, params.lanes, hot and k == 0, sparse_reads(layer, params))
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
