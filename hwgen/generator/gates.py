"""Activation x activation arithmetic of one hidden unit: GRU and LSTM state updates (and a
vanilla RNN's activation), with a configurable number of shared multipliers.

A gate unit starts on ``start`` (its inputs are stable in that cycle) and writes the unit's new
state a fixed number of cycles later. Products that happen in different cycles share a multiplier
(``multipliers`` caps how many are built; products of the same cycle always get their own):

* GRU: s0 ``n_pre = RQ(ai + r*ghn)``; s1 ``phi``; s2 ``h' = RQ(n + z*(h - n))``. Writes h at s2.
* LSTM, 2+ multipliers: s0 ``c' = RQ(f*c + i*g)``; s1 ``psi``; s2 ``h' = RQ(o*psi(c'))``.
* LSTM, 1 multiplier: s0 ``f*c``; s1 ``c' = RQ(f*c + i*g)``; s2 ``psi``; s3 ``h'``.
* RNN: s0 ``phi(a)`` (one cycle); writes h at s1.

With ``multipliers=0`` there are no multipliers: one shift-add unit (radix-4 Booth over the
activation operand, two bits per cycle, latency ``L``) forms the products one after another, and
the unit's operands are captured at the start; each sum is registered before its requantize.
GRU: products at s0 and s(L+3), h written at s(2L+4); LSTM: products at s0, sL and s(2L+3), c
written at s(2L+1), h at s(3L+4). The next unit
may start only after the write (``serial_offset``), which the folded datapath's row count allows
when the unit's rows take more cycles than that.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from ..spec.ir import ActImpl, Activation, RecurrentLayer
from .activation_units import HardActivation, TableActivation
from .exact import Exact, fx_of, fx_range, register_for
from .lanes import booth_digit
from .shapes import shape_for


@dataclass(frozen=True)
class Write:
    """A state word written at the end of a cycle where ``enable`` is high."""

    enable: Value
    value: Value
    tag: Value  # which unit (the ``tag`` given at start, delayed alongside)
    offset: int  # cycles after the start cycle


@dataclass(frozen=True)
class GateWrites:
    h: Write
    c: Write | None
    multipliers: int  # multipliers built


def act_unit(m: Module, act: Activation, z: Exact, name: str) -> Exact:
    """``act(z)``, one cycle later: a register after the hard unit, or a synchronous ROM read."""
    if isinstance(z.value, Signal):
        sig = z.value
    else:
        sig, z = z.wire(m, f"{name}_in").value, z.wire(m, f"{name}_in2")
    if act.impl is ActImpl.TABLE:
        unit = TableActivation(act, z.frac, sig.shape())
    else:
        unit = HardActivation(act.func, z.frac, sig.shape(), act.out, registered=True)
    m.submodules[name] = unit
    m.d.comb += unit.i.eq(sig)
    return Exact(unit.o, fx_of(act.out))


def delays(m: Module, v: Value, n: int, name: str) -> list[Value]:
    """``[v, v delayed 1, ..., v delayed n]``."""
    out = [v]
    for i in range(1, n + 1):
        s = Signal.like(v, name=f"{name}_d{i}") if isinstance(v, Signal) else Signal(v.shape(), name=f"{name}_d{i}")
        m.d.sync += s.eq(out[-1])
        out.append(s)
    return out


def capture(m: Module, x: Exact, enable: Value, name: str) -> Exact:
    sig, ex = register_for(x.fx, name)
    with m.If(enable):
        m.d.sync += sig.eq(x.value)
    return ex


def shared_products(m: Module, uses: list[tuple[Value, Exact, Exact]], count: int, name: str) -> list[Exact]:
    """``a * b`` for each use on ``min(count, len(uses))`` multipliers, use ``k`` on multiplier
    ``k % count``; a multiplier's operands are those of its use whose ``active`` is high."""
    count = min(count, len(uses))
    out = [None] * len(uses)
    for j in range(count):
        mine = list(range(j, len(uses), count))
        a, b = uses[mine[-1]][1].value, uses[mine[-1]][2].value
        for k in reversed(mine[:-1]):
            active, ak, bk = uses[k]
            a, b = Mux(active, ak.value, a), Mux(active, bk.value, b)
        prod = Signal((a * b).shape(), name=f"{name}_mul{j}")
        m.d.comb += prod.eq(a * b)
        for k in mine:
            out[k] = Exact(prod, uses[k][1].fx * uses[k][2].fx)
    return out


def serial_latency(layer: RecurrentLayer) -> int:
    """Cycles from a serial product's start to its result: the load, then one per Booth digit
    of the activation operand (a gate activation's output)."""
    out = layer.gate_act.out
    return (out.width + (0 if out.signed else 1) + 1) // 2 + 1


