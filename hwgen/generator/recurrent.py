"""One recurrent layer (RNN, GRU or LSTM) as a stream stage: input vector in, new state out.

Pipeline of a step (cycle names as in :mod:`hwgen.generator.matvec`): T0 issue, T1 lanes and
accumulators, T2 scale + bias + the row's one requantize (folded: over two cycles), T3 activation
(a register or a ROM read), T4 the unit's gate registers, T5 on: the gate unit
(:mod:`hwgen.generator.gates`), which writes the unit's new state into the second state bank. The swap copies that bank into the state registers,
which are also the output payload. A sequence start (``first``) makes every read of the old state
read zero for that step, so the published state never changes under a waiting consumer.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.ir import RecurrentLayer
from .control import step_control
from .exact import Exact, fx_of, register_for
from .gates import Write, act_unit, capture, gate_unit, serial_offset
from .hot_column import HotSplit, row_offsets
from .loader import code_port
from .lanes import takes_dsp, tree_ranks
from .matvec import FoldedRows, Source, UnrolledRows
from .sparse_rows import SparseRows
from .code_memory import chunks, layer_matrices, unit_order
from .plan import MemoryPlan, StagePlan
from .rows import affine, constant_rows, row_constants
from .shapes import fmt_shape
from .vectors import BankedVector, LaneCopies, published_buffer, read_chunk, ScalarVector, gather, serve_registers, vector_link

#: Cycles from the first DRAIN cycle to the gate unit's start, unrolled (T1 -> T5). Folded rows
#: add the adder tree's register ranks, two for the row end's split sum and one for its two-cycle
#: requantize (:func:`gate_start`).
GATE_START = 4


def gate_start(style: str, lanes: int) -> int:
    return GATE_START if style == "unrolled" else GATE_START + tree_ranks(lanes) + 3


def write_offset(kind: str, multipliers: int) -> int:
    """Cycles from a gate unit's start to its state write (see :mod:`hwgen.generator.gates`)."""
    return {"rnn": 1, "gru": 2}.get(kind, 2 if multipliers >= 2 else 3)


def recurrent_issues(layer: RecurrentLayer, style: str, lanes: int, hot: bool = False, sparse: bool = False) -> int:
    """Issue cycles of a step: every (row, chunk) when folded (one input chunk per row with
    ``hot`` reads; with ``sparse`` reads, each row's non-zero state codes, P a cycle); the input's
    chunks, then one issue, when unrolled (the input is read into registers first)."""
    if style == "unrolled":
        return chunks(layer.input_size, lanes) + 1
    if sparse:
        return layer_rows(layer, lanes, None, hot, sparse).issues
    return layer.gates * layer.hidden_size * _row_reads(layer, lanes, hot)


def _row_reads(layer: RecurrentLayer, lanes: int, hot: bool) -> int:
    """Code chunks a folded row reads: its input chunks (or the hot one) and its state chunks."""
    return (1 if hot else chunks(layer.input_size, lanes)) + chunks(layer.hidden_size, lanes)


def recurrent_drain(layer: RecurrentLayer, style: str, lanes: int, multipliers: int) -> int:
    offset = serial_offset(layer) if multipliers == 0 else write_offset(layer.kind, multipliers)
    write_register = 0 if style == "unrolled" else 1
    return gate_start(style, lanes) + offset + write_register + 2


def layer_rows(layer: RecurrentLayer, lanes: int, baseline_width: int | None, hot: bool = False,
               sparse: bool = False) -> FoldedRows | SparseRows:
    """The folded rows of a layer: both matrices, unit by unit (:func:`code_memory.unit_order`);
    ``sparse``: without ``W_hh``'s zero codes (hwgen.generator.sparse_layout)."""
    if sparse:
        return _sparse_rows(layer, lanes, hot)
    return FoldedRows(*layer_matrices(layer), lanes, baseline_width, hot)


_SPARSE: dict[tuple[int, int, bool], tuple[RecurrentLayer, SparseRows]] = {}


def _sparse_rows(layer: RecurrentLayer, lanes: int, hot: bool) -> SparseRows:
    """The layout walks every code, and the planner asks for it per design point, the stage
    again: the last few are kept (by the layer object itself; a layer holds arrays, no hash)."""
    key = (id(layer), lanes, hot)
    if key not in _SPARSE or _SPARSE[key][0] is not layer:
        if len(_SPARSE) >= 32:
            _SPARSE.pop(next(iter(_SPARSE)))
        _SPARSE[key] = (layer, SparseRows(*layer_matrices(layer), lanes, hot))
    return _SPARSE[key][1]


