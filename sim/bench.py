"""The cocotb bench for any design with hwgen's stream ports (docs/hardware-interface.md).

driver (input beats, random idle cycles) -> design -> monitor (random backpressure) ->
in-order scoreboard against a reference (hwgen's golden model for generated designs).

The runner (sim/runner.py) starts the simulator with ``HWGEN_SIM_PLAN`` naming a JSON plan:
``reference`` (a spec for :func:`sim.reference.make_reference`), ``seed``, ``idle`` and
``backpressure`` (probabilities per cycle), ``clock_ns``, ``reset_cycles``, ``stall_cycles``,
``sleep`` (false: wake every cycle, for measurements) and ``result`` (where this bench writes
its summary as JSON).

Timing: the bench samples and drives on the falling clock edge. The design changes only on
rising edges and its ``ready``/``valid`` depend on nothing but its state, so at a falling edge
every design output is stable until the next rising edge, and whether a beat moves at that edge
is known as soon as the bench picks its own ``valid``/``ready``: one wake-up per cycle, none of
the ReadOnly/ReadWrite round trips. When nothing can move until the design changes state (a
folded datapath computing a step: ``i__ready`` and ``o__valid`` low), the bench sleeps until one
of them rises instead of waking every cycle; that is where most of the Python per-cycle cost
went (docs/simulation.md).
"""

from __future__ import annotations

import json
import math
import os
import random
import time

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, First, RisingEdge, Timer
from cocotb.utils import get_sim_steps

from .reference import Reference, make_reference
from .scoreboard import Scoreboard

PLAN_ENV = "HWGEN_SIM_PLAN"


async def clock_and_reset(dut, period_ns: int, reset_cycles: int) -> None:
    """Start the clock, hold ``rst`` for ``reset_cycles`` rising edges with both streams idle,
    and return at a falling edge with ``rst`` low."""
    # ``dut`` is the runner's wrapper (sim/runner.py, Design.wrapper): clk, rst and the stream
    # inputs are registers that hold 0 (rst 1) from time 0, so no X reaches the design.
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    # The clock toggles in the simulator (GPI), not in a Python coroutine.
    Clock(dut.clk, period_ns, unit="ns", impl="gpi").start(start_high=False)
    for _ in range(reset_cycles):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def load_weights(dut, path: str) -> None:
    """Send the weights image (hex words, one per line) on ``load__*``, one word per cycle the
    design is ready; returns at a falling edge after the last word has moved."""
    with open(path) as f:
        words = [int(line, 16) for line in f.read().split()]
    dut.load__valid.value = 1
    for word in words:
        dut.load__payload.value = word
        while True:  # sampled at the falling edge: the word moves at the coming rising edge
            ready = int(dut.load__ready.value)
            await FallingEdge(dut.clk)
            if ready:
                break
    dut.load__valid.value = 0
    dut._log.info("hwgen bench: loaded %d weight words", len(words))


class StreamDriver:
    """Offers ``ref.inputs`` in order on ``i__*``, holding each beat until it moves; before each
    beat it idles for a random number of cycles (each cycle idle with probability ``idle``)."""

    def __init__(self, dut, beats: list[int], rng: random.Random, idle: float):
        self.valid, self.payload = dut.i__valid, dut.i__payload
        self.beats, self.rng, self.idle = beats, rng, idle
        self.next = 0  # index of the beat on offer (or the next one)
        self.offering = False
        self.valid_now = 0
        self.idle_left = self._gap()

    def _gap(self) -> int:
        if self.idle <= 0:
            return 0
        # Geometric number of idle cycles: P(n) = idle**n * (1 - idle).
        return int(math.log(1.0 - self.rng.random()) / math.log(self.idle)) if self.idle < 1 else 1 << 30

    @property
    def finished(self) -> bool:
        return self.next >= len(self.beats)

    def drive(self) -> bool:
        """Choose this cycle's ``i__valid``/``i__payload``; returns whether a beat is offered."""
        if not self.offering:
            if not self.finished and self.idle_left <= 0:
                self.payload.value = self.beats[self.next]
                if not self.valid_now:
                    self.valid.value = self.valid_now = 1
                self.offering = True
            else:
                self.idle_left -= 1
                if self.valid_now:
                    self.valid.value = self.valid_now = 0
        return self.offering

    def moved(self) -> None:
        """The offered beat moves at the coming rising edge (``i__valid`` stays up until then)."""
        self.next += 1
        self.offering = False
        self.idle_left = self._gap()

    def skipped(self, cycles: int) -> None:
        """``cycles`` cycles passed without the bench looking: they count as idle."""
        self.idle_left = max(0, self.idle_left - cycles)


