"""The UART bridge in Amaranth's simulator: bytes in on rx, bytes out on tx, checked against a
reference of the design behind it."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwgen.toolchain.uart_bridge import UartBridge, payload_bytes

DIV = 4  # clock cycles per UART bit


class RunningSum(wiring.Component):
    """A stand-in design with the generated designs' ports: out = sum of inputs since `first`,
    answered two cycles late, so the bridge sees latency and backpressure."""

    def __init__(self, in_bits=11, out_bits=13):
        self.in_bits, self.out_bits = in_bits, out_bits
        super().__init__({"i": In(stream.Signature(in_bits + 1)), "o": Out(stream.Signature(out_bits))})

    def elaborate(self, platform):
        m = Module()
        acc = Signal(self.out_bits)
        busy = Signal(2)
        m.d.comb += self.i.ready.eq((busy == 0) & ~self.o.valid)
        with m.If(self.i.valid & self.i.ready):
            first = self.i.payload[self.in_bits]
            new = acc + self.i.payload[:self.in_bits]
            m.d.sync += [acc.eq(new), busy.eq(2)]
            with m.If(first):
                m.d.sync += acc.eq(self.i.payload[:self.in_bits])
        with m.If(busy == 1):
            m.d.sync += [self.o.payload.eq(acc), self.o.valid.eq(1)]
        with m.If(busy != 0):
            m.d.sync += busy.eq(busy - 1)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


def reference(values, firsts, out_bits=13):
    acc, out = 0, []
    for v, f in zip(values, firsts):
        acc = v if f else acc + v
        acc &= (1 << out_bits) - 1
        out.append(acc)
    return out


async def send_byte(ctx, rx, byte):
    """One 8N1 frame on ``rx``, least significant bit first."""
    for bit in [0, *[(byte >> k) & 1 for k in range(8)], 1]:
        ctx.set(rx, bit)
        await ctx.tick().repeat(DIV)


def listener_for(tx, received: list[int]):
    """A background testbench decoding 8N1 frames on ``tx`` into ``received``."""

    async def listener(ctx):
        while True:
            await ctx.tick()
            if ctx.get(tx) == 0:  # start bit: sample mid-bit
                await ctx.tick().repeat(DIV // 2)
                byte = 0
                for k in range(8):
                    await ctx.tick().repeat(DIV)
                    byte |= ctx.get(tx) << k
                await ctx.tick().repeat(DIV)
                assert ctx.get(tx) == 1, "stop bit"
                received.append(byte)

    return listener


def exchange(bridge: UartBridge, payloads: list[int], pace_steps: bool = True, load=()) -> list[int]:
    """Send each input payload's bytes (least significant first) and collect the output payloads.
    With ``pace_steps`` the host waits for each answer before sending the next step. ``load``:
    16-bit words sent first (a weights image), two bytes each, least significant first."""
    n_in, n_out = payload_bytes(bridge.in_width), payload_bytes(bridge.out_width)
    received: list[int] = []
    sim = Simulator(bridge)
    sim.add_clock(1e-6)

    async def host(ctx):
        ctx.set(bridge.rx, 1)
        await ctx.tick().repeat(3)
        for word in load:
            for byte in word.to_bytes(2, "little"):
                await send_byte(ctx, bridge.rx, byte)
        for step, payload in enumerate(payloads):
            for byte in payload.to_bytes(n_in, "little"):
                await send_byte(ctx, bridge.rx, byte)
            while pace_steps and len(received) < (step + 1) * n_out:
                await ctx.tick()
        while len(received) < len(payloads) * n_out:
            await ctx.tick()

    sim.add_testbench(host)
    sim.add_testbench(listener_for(bridge.tx, received), background=True)
    sim.run()
    return [int.from_bytes(bytes(received[i:i + n_out]), "little") for i in range(0, len(received), n_out)]


@pytest.mark.parametrize("pace", [True, False])
def test_bridge_round_trip_matches_reference(pace):
    rng = np.random.default_rng(3)
    values = rng.integers(0, 1 << 11, 7).tolist()
    firsts = [True, False, False, True, False, False, False]
    bridge = UartBridge(RunningSum(), DIV)
    assert payload_bytes(bridge.in_width) == 2
    words = exchange(bridge, [v | (int(f) << 11) for v, f in zip(values, firsts)], pace)
    assert words == reference(values, firsts)


def test_divisor_validated():
    with pytest.raises(ValueError, match="divisor"):
        UartBridge(RunningSum(), 2)


@pytest.mark.parametrize("weights", ["rom", "spram"])
def test_bridge_around_a_generated_design_matches_the_golden_model(weights):
    """Bytes through the bridge to a real generated design and back equal the golden model's
    outputs; with weights in SPRAM the host sends the weights image first."""
    from hwgen.generator import build_design
    from hwgen.expected import expected_outputs
    from hwgen.generator.interface import input_format, output_format
    from hwgen.spec.random_qmodel import random_qmodel

    q = random_qmodel("gru", hidden=3, inputs=2, vocab=6, outputs=4, code="pow2", act="hard", seed=8)
    design = build_design(q, lanes=2, weights=weights)
    bridge = UartBridge(design, DIV)
    load = design.load_words if weights == "spram" else ()
    assert bridge.load_words == len(load)
    fin, fout = input_format(q), output_format(q)
    tokens = np.array([[1, 5, 0, 3, 3, 2]])
    first = np.array([[True, False, False, True, False, False]])
    expected = expected_outputs(q, None, tokens, first)[0]
    words = exchange(bridge, [fin.pack(t, f) for t, f in zip(tokens[0], first[0])], load=load)
    assert len(words) == tokens.shape[1]
    for step, bits in enumerate(words):
        data, was_first = fout.unpack(bits)
        assert np.array_equal(data, expected[step]), f"step {step}"
        assert was_first == first[0, step]