def unit_cycles(layer: RecurrentLayer, style: str, lanes: int, hot: bool = False, sparse: bool = False) -> int | None:
    """The fewest cycles between two units' gate-unit starts (None when unrolled: one start per
    step)."""
    if style == "unrolled":
        return None
    if sparse:
        return min(layer_rows(layer, lanes, None, hot, sparse).layout.unit_issues(layer.gates))
    return layer.gates * _row_reads(layer, lanes, hot)


def check_serial(layer: RecurrentLayer, style: str, lanes: int, hot: bool = False, sparse: bool = False) -> None:
    """Shift-add gate products (``multipliers=0``) need a unit finished before the next starts."""
    u = unit_cycles(layer, style, lanes, hot, sparse)
    if layer.kind != "rnn" and u is not None and u <= serial_offset(layer):
        some = "its shortest unit" if sparse else "a unit"
        raise ValueError(
            f"multipliers=0 (shift-add gate products) needs more than {serial_offset(layer)} cycles "
            f"per hidden unit, but with {lanes} lanes {some} of this {layer.kind.upper()} layer takes "
            f"{u}: use fewer lanes, or multipliers=1 or more")


class RecurrentStage(wiring.Component):
    """A layer's step: ``i`` links the input vector (and ``first``), ``o`` publishes the new state ``h``."""

    @classmethod
    def plan(cls, index: int, layer: RecurrentLayer, layer_index: int, *, style: str, lanes: int,
             multipliers: int, baseline_width: int | None = None, loaded: bool = False,
             hot: bool = False, sparse: bool = False, dsp: bool = False) -> StagePlan:
        """The layer's step (IDLE + issues + drain) and, folded, its code memory. ``hot``: the
        input is read as one hot column (hwgen.generator.hot_column); ``sparse``: the state
        part of each row skips its zero codes (hwgen.generator.sparse_layout); ``dsp``: the
        lanes multiply on hard multipliers where the codes allow (hwgen.generator.lanes.takes_dsp)."""
        issues = recurrent_issues(layer, style, lanes, hot, sparse)
        interval = 1 + issues + recurrent_drain(layer, style, lanes, multipliers)
        memory = None
        if style == "folded":
            rows = layer_rows(layer, lanes, baseline_width, hot, sparse)
            memory = MemoryPlan(rows.depth, rows.width, loaded)
            f = layer.formats
            dsp = dsp and takes_dsp(rows.fmt, min(f.input.min_int, f.state.min_int),
                                    max(f.input.max_int, f.state.max_int))
        elif loaded:
            raise ValueError("loaded weight codes need the folded datapath")
        return StagePlan(index, "recurrent", lanes, interval=interval, latency=interval, issues=issues,
                         drain=interval - 1 - issues, style=style, multipliers=multipliers,
                         code_memory=memory, layer=layer_index, hot=hot, sparse=sparse,
                         dsp_lanes=lanes if style == "folded" and dsp else 0)

    def __init__(self, layer: RecurrentLayer, plan: StagePlan, baseline_width: int | None = None,
                 split: HotSplit | None = None):
        """``split``: the embedding table's split, for a stage whose plan reads hot columns."""
        if plan.hot != (split is not None):
            raise ValueError("a stage that reads hot columns needs the table's split, and only it")
        self.layer, self.style, self.lanes, self.out_lanes = layer, plan.style, plan.lanes, plan.out_lanes
        self.multipliers, self.issues, self.drain = plan.multipliers, plan.issues, plan.drain
        self.interval, self.latency, self.split = plan.interval, plan.latency, split
        f = layer.formats
        members = {
            "i": In(vector_link(fmt_shape(f.input), layer.input_size, self.lanes, hot=plan.hot)),
            "o": Out(vector_link(fmt_shape(f.state), layer.hidden_size, self.out_lanes)),
        }
        self.sparse, self.dsp = plan.sparse, plan.dsp_lanes > 0
        self.rows = (layer_rows(layer, self.lanes, baseline_width, plan.hot, plan.sparse)
                     if self.style == "folded" else None)
        if plan.loaded:  # the codes come through ``codes`` (hwgen.generator.loader)
            members["codes"] = In(code_port(self.rows.depth, self.rows.width))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        steps = step_control(m, self.i, self.o, self.issues, self.drain)
        (self._folded if self.style == "folded" else self._unrolled)(m, steps)
        return m

    def _folded(self, m, steps):
        """State in block RAM: ``h`` P words wide for the lanes and the next stage, and one word
        wide (with LSTM's ``c``) for the gate unit; two buffers each, the published one is read,
        the other written, and the swap exchanges them."""
        L, f = self.layer, self.layer.formats
        H, P = L.hidden_size, self.lanes
        pub = published_buffer(m, steps.swap)
        shared = self.out_lanes == P  # the next stage reads chunks as wide as the lanes'
        # Zero-skipping rows read any word in any lane: a copy of h per lane.
        state = LaneCopies if self.sparse else BankedVector
        h_chunks = state(m, fmt_shape(f.state), H, P, 2 if shared else 1, "h_chunks")
        h_out = h_chunks if shared else BankedVector(m, fmt_shape(f.state), H, self.out_lanes, 1, "h_out")
        m.d.comb += self.o.data.eq(h_out.read(m, 1 if shared else 0, self.o.addr, pub))
        x = Source(f.input.min_int, f.input.max_int, f.input.frac, read=lambda m, k: read_chunk(m, self.i, k))
        hs = Source(f.state.min_int, f.state.max_int, f.state.frac,
                    read=lambda m, k: h_chunks.read(m, 0, k, pub), zero=steps.fresh,
                    gather=lambda m, words: h_chunks.read_words(m, 0, words, pub))
        order = self.rows.order
        hot = None if self.split is None else self.i.hot
        t1, t2, (acc_x, acc_h) = self.rows.build(m, steps.issue, [x, hs], "mv", getattr(self, "codes", None), hot,
                                                    self.dsp)
        # With hot reads the shared part of the input, ``W_ih b``, joins the bias (exactly).
        offsets = None if self.split is None else (row_offsets(L.w_ih, self.split.base), acc_x.fx.frac)
        c_ih, c_hh = row_constants(m, [(L.w_ih, L.b_ih, offsets), (L.w_hh, L.b_hh, None)], order, t1["p"],
                                   "row_consts")
        ai, ah = affine(acc_x, L.w_ih, c_ih), affine(acc_h, L.w_hh, c_hh)
        # The row end in four cycles: scale and bias, their sum, then the requantize in two.
        ai, ah = _hold(m, ai, "row_ai2"), _hold(m, ah, "row_ah2")
        total = _hold(m, ai + ah, "row_sum2")
        ai, ah = _hold(m, ai, "row_ai2b"), _hold(m, ah, "row_ah2b")
        row = self._finish_row(m, ai, ah, None, "row", total)
        tok = {k: t2[k] for k in ("v", "u", "g")}
        for stage in ("2", "2b", "2c", "3", "4"):
            nxt = {k: Signal.like(s, name=f"{k}{stage}") for k, s in tok.items()}
            m.d.sync += [nxt[k].eq(tok[k]) for k in tok]
            tok = nxt
        gates = {}
        for name, value, gi in self._gate_values(row):
            reg, ex = register_for(value.fx, f"gate_{name}")
            with m.If(tok["v"] & (tok["g"] == gi)):
                m.d.sync += reg.eq(value.value)
            gates[name] = ex
        fire, unit = Signal(name="fire"), Signal.like(tok["u"], name="fire_u")
        m.d.sync += [fire.eq(tok["v"] & (tok["g"] == L.gates - 1)), unit.eq(tok["u"])]
        # The unit's old state is addressed at T4, so it is there at T5 with ``unit``.
        words = [ScalarVector(m, fmt_shape(f.state), H, "h_words")]
        if L.kind == "lstm":
            words.append(ScalarVector(m, fmt_shape(f.cell), H, "c_words"))
        state = [Exact(Mux(steps.fresh, 0, w.read(m, tok["u"], pub)), fx_of(fmt))
                 for w, fmt in zip(words, (f.state, f.cell))] + [None]
        writes = gate_unit(m, L, self.multipliers, fire, unit, gates, state[0], state[1], "gate")
        # A register before the memories: a state word goes to several of them (long routes).
        h_w = _registered_write(m, writes.h, "h_w")
        h_chunks.write(m, h_w.enable, h_w.tag, h_w.value, ~pub, "h_write")
        if not shared:
            h_out.write(m, h_w.enable, h_w.tag, h_w.value, ~pub, "h_out_write")
        for w, mem in zip((h_w, writes.c and _registered_write(m, writes.c, "c_w")), words):
            mem.write(m, w.enable, w.tag, w.value, ~pub)

    def _finish_row(self, m, ai, ah, enable, name, total=None):
        """T2 -> T3 -> T4 of one row: requantize, registers, activations; returns named values
        valid at T4: ``pre`` (RQ to P), ``sig``/``cand`` (activations), ``ai``/``ghn`` (GRU)."""
        L, f = self.layer, self.layer.formats

        def t3(x: Exact, n: str) -> Exact:  # the T2 -> T3 register (taken on ``enable`` if given)
            if enable is None:
                return _hold(m, x, f"{name}_{n}3")
            return capture(m, x, enable, f"{name}_{n}3")

        def rq(x: Exact, n: str) -> Exact:
            """Folded rows requantize over two cycles (the row end's longest carry chain, halved;
            ``ai`` is delayed alongside); the unrolled rows' ends are their own, in one."""
            return x.requantize(m, f.preact, f"{name}_{n}", split=enable is None)
        pre3 = t3(rq(ai + ah if total is None else total, "pre"), "pre")
        if enable is None:
            ai = _hold(m, ai, f"{name}_ai2c")
        out = {}
        if L.kind == "rnn":
            out["pre"] = _hold(m, pre3, f"{name}_pre4")
        else:
            out["sig"] = act_unit(m, L.gate_act, pre3, f"{name}_sigma")
        if L.kind == "lstm":
            out["cand"] = act_unit(m, L.cand_act, pre3, f"{name}_phi")
        if L.kind == "gru":
            out["ai"] = _hold(m, t3(ai, "ai"), f"{name}_ai4")
            out["ghn"] = _hold(m, t3(rq(ah, "ghn"), "ghn"), f"{name}_ghn4")
        return out

    def _gate_values(self, row):
        """(gate-unit input name, value at T4, gate index of the row that supplies it)."""
        kind = self.layer.kind
        if kind == "rnn":
            return [("a", row["pre"], 0)]
        if kind == "gru":
            return [("r", row["sig"], 0), ("z", row["sig"], 1), ("ai", row["ai"], 2), ("ghn", row["ghn"], 2)]
        return [("i", row["sig"], 0), ("f", row["sig"], 1), ("g", row["cand"], 2), ("o", row["sig"], 3)]

    def _unrolled(self, m, steps):
        """State in registers (every unit reads its own); the input vector is first read into
        registers, a chunk per issue cycle, and the last issue cycle starts the rows."""
        L, f = self.layer, self.layer.formats
        I, H = L.input_size, L.hidden_size
        x_regs = Signal(data.ArrayLayout(fmt_shape(f.input), I), name="x")
        gather(m, self.i, steps.issue, steps.count, x_regs, I, self.lanes, "x_in")
        issue = steps.issue & (steps.count == self.issues - 1)
        banks = [(Signal(data.ArrayLayout(fmt_shape(f.state), H), name="h"),
                  Signal(data.ArrayLayout(fmt_shape(f.state), H), name="h_next"))]
        if L.kind == "lstm":
            cells = data.ArrayLayout(fmt_shape(f.cell), H)
            banks.append((Signal(cells, name="c"), Signal(cells, name="c_next")))
        with m.If(steps.swap):
            m.d.sync += [old.eq(new) for old, new in banks]
        reads = [[old[j] for j in range(H)] for old, _ in banks]
        serve_registers(m, self.o, reads[0], self.out_lanes)
        x = Source(f.input.min_int, f.input.max_int, f.input.frac, words=tuple(x_regs[c] for c in range(I)))
        hs = Source(f.state.min_int, f.state.max_int, f.state.frac, words=tuple(reads[0]), zero=steps.fresh)
        order = unit_order(L.gates, L.hidden_size)
        v2, accs = UnrolledRows([L.w_ih, L.w_hh], [x, hs], order).build(m, issue, "mv")
        v = [v2]
        for i in range(3):
            s = Signal(name=f"v{i + 3}")
            m.d.sync += s.eq(v[-1])
            v.append(s)
        fire = v[3]
        c_ih, c_hh = constant_rows(L.w_ih, L.b_ih, order), constant_rows(L.w_hh, L.b_hh, order)
        for u in range(L.hidden_size):
            gates = {}
            rows = []
            for gi in range(L.gates):
                p = u * L.gates + gi
                ai = affine(accs[p][0], L.w_ih, c_ih[p])
                ah = affine(accs[p][1], L.w_hh, c_hh[p])
                rows.append(self._finish_row(m, ai, ah, v2, f"u{u}g{gi}"))
            for gi, row in enumerate(rows):
                gates.update({n: val for n, val, g in self._gate_values(row) if g == gi})
            state = [Exact(Mux(steps.fresh, 0, r[u]), fx_of(fmt)) for r, fmt in zip(reads, [f.state, f.cell])] + [None]
            writes = gate_unit(m, L, self.multipliers, fire, Const(0, 1), gates, state[0], state[1], f"gate{u}")
            for w, (_, new) in zip((writes.h, writes.c), banks):
                with m.If(w.enable):
                    m.d.sync += new[u].eq(w.value)


def _registered_write(m: Module, w: Write, name: str) -> Write:
    """``w`` one cycle later."""
    enable, tag = Signal(name=f"{name}_en"), Signal.like(w.tag, name=f"{name}_tag")
    value = Signal(w.value.shape(), name=f"{name}_value")
    m.d.sync += [enable.eq(w.enable), tag.eq(w.tag), value.eq(w.value)]
    return Write(enable, value, tag, w.offset + 1)


def _hold(m: Module, x: Exact, name: str) -> Exact:
    sig, ex = register_for(x.fx, name)
    m.d.sync += sig.eq(x.value)
    return ex