def fast_reader(handle):
    """A function reading ``handle`` as ``(int, "")``, or ``(None, bits)`` when it has X/Z bits.

    cocotb's ``handle.value`` builds a LogicArray with one object per bit: for an 800-bit logits
    payload that is most of a cycle's Python time. The GPI's binary string is read directly
    when the handle offers it (cocotb 2.x), else the public API is used."""
    raw = getattr(handle, "_handle", None)
    if raw is not None and hasattr(raw, "get_signal_val_binstr"):
        get = raw.get_signal_val_binstr

        def read():
            bits = get()
            try:
                return int(bits, 2), ""
            except ValueError:
                return None, bits
        return read

    def read_public():
        v = handle.value
        return (v.to_unsigned(), "") if v.is_resolvable else (None, str(v))
    return read_public


class StreamMonitor:
    """Takes beats from ``o__*``, refusing each cycle with probability ``backpressure``."""

    def __init__(self, dut, rng: random.Random, backpressure: float):
        self.valid, self.ready, self.payload = dut.o__valid, dut.o__ready, dut.o__payload
        self.rng, self.backpressure = rng, backpressure
        self.ready_now = False
        self.sample = fast_reader(self.payload)

    def accept(self) -> bool:
        """Choose this cycle's ``o__ready`` (a beat is on offer); returns it."""
        ready = self.backpressure <= 0 or self.rng.random() >= self.backpressure
        if ready != self.ready_now:
            self.ready.value = int(ready)
            self.ready_now = ready
        return ready


async def run_stream(dut, ref: Reference, *, seed: int, idle: float, backpressure: float,
                     period_ns: int, stall_cycles: int, log, sleep: bool = True) -> dict:
    """Drive every beat of ``ref`` through the design and check every output beat."""
    rng = random.Random(seed)
    driver = StreamDriver(dut, ref.inputs, rng, idle)
    monitor = StreamMonitor(dut, rng, backpressure)
    board = Scoreboard(ref)
    i_ready, o_valid, clk = dut.i__ready, dut.o__valid, dut.clk
    next_cycle = FallingEdge(clk)
    stall = Timer(stall_cycles * period_ns, unit="ns")
    read_ready, read_valid = fast_reader(i_ready), fast_reader(o_valid)
    period = get_sim_steps(period_ns, "ns")  # one clock period in simulator steps
    t0 = get_sim_time("step")
    last_progress = 0
    cycle = 0
    wakeups = 0
    stalled = None
    while not board.done:
        # A falling edge: the design's outputs are stable until the next rising edge.
        wakeups += 1
        ready, valid = read_ready()[0] == 1, read_valid()[0] == 1
        in_moves = driver.drive() and ready
        out_moves = valid and monitor.accept()
        if out_moves:
            actual, raw = monitor.sample()
            board.check(actual, cycle, raw)
        if in_moves:
            driver.moved()
        if in_moves or out_moves:
            last_progress = cycle
        elif cycle - last_progress > stall_cycles:
            stalled = cycle
            break
        waiting = driver.offering or driver.finished  # not in an idle gap of its own
        if sleep and waiting and not in_moves and not out_moves and not valid and not ready:
            # Nothing can move until the design raises i__ready or o__valid: sleep until then.
            # (Not during the driver's own idle gap: a design may raise i__ready only once a
            # beat is offered.)
            waited = await First(RisingEdge(i_ready), RisingEdge(o_valid), stall)
            if waited is stall:
                stalled = cycle + stall_cycles
                break
            await next_cycle
            now = (get_sim_time("step") - t0) // period
            driver.skipped(now - cycle - 1)
            cycle = now
        else:
            await next_cycle
            cycle += 1
    cycles = (get_sim_time("step") - t0) // period
    result = {
        "design": ref.name, "seed": seed, "sequences": ref.sequences, "steps": len(ref.inputs),
        "beats_in": driver.next, "beats_out": board.received, "expected_beats": board.expected_count,
        "cycles": cycles, "wakeups": wakeups, "mismatches": board.mismatches,
        "first_mismatch": board.first_mismatch, "first_mismatch_beat": board.first_mismatch_beat,
        "stalled_at_cycle": stalled, "idle": idle, "backpressure": backpressure,
    }
    if stalled is not None:
        result["stall"] = (f"no beat moved for {stall_cycles} cycles (cycle {stalled}): "
                           f"{driver.next} of {len(ref.inputs)} input beats taken, "
                           f"{board.received} of {board.expected_count} output beats seen; "
                           f"i__ready={i_ready.value} o__valid={o_valid.value} i__valid={dut.i__valid.value}")
    return result


