"""The step controller shared by every datapath stage: one input vector in, one output out.

States: IDLE (waits for an input vector), RUN (``issues`` issue cycles), DRAIN (``drain`` cycles
until every result is written), then the swap cycle publishes the results. The input vector is
read where it is published (:mod:`hwgen.generator.vectors`), so the stage takes it (``i.ready``)
only in the first DRAIN cycle, after its last read; the output is published as soon as the
previous one has been taken. A step takes ``1 + issues + drain`` cycles, input to output.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Signal, Value

from .vectors import first_of

IDLE, RUN, DRAIN = 0, 1, 2


@dataclass(frozen=True)
class Steps:
    issue: Value  # high in each issue cycle
    count: Value  # the issue cycle's index within the step (0 .. issues - 1)
    fresh: Value  # the step starts a sequence (or is the first since reset): state reads as zero
    swap: Value  # high in the cycle that publishes the results (new state becomes the output)


def step_control(m: Module, i, o, issues: int, drain: int, *, wait_output: bool = False,
                 name: str = "ctl") -> Steps:
    """Drive ``i.ready``, ``o.valid`` and the output's ``first``; the output's data is the caller's.

    ``wait_output``: start a step only once the previous output is leaving, for a stage that
    writes its results straight into the output payload.
    """
    assert issues >= 1 and drain >= 1
    state = Signal(range(3), name=f"{name}_state")
    cnt = Signal(range(max(issues, drain) + 1), name=f"{name}_cnt")
    first_in, seen = Signal(name=f"{name}_first_in"), Signal(name=f"{name}_seen")
    first_out = Signal(name=f"{name}_first_out")
    swap = Signal(name=f"{name}_swap")
    # ``i.ready`` is high in the first DRAIN cycle, from a register: the count's comparison
    # would otherwise sit in front of the previous stage's handshake logic (the example's
    # critical path).
    ready = Signal(name=f"{name}_ready")
    m.d.sync += ready.eq((state == RUN) & (cnt == issues - 1))
    m.d.comb += [i.ready.eq(ready), first_of(o).eq(first_out)]
    with m.If(o.valid & o.ready):
        m.d.sync += o.valid.eq(0)
    free = ~o.valid | o.ready
    with m.Switch(state):
        with m.Case(IDLE):
            with m.If(i.valid & (free if wait_output else 1)):
                m.d.sync += [first_in.eq(i.first), state.eq(RUN), cnt.eq(0)]
        with m.Case(RUN):
            m.d.sync += cnt.eq(cnt + 1)
            with m.If(cnt == issues - 1):
                m.d.sync += [state.eq(DRAIN), cnt.eq(0)]
        with m.Case(DRAIN):
            with m.If(cnt != drain - 1):
                m.d.sync += cnt.eq(cnt + 1)
            with m.Elif(free):
                m.d.comb += swap.eq(1)
                m.d.sync += [o.valid.eq(1), first_out.eq(first_in), seen.eq(1), state.eq(IDLE)]
    # ``seen`` is still low during the first step after reset: block RAM state is not cleared
    # by reset, so that step reads it as zero, as if its input started a sequence.
    fresh = Signal(name=f"{name}_fresh")
    m.d.comb += fresh.eq(first_in | ~seen)
    return Steps(state == RUN, cnt, fresh, swap)
