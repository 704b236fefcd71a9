"""Amaranth-simulator harness for generated designs: a stream driver and a monitor with random
valid/ready gaps, the golden model's expected outputs, and cycle stamps for throughput/latency."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from hwgen.expected import expected_outputs
from hwgen.spec.golden import check_bounds
from hwgen.spec.stimulus import random_inputs
from hwgen.generator.interface import input_format, output_format


@dataclass
class Run:
    outputs: list  # (data, first) per output beat, in order
    out_cycles: list[int] = field(default_factory=list)  # cycle in which each output beat moved
    first_valid: list[int] = field(default_factory=list)  # cycle each output beat was first offered
    in_offered: list[int] = field(default_factory=list)  # cycle each input beat was first offered


def random_stimulus(qmodel, rng, steps: int, p_first: float = 0.2):
    """One stream of ``steps`` inputs spanning each format's full range, with random ``first`` flags."""
    x = random_inputs(qmodel, rng, (1, steps))
    first = rng.random((1, steps)) < p_first
    return x, first


def simulate(top, qmodel, output, x, first, *, rng=None, in_gap=0.0, out_gap=0.0, max_cycles=200_000) -> Run:
    """Drive ``x[0]`` with flags ``first[0]`` through ``top``; gaps are probabilities per cycle."""
    rng = rng or np.random.default_rng(0)
    fin, fout = input_format(qmodel), output_format(qmodel, output)
    beats = [fin.pack(x[0, t], bool(first[0, t])) for t in range(x.shape[1])]
    run = Run([])
    sim = Simulator(top)
    sim.add_clock(1e-6)
    in_rng, out_rng = (np.random.default_rng(s) for s in rng.integers(0, 2**32, 2))

    async def driver(ctx):  # each loop turn is one clock cycle: ``n`` counts them
        n = 0
        for bits in beats:
            while in_rng.random() < in_gap:
                await ctx.tick()
                n += 1
            ctx.set(top.i.payload.as_value(), bits)
            ctx.set(top.i.valid, 1)
            run.in_offered.append(n)
            while True:
                ready = ctx.get(top.i.ready)
                await ctx.tick()
                n += 1
                if ready:
                    break
            ctx.set(top.i.valid, 0)

    async def monitor(ctx):
        seen, n = False, 0
        while len(run.outputs) < len(beats) and n < max_cycles:
            ready = out_rng.random() >= out_gap
            ctx.set(top.o.ready, ready)
            valid = ctx.get(top.o.valid)
            if valid and not seen:
                run.first_valid.append(n)
                seen = True
            bits = ctx.get(top.o.payload.as_value())
            await ctx.tick()
            if valid and ready:
                run.outputs.append(fout.unpack(int(bits)))
                run.out_cycles.append(n)
                seen = False
            n += 1

    async def loader(ctx):  # the weights image first (designs with a ``load`` port)
        for word in top.load_words:
            ctx.set(top.load.payload, word)
            ctx.set(top.load.valid, 1)
            await ctx.tick().until(top.load.ready)
        ctx.set(top.load.valid, 0)

    if "load" in top.signature.members:
        sim.add_testbench(loader, background=True)
    sim.add_testbench(driver, background=True)
    sim.add_testbench(monitor)
    sim.run()
    return run


def check_exact(qmodel, output, x, first, run: Run):
    """Every output word equals the golden model's, bit for bit, and ``first`` is echoed."""
    want = expected_outputs(qmodel, output, x, first)[0]
    assert len(run.outputs) == len(want), f"{len(run.outputs)} output beats for {len(want)} inputs"
    for t, ((data, flag), w) in enumerate(zip(run.outputs, want)):
        got = np.atleast_1d(np.asarray(data)).tolist()
        exp = np.atleast_1d(np.asarray(w)).tolist()
        assert got == exp, f"step {t}: got {got}, golden {exp}"
        assert flag == bool(first[0, t]), f"step {t}: first {flag}, sent {bool(first[0, t])}"


def patterned(qmodel, seed: int):
    """``qmodel`` with every layer's W_hh rows made, in turn, empty, full (no zero), one non-zero
    and left random: the patterns a zero-skipping layout must survive."""
    rng = np.random.default_rng(seed)
    layers = []
    for layer in qmodel.layers:
        q = np.array(layer.w_hh.q)
        for r in range(q.shape[0]):
            if r % 4 == 0:
                q[r] = 0
            elif r % 4 == 1:
                q[r] = np.where(q[r] == 0, rng.choice([-1, 1], q.shape[1]), q[r])
            elif r % 4 == 2:
                q[r] = 0
                q[r, rng.integers(q.shape[1])] = rng.choice([-1, 1])
        layers.append(dataclasses.replace(layer, w_hh=dataclasses.replace(layer.w_hh, q=q)))
    return check_bounds(dataclasses.replace(qmodel, layers=tuple(layers)))
