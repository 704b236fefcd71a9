"""A design's plan: everything about a generated design that is known before it is built.

:class:`DesignParams` are the choices a user makes (lanes, style, output, gate multipliers,
baseline, weights placement), validated where they are made. :class:`DesignPlan` is what the
planner (:func:`hwgen.generator.planner.plan_design`) resolves them to for one QModel: every
stage's lanes, issue and drain cycles, code memory and gate multipliers; cycles per step, latency,
the stream ports' payload widths and the load image's length. The top builds its stages from the
plan; the build, the fitter, the benches and the simulator read it; ``design.json`` beside the
Verilog is :meth:`DesignPlan.to_json`, so no reader parses facts out of text meant for people.

Plain values only (no Amaranth objects, no Amaranth import): reading a plan back from
``design.json`` costs nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from numbers import Integral

STYLES = ("folded", "unrolled")
#: where the layers' weight codes live: ``rom`` (memory contents in the bitstream) or ``spram``
#: (memories without contents, loaded through the ``load`` port: hwgen.generator.loader)
WEIGHTS = ("rom", "spram")
#: what the output stream carries (docs/hardware-interface.md)
OUTPUTS = ("logits", "hidden", "argmax")
#: bits of one word of the ``load`` stream
LOAD_WIDTH = 16

#: ``design.json``'s format version (a reader refuses others)
PLAN_VERSION = 5
PLAN_FORMAT = "hwgen-design"


def _integer(name: str, v, least: int) -> int:
    """``v`` as an int (numpy integers included, booleans not), at least ``least``."""
    if not isinstance(v, Integral) or isinstance(v, bool):
        raise TypeError(f"{name} must be an integer, not {v!r}")
    if v < least:
        raise ValueError(f"{name} must be at least {least}, not {v}")
    return int(v)


@dataclass(frozen=True)
class DesignParams:
    """A user's choices for one design. ``output`` None: logits with a dense layer, else hidden
    (resolved by the planner, which knows the model); ``multipliers`` None: auto (none where the
    serial shift-add gate unit keeps up, else one)."""

    lanes: int = 4
    style: str = "folded"
    output: str | None = None
    multipliers: int | None = 1
    baseline: bool = False
    weights: str = "rom"
    #: a token model's first layer reads only the chunk of its input codes that a token's one-hot
    #: column is in (hwgen.generator.hot_column); False reads every chunk (the dense reference)
    hot_column: bool = True
    #: the layers' rows skip the zero codes of ``W_hh`` (hwgen.generator.sparse_layout), where its
    #: codes can be zero (not binary); False reads every chunk (dense)
    skip_zeros: bool = False
    #: the lanes of folded stages with power-of-two or fixed-point codes multiply on the device's
    #: hard multipliers (hwgen.generator.lanes.takes_dsp): one per lane, where the codes and inputs fit
    lane_dsps: bool = False

    def __post_init__(self):
        object.__setattr__(self, "lanes", _integer("lanes", self.lanes, 1))
        if self.multipliers is not None:
            object.__setattr__(self, "multipliers", _integer("multipliers", self.multipliers, 0))
        if self.style not in STYLES:
            raise ValueError(f"style must be 'folded' or 'unrolled', not {self.style!r}")
        if self.output is not None and self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, not {self.output!r}")
        if not isinstance(self.baseline, bool):
            raise TypeError(f"baseline must be True or False, not {self.baseline!r}")
        if self.baseline and self.style != "folded":
            raise ValueError("baseline (multiplier lanes) applies to the folded datapath; an unrolled "
                             "datapath's weights are constants, which synthesis turns into shift-adds anyway")
        if not isinstance(self.hot_column, bool):
            raise TypeError(f"hot_column must be True or False, not {self.hot_column!r}")
        if not isinstance(self.skip_zeros, bool):
            raise TypeError(f"skip_zeros must be True or False, not {self.skip_zeros!r}")
        if self.skip_zeros and (self.style != "folded" or self.baseline):
            raise ValueError("skip_zeros applies to the folded shift-add datapath (an unrolled one drops zero "
                             "weights as wiring; the baseline is the dense cost reference)")
        if not isinstance(self.lane_dsps, bool):
            raise TypeError(f"lane_dsps must be True or False, not {self.lane_dsps!r}")
        if self.lane_dsps and (self.style != "folded" or self.baseline):
            raise ValueError("lane_dsps applies to the folded shift-add datapath (an unrolled one's weights are "
                             "wiring; the baseline's lanes multiply already)")
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, not {self.weights!r}")
        if self.weights == "spram" and self.style != "folded":
            raise ValueError("weights='spram' (codes loaded into RAM at run time) needs the folded datapath; "
                             "an unrolled datapath's weights are wiring")

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class MemoryPlan:
    """One memory of the design: ``depth`` words of ``width`` bits; ``loaded``: without initial
    contents, written through the ``load`` port after reset."""

    depth: int
    width: int
    loaded: bool = False

    @property
    def bits(self) -> int:
        return self.depth * self.width

    @property
    def load_words(self) -> int:
        """16-bit load words that fill it (each memory word least significant piece first)."""
        return self.depth * pieces(self.width) if self.loaded else 0


def pieces(width: int) -> int:
    """Load words per memory word of ``width`` bits."""
    return -(-width // LOAD_WIDTH)


@dataclass(frozen=True)
class StagePlan:
    """One stage of the chain, in stream order. ``kind``: embedding, vectorinput, recurrent,
    dense, argmax or vectoroutput. ``lanes``: words of its input read per cycle; ``out_lanes``:
    words of its output the next stage reads per cycle. A step is IDLE, ``issues`` issue cycles
    and ``drain`` cycles (``interval`` cycles in all); ``latency``: cycles from its input to its
    output. ``layer``: the QModel layer a recurrent stage computes. ``hot``: the input is a
    token's one-hot column (hwgen.generator.hot_column): the embedding stage publishes it with its
    chunk index, the first layer reads that one chunk of its input codes per row. ``sparse``: a
    recurrent stage's rows skip the zero codes of ``W_hh`` (hwgen.generator.sparse_layout).
    ``dsp_lanes``: hard multipliers its lanes take (hwgen.generator.lanes.takes_dsp), one per lane."""

    index: int
    kind: str
    lanes: int
    interval: int
    latency: int
    issues: int = 0
    drain: int = 0
    out_lanes: int | None = None
    style: str | None = None
    multipliers: int = 0
    code_memory: MemoryPlan | None = None
    layer: int | None = None
    hot: bool = False
    sparse: bool = False
    dsp_lanes: int = 0

    @property
    def name(self) -> str:
        """Its instance name in the top (and in the Verilog's hierarchy)."""
        return f"stage{self.index}_{self.kind}"

    @property
    def loaded(self) -> bool:
        return self.code_memory is not None and self.code_memory.loaded


@dataclass(frozen=True)
class DesignPlan:
    """A whole design: resolved parameters and its stages; derived figures are properties."""

    params: DesignParams
    qmodel_name: str
    qmodel_sha256: str
    stages: tuple[StagePlan, ...]
    input_width: int
    output_width: int
    baseline_width: int | None = None

    @property
    def cycles_per_step(self) -> int:
        """Cycles between output beats with input always offered and output always taken: every
        stage works on its own time step, so the slowest sets the pace."""
        return max(s.interval for s in self.stages)

    @property
    def latency(self) -> int:
        """Cycles from an input beat offered to an idle design to its output beat being offered."""
        return sum(s.latency for s in self.stages)

    @property
    def loaded(self) -> tuple[StagePlan, ...]:
        """The stages whose codes come through the ``load`` port, in load order."""
        return tuple(s for s in self.stages if s.loaded)

    @property
    def load_words(self) -> int:
        """Length of the load image (16-bit words; 0 without a ``load`` port)."""
        return sum(s.code_memory.load_words for s in self.loaded)

    @property
    def dsp_lanes(self) -> int:
        """Hard multipliers the lanes take (the gate units' are synthesis's to count)."""
        return sum(s.dsp_lanes for s in self.stages)

    @property
    def code_bits(self) -> int:
        """Bits of every code memory."""
        return sum(s.code_memory.bits for s in self.stages if s.code_memory is not None)

    def to_json(self, module: str = "hwgen_top") -> dict:
        """``design.json``: the plan as plain JSON, with the figures a reader wants at hand."""
        return {"format": PLAN_FORMAT, "version": PLAN_VERSION, "module": module,
                "qmodel": self.qmodel_name, "qmodel_sha256": self.qmodel_sha256,
                "parameters": self.params.to_json(), "baseline_width": self.baseline_width,
                "cycles_per_step": self.cycles_per_step, "latency": self.latency,
                "payload_widths": {"input": self.input_width, "output": self.output_width},
                "load_words": self.load_words,
                "stages": [{**asdict(s), "name": s.name} for s in self.stages]}

    @classmethod
    def from_json(cls, facts: dict) -> "DesignPlan":
        """The plan ``to_json`` wrote; ValueError for another format or version, or for figures
        that disagree with the stages (an edited file)."""
        if not isinstance(facts, dict) or facts.get("format") != PLAN_FORMAT or facts.get("version") != PLAN_VERSION:
            got = (facts.get("format"), facts.get("version")) if isinstance(facts, dict) else (None, None)
            raise ValueError(f"not a design.json this hwgen reads (format {got[0]!r}, version {got[1]!r}; "
                             f"this hwgen reads {PLAN_FORMAT!r} version {PLAN_VERSION})")
        try:
            stages = []
            for s in facts["stages"]:
                s = {k: v for k, v in s.items() if k != "name"}
                memory = s.pop("code_memory")
                stages.append(StagePlan(**s, code_memory=MemoryPlan(**memory) if memory else None))
            plan = cls(params=DesignParams(**facts["parameters"]), qmodel_name=facts["qmodel"],
                       qmodel_sha256=facts["qmodel_sha256"], stages=tuple(stages),
                       input_width=facts["payload_widths"]["input"], output_width=facts["payload_widths"]["output"],
                       baseline_width=facts["baseline_width"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"design.json is incomplete or malformed ({type(e).__name__}: {e})") from None
        if plan.to_json(facts["module"]) != facts:
            raise ValueError("design.json's figures disagree with its stages (was it edited?)")
        return plan