def failure_text(result: dict) -> str | None:
    """The bench's verdict as readable text (None when it passed)."""
    parts = []
    if result.get("first_mismatch"):
        parts.append(f"{result['mismatches']} mismatching output beat(s) of {result['expected_beats']}; "
                     f"{result['first_mismatch']}")
    if result.get("stall"):
        parts.append("design stalled: " + result["stall"])
    if not parts and result["beats_out"] != result["expected_beats"]:
        parts.append(f"{result['beats_out']} output beats for {result['expected_beats']} input beats")
    return "\n".join(parts) or None


@cocotb.test()
async def stream_regression(dut):
    """Every planned sequence through the design, checked bit for bit."""
    with open(os.environ[PLAN_ENV]) as f:
        plan = json.load(f)
    seed = int(plan["seed"])
    dut._log.info("hwgen bench: seed %d (rerun with --seed %d), idle %.2f, backpressure %.2f",
                  seed, seed, plan["idle"], plan["backpressure"])
    t0 = time.perf_counter()
    ref = make_reference(plan["reference"])
    ref_s = time.perf_counter() - t0
    if ref.in_width != len(dut.i__payload) or ref.out_width != len(dut.o__payload):
        raise AssertionError(f"payload widths: reference in {ref.in_width}/out {ref.out_width} bits, "
                             f"design in {len(dut.i__payload)}/out {len(dut.o__payload)} bits")
    period = int(plan.get("clock_ns", 10))
    hint = ref.cycles_per_step or 0
    stall_cycles = int(plan.get("stall_cycles") or max(10_000, 20 * hint))
    await clock_and_reset(dut, period, int(plan.get("reset_cycles", 4)))
    if plan.get("load"):
        await load_weights(dut, plan["load"])
    t1 = time.perf_counter()
    result = await run_stream(dut, ref, seed=seed, idle=float(plan["idle"]), backpressure=float(plan["backpressure"]),
                              period_ns=period, stall_cycles=stall_cycles, log=dut._log,
                              sleep=bool(plan.get("sleep", True)))
    result["sim_wall_s"] = time.perf_counter() - t1
    result["reference_s"] = ref_s
    result["cycles_per_s"] = result["cycles"] / max(result["sim_wall_s"], 1e-9)
    with open(plan["result"], "w") as f:
        json.dump(result, f, indent=1)
    dut._log.info("hwgen bench: %d sequences, %d steps, %d cycles, %d mismatches, %.0f cycles/s",
                  result["sequences"], result["steps"], result["cycles"], result["mismatches"],
                  result["cycles_per_s"])
    failure = failure_text(result)
    if failure:
        dut._log.error("%s", failure)
        raise AssertionError(f"seed {seed}: {failure}")