def serial_offset(layer: RecurrentLayer) -> int:
    """Cycles from a serial gate unit's start to its last state write (an RNN has no products)."""
    if layer.kind == "rnn":
        return 1
    L = serial_latency(layer)
    return 2 * L + 4 if layer.kind == "gru" else 3 * L + 4


def serial_products(m: Module, uses: list[tuple[Value, Exact, Exact]], name: str) -> list[Exact]:
    """``a * b`` for each ``(go, a, b)`` on one shift-add unit: the operands are taken in the
    cycle ``go`` is high and the product is there ``L`` cycles later (:func:`serial_latency`),
    held until the next ``go``. Radix-4 Booth digits of ``a``, least significant first; each
    digit's sum leaves its two lowest bits, which no later digit changes, to a shift register."""
    a_width = max(u[1].value.shape().width + (0 if u[1].value.shape().signed else 1) for u in uses)
    digits = (a_width + 1) // 2
    b_lo, b_hi = min(u[2].fx.lo for u in uses), max(u[2].fx.hi for u in uses)
    b_width = shape_for(b_lo, b_hi).width
    a_reg = Signal(signed(2 * digits + 1), name=f"{name}_a")  # a, with a zero below for digit 0
    b_reg = Signal(signed(b_width), name=f"{name}_b")
    # The sum's upper part (shifted right two bits per digit) and the finished low bits: the
    # adder is as wide as b plus three bits, not as wide as the product.
    upper = Signal(signed(b_width + 3), name=f"{name}_upper")
    low_bits = Signal(2 * digits, name=f"{name}_low")
    left = Signal(range(digits + 1), name=f"{name}_left")  # digits still to add
    go, a_in, b_in = uses[-1][0], uses[-1][1].value, uses[-1][2].value
    for g, a, b in reversed(uses[:-1]):
        go, a_in, b_in = go | g, Mux(g, a.value, a_in), Mux(g, b.value, b_in)
    a_ext = Signal(signed(2 * digits), name=f"{name}_a_in")
    m.d.comb += a_ext.eq(a_in)
    magnitude, high = booth_digit(a_reg[0], a_reg[1], a_reg[2], b_reg)
    # add or subtract in parallel and choose: one carry chain, not a negation then an add
    total = Signal(signed(b_width + 3), name=f"{name}_sum")
    m.d.comb += total.eq(Mux(high, upper - magnitude, upper + magnitude))
    with m.If(go):
        m.d.sync += [a_reg.eq(Cat(Const(0, 1), a_ext)), b_reg.eq(b_in), upper.eq(0), left.eq(digits)]
    with m.Elif(left != 0):
        m.d.sync += [a_reg.eq(a_reg >> 2), upper.eq(total >> 2), left.eq(left - 1),
                     low_bits.eq(Cat(low_bits[2:], total[:2]))]
    acc = Signal(signed(b_width + 3 + 2 * digits), name=f"{name}_acc")
    m.d.comb += acc.eq(Cat(low_bits, upper))
    return [Exact(acc, a.fx * b.fx) for _, a, b in uses]


def gate_unit(m: Module, layer: RecurrentLayer, multipliers: int, start: Value, tag: Value,
              ins: dict[str, Exact], h: Exact, c: Exact | None, name: str) -> GateWrites:
    f = layer.formats
    if multipliers == 0 and layer.kind != "rnn":
        return _serial(m, layer, start, tag, ins, h, c, name)
    v = delays(m, start, 3, f"{name}_v")
    t = delays(m, tag, 3, f"{name}_t")
    if layer.kind == "rnn":
        hv = act_unit(m, layer.cand_act, ins["a"], f"{name}_phi")
        return GateWrites(Write(v[1], hv.value, t[1], 1), None, 0)
    if layer.kind == "gru":
        z0, h0 = capture(m, ins["z"], start, f"{name}_z"), capture(m, h, start, f"{name}_h")
        npre_sig, npre = register_for(fx_of(f.preact), f"{name}_npre", f.preact)
        n = act_unit(m, layer.cand_act, npre, f"{name}_phi")
        uses = [(start, ins["r"], ins["ghn"]), (v[2], z0, h0 - n)]
        rg, zd = shared_products(m, uses, multipliers, f"{name}_m")
        with m.If(start):
            m.d.sync += npre_sig.eq((ins["ai"] + rg).requantize(m, f.preact, f"{name}_npre_q").value)
        hn = (n + zd).requantize(m, f.state, f"{name}_hnew")
        return GateWrites(Write(v[2], hn.value, t[2], 2), None, min(multipliers, 2))
    return _lstm(m, layer, multipliers, start, v, t, ins, c, name)


