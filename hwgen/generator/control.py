"""The step controller shared by every datapath stage: one input beat in, one output beat out.

States: IDLE (waits for an input beat), RUN (``issues`` issue cycles), DRAIN (``drain`` cycles
until every result is written), then the swap cycle publishes the results. The input payload is
read where it stands (stream rules hold it until the beat moves), so the stage takes the beat
(``i.ready``) only in the first DRAIN cycle, after its last read; the output beat is published as
soon as the previous one has left. A step takes ``1 + issues + drain`` cycles, input to output.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Signal, Value

IDLE, RUN, DRAIN = 0, 1, 2


@dataclass(frozen=True)
class Steps:
    issue: Value  # high in each issue cycle
    fresh: Value  # the step's input beat starts a sequence: state reads as zero
    swap: Value  # high in the cycle that publishes the results (new state becomes the output)


def step_control(m: Module, i, o, issues: int, drain: int, name: str = "ctl") -> Steps:
    """Drive ``i.ready``, ``o.valid`` and ``o.payload.first``; ``o.payload.data`` is the caller's."""
    assert issues >= 1 and drain >= 1
    state = Signal(range(3), name=f"{name}_state")
    cnt = Signal(range(max(issues, drain) + 1), name=f"{name}_cnt")
    fresh = Signal(name=f"{name}_fresh")
    first_out = Signal(name=f"{name}_first_out")
    swap = Signal(name=f"{name}_swap")
    m.d.comb += [i.ready.eq((state == DRAIN) & (cnt == 0)), o.payload.first.eq(first_out)]
    with m.If(o.valid & o.ready):
        m.d.sync += o.valid.eq(0)
    with m.Switch(state):
        with m.Case(IDLE):
            with m.If(i.valid):
                m.d.sync += [fresh.eq(i.payload.first), state.eq(RUN), cnt.eq(0)]
        with m.Case(RUN):
            m.d.sync += cnt.eq(cnt + 1)
            with m.If(cnt == issues - 1):
                m.d.sync += [state.eq(DRAIN), cnt.eq(0)]
        with m.Case(DRAIN):
            with m.If(cnt != drain - 1):
                m.d.sync += cnt.eq(cnt + 1)
            with m.Elif(~o.valid | o.ready):
                m.d.comb += swap.eq(1)
                m.d.sync += [o.valid.eq(1), first_out.eq(fresh), state.eq(IDLE)]
    return Steps(state == RUN, fresh, swap)
