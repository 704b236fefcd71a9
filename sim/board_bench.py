"""The cocotb bench for a whole board top (hwgen_board: UART bridge and design, the PLL bypassed).

A host model on the pins: it sends the weights image (a design with a ``load`` port), then each
step's input payload as 8N1 bytes on ``rx``, at most ``ahead`` steps before their answers (the
bridge holds one in flight and one arriving, docs/board.md), and decodes every byte on ``tx``.
Each step's answer must equal the expected payload's bytes. sim/board.py writes the plan
(``HWGEN_BOARD_PLAN``): ``divisor`` (clock cycles per UART bit), ``clock_ns``, ``load`` (bytes),
``steps`` and ``expected`` (a list of byte lists each), ``ahead`` and ``result`` (where the summary
goes as JSON: steps, mismatches, and the clock cycles from the first step's start bit to the last
answer's stop bit).

Bits are timed with ``Timer`` (one wake-up per bit, none per clock cycle), aligned to falling
clock edges so that the bridge, which samples on rising edges through two flip-flops, never sees
a line change at its own edge.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, FallingEdge, Timer

PLAN_ENV = "HWGEN_BOARD_PLAN"


class Host:
    """The host side of the link: a sender and a receiver coroutine sharing the step count."""

    def __init__(self, dut, plan: dict):
        self.dut, self.plan = dut, plan
        self.bit_ns = plan["divisor"] * plan["clock_ns"]
        self.answers: list[list[int]] = []
        self.answered = Event()
        self.started_ns = self.finished_ns = 0.0

    async def send_byte(self, byte: int) -> None:
        for bit in [0, *[(byte >> k) & 1 for k in range(8)], 1]:
            self.dut.rx.value = bit
            await Timer(self.bit_ns, unit="ns")

    async def send(self) -> None:
        for byte in self.plan["load"]:
            await self.send_byte(byte)
        for k, step in enumerate(self.plan["steps"]):
            while k - len(self.answers) >= self.plan["ahead"]:
                self.answered.clear()
                await self.answered.wait()
            if k == 0:
                self.started_ns = _now_ns()
            for byte in step:
                await self.send_byte(byte)

    async def receive_byte(self) -> int:
        await FallingEdge(self.dut.tx)  # the start bit
        await Timer(self.bit_ns * 3 // 2, unit="ns")  # the middle of data bit 0
        byte = 0
        for k in range(8):
            byte |= int(self.dut.tx.value) << k
            await Timer(self.bit_ns, unit="ns")
        if int(self.dut.tx.value) != 1:
            raise AssertionError(f"a frame on tx without its stop bit at {_now_ns():.0f} ns")
        return byte

    async def receive(self) -> None:
        for want in self.plan["expected"]:
            got = [await self.receive_byte() for _ in want]
            self.answers.append(got)
            self.answered.set()
        self.finished_ns = _now_ns() + self.bit_ns / 2  # the rest of the last stop bit


def _now_ns() -> float:
    return get_sim_time("ns")


@cocotb.test()
async def board_regression(dut):
    with open(os.environ[PLAN_ENV]) as f:
        plan = json.load(f)
    dut.rx.value = 1
    Clock(dut.clk, plan["clock_ns"], unit="ns").start(start_high=False)
    await Timer(20 * plan["clock_ns"], unit="ns")  # the power-on reset (16 cycles)
    await FallingEdge(dut.clk)
    host = Host(dut, plan)
    receiver = cocotb.start_soon(host.receive())
    await host.send()
    budget = (plan.get("cycles_per_step", 0) + 20 * plan["divisor"] * 64) * (len(plan["steps"]) + 2)
    await cocotb.triggers.First(receiver, Timer(budget * plan["clock_ns"], unit="ns"))
    mismatches = [{"step": k, "got": got, "want": want}
                  for k, (got, want) in enumerate(zip(host.answers, plan["expected"])) if got != want]
    summary = {"steps": len(host.answers), "sent": len(plan["steps"]), "mismatches": mismatches,
               "overrun": int(dut.led_n.value) == 0,
               "cycles": round((host.finished_ns - host.started_ns) / plan["clock_ns"])}
    with open(plan["result"], "w") as f:
        json.dump(summary, f)
    assert summary["steps"] == len(plan["steps"]), f"{summary['steps']} of {len(plan['steps'])} answers came back"
    assert not mismatches, f"{len(mismatches)} step(s) differ, first: {mismatches[0]}"
    assert not summary["overrun"], "the bridge lit its overrun LED"