def _lstm(m, layer, multipliers, start, v, t, ins, c, name) -> GateWrites:
    f = layer.formats
    o1 = capture(m, ins["o"], start, f"{name}_o")
    if multipliers >= 2:
        c_sig, c_reg = register_for(fx_of(f.cell), f"{name}_creg", f.cell)
        tc = act_unit(m, layer.cell_act, c_reg, f"{name}_psi")
        uses = [(start, ins["f"], c), (start, ins["i"], ins["g"]), (v[2], o1, tc)]
        fc, ig, oh = shared_products(m, uses, multipliers, f"{name}_m")
        c_new = (fc + ig).requantize(m, f.cell, f"{name}_cnew")
        m.d.sync += c_sig.eq(c_new.value)
        built = min(multipliers, 3)
        c_write, h_at = Write(start, c_new.value, t[0], 0), 2
    else:
        i1, g1 = capture(m, ins["i"], start, f"{name}_i"), capture(m, ins["g"], start, f"{name}_g")
        fc_reg, fc_ex = register_for((ins["f"].fx * c.fx), f"{name}_fc")
        c_reg, c_ex = register_for(fx_of(f.cell), f"{name}_creg", f.cell)
        tc = act_unit(m, layer.cell_act, c_ex, f"{name}_psi")
        fc, ig, oh = shared_products(
            m, [(start, ins["f"], c), (v[1], i1, g1), (v[3], o1, tc)], 1, f"{name}_m")
        m.d.sync += fc_reg.eq(fc.value)
        c_new = (fc_ex + ig).requantize(m, f.cell, f"{name}_cnew")
        m.d.sync += c_reg.eq(c_new.value)
        built, c_write, h_at = 1, Write(v[1], c_new.value, t[1], 1), 3
    hn = oh.requantize(m, f.state, f"{name}_hnew")
    return GateWrites(Write(v[h_at], hn.value, t[h_at], h_at), c_write, built)


def _serial(m, layer, start, tag, ins, h, c, name) -> GateWrites:
    """The gate unit with its products on one shift-add unit (``multipliers=0``). Every sum
    that ends in a requantize is registered first, so no path holds more than one wide adder
    before the rounding (the unit is not what limits the clock)."""
    f, L = layer.formats, serial_latency(layer)
    v = delays(m, start, serial_offset(layer), f"{name}_v")
    t = capture(m, Exact(tag, fx_range(0, 0, (1 << len(tag)) - 1)), start, f"{name}_t").value
    if layer.kind == "gru":
        ai0, z0, h0 = (capture(m, x, start, f"{name}_{n}0") for x, n in ((ins["ai"], "ai"), (ins["z"], "z"), (h, "h")))
        npre_sig, npre = register_for(fx_of(f.preact), f"{name}_npre", f.preact)
        n = act_unit(m, layer.cand_act, npre, f"{name}_phi")
        rg, zd = serial_products(m, [(start, ins["r"], ins["ghn"]), (v[L + 3], z0, h0 - n)], f"{name}_m")
        npre_sum = capture(m, ai0 + rg, v[L], f"{name}_npre_sum")
        with m.If(v[L + 1]):
            m.d.sync += npre_sig.eq(npre_sum.requantize(m, f.preact, f"{name}_npre_q").value)
        h_sum = capture(m, n + zd, v[2 * L + 3], f"{name}_h_sum")
        hn = h_sum.requantize(m, f.state, f"{name}_hnew")
        return GateWrites(Write(v[2 * L + 4], hn.value, t, 2 * L + 4), None, 0)
    i0, g0, o0 = (capture(m, ins[k], start, f"{name}_{k}0") for k in ("i", "g", "o"))
    fc_reg, fc_ex = register_for(ins["f"].fx * c.fx, f"{name}_fc")
    c_reg, c_ex = register_for(fx_of(f.cell), f"{name}_creg", f.cell)
    tc = act_unit(m, layer.cell_act, c_ex, f"{name}_psi")
    fc, ig, oh = serial_products(m, [(start, ins["f"], c), (v[L], i0, g0), (v[2 * L + 3], o0, tc)], f"{name}_m")
    with m.If(v[L]):
        m.d.sync += fc_reg.eq(fc.value)
    c_sum = capture(m, fc_ex + ig, v[2 * L], f"{name}_c_sum")
    c_new = c_sum.requantize(m, f.cell, f"{name}_cnew")
    with m.If(v[2 * L + 1]):
        m.d.sync += c_reg.eq(c_new.value)
    h_prod = capture(m, oh, v[3 * L + 3], f"{name}_h_prod")
    hn = h_prod.requantize(m, f.state, f"{name}_hnew")
    return GateWrites(Write(v[3 * L + 4], hn.value, t, 3 * L + 4),
                      Write(v[2 * L + 1], c_new.value, t, 2 * L + 1), 0)
