"""A second, independent golden model written from docs/arithmetic.md alone.

Plain Python integers only (no numpy in the arithmetic, nothing from hwgen.spec.golden,
hwgen.spec.activation or hwgen.spec.fixedpoint's functions); only the IR's data and Fmt's attributes
(width, frac, signed, min_int, max_int) are read. Section numbers refer to docs/arithmetic.md.

A value is a pair ``(x, f)``: the integer ``x`` standing for ``x * 2**-f`` (section 1).
"""

from __future__ import annotations


# ---- section 2: the primitive operations -------------------------------------------------

def rshift(x: int, s: int) -> int:
    """x * 2**-s rounded to nearest, halves away from zero."""
    if s <= 0:
        return x << -s
    return (x + (1 << (s - 1)) - (1 if x < 0 else 0)) >> s


def sat(x: int, fmt) -> int:
    return min(max(x, fmt.min_int), fmt.max_int)


def rq(v, fmt) -> int:
    """Requantize the exact value v = (x, f) into fmt; result at fmt.frac."""
    x, f = v
    return sat(rshift(x, f - fmt.frac), fmt)


def align(v, g: int) -> int:
    x, f = v
    assert g >= f
    return x << (g - f)


def add(*vals):
    g = max(f for _, f in vals)
    return (sum(align(v, g) for v in vals), g)


def sub(a, b):
    g = max(a[1], b[1])
    return (align(a, g) - align(b, g), g)


def mul(a, b):
    return (a[0] * b[0], a[1] + b[1])


# ---- section 3/4: weights and biases ------------------------------------------------------

def matvec(w, xs: list[int], fx: int) -> list:
    """Exact W x for x at binary point fx; one (value, frac) per row."""
    q = [[int(c) for c in row] for row in w.q]
    exp = int(w.exp)
    if w.scale is not None:
        s = [int(v) for v in w.scale.values]
        sf = int(w.scale.frac)
    else:
        s, sf = [1] * len(q), 0
    out = []
    for r, row in enumerate(q):
        acc = sum(qc * xc for qc, xc in zip(row, xs)) * s[r]
        out.append((acc, fx - exp + sf))
    return out


def bias(b) -> list:
    return [(int(v), int(b.frac)) for v in b.values]


# ---- section 5: activations ---------------------------------------------------------------

def _func(act) -> str:
    return getattr(act.func, "value", act.func)


def _impl(act) -> str:
    return getattr(act.impl, "value", act.impl)


def activate(act, v) -> int:
    """The activation unit reading v = (z, fz); the result is at act.out.frac."""
    z, fz = v
    out = act.out
    o = out.frac
    func, impl = _func(act), _impl(act)
    if impl == "hard":
        if func == "sigmoid":
            F = max(fz + 2, 1, o)
            w = (z << (F - fz - 2)) + (1 << (F - 1))
            return min(max(rshift(w, F - o), 0), 1 << o)
        if func == "tanh":
            return min(max(rshift(z, fz - o), -(1 << o)), 1 << o)
        if func == "relu":
            return sat(rshift(max(z, 0), fz - o), out)
        raise ValueError(func)
    if impl == "table":
        table = [int(t) for t in act.values]
        n = len(table)
        a = n.bit_length() - 1
        t = int(act.range_log2) + 1 - a
        i = min(max(rshift(z, fz + t), -(n // 2)), n // 2 - 1)
        return table[i + n // 2]
    raise ValueError(impl)


# ---- section 6: step equations ------------------------------------------------------------

def _acc_halves(layer, x, fx, h):
    fs = layer.formats.state.frac
    ai = [add(p, b) for p, b in zip(matvec(layer.w_ih, x, fx), bias(layer.b_ih))]
    ah = [add(p, b) for p, b in zip(matvec(layer.w_hh, h, fs), bias(layer.b_hh))]
    return ai, ah


def rnn_step(layer, x, fx, h, c):
    P = layer.formats.preact
    ai, ah = _acc_halves(layer, x, fx, h)
    a = [rq(add(i, j), P) for i, j in zip(ai, ah)]
    h2 = [activate(layer.cand_act, (v, P.frac)) for v in a]
    return h2, None, {"a": a}


def gru_step(layer, x, fx, h, c):
    H = layer.hidden_size
    fm = layer.formats
    P, S = fm.preact, fm.state
    sig, phi = layer.gate_act, layer.cand_act
    ai, ah = _acc_halves(layer, x, fx, h)
    r = [activate(sig, (rq(add(ai[j], ah[j]), P), P.frac)) for j in range(H)]
    z = [activate(sig, (rq(add(ai[H + j], ah[H + j]), P), P.frac)) for j in range(H)]
    ghn = [rq(ah[2 * H + j], P) for j in range(H)]
    fo = sig.out.frac
    n = [activate(phi, (rq(add(ai[2 * H + j], mul((r[j], fo), (ghn[j], P.frac))), P), P.frac))
         for j in range(H)]
    fn = phi.out.frac
    h2 = []
    for j in range(H):
        nv = (n[j], fn)
        d = sub((h[j], S.frac), nv)
        h2.append(rq(add(nv, mul((z[j], fo), d)), S))
    return h2, None, {"r": r, "z": z, "ghn": ghn, "n": n}


def lstm_step(layer, x, fx, h, c):
    H = layer.hidden_size
    fm = layer.formats
    P, S, C = fm.preact, fm.state, fm.cell
    sig, phi, psi = layer.gate_act, layer.cand_act, layer.cell_act
    ai, ah = _acc_halves(layer, x, fx, h)
    Z = [rq(add(i, j), P) for i, j in zip(ai, ah)]
    gi = [activate(sig, (Z[j], P.frac)) for j in range(H)]
    gf = [activate(sig, (Z[H + j], P.frac)) for j in range(H)]
    gg = [activate(phi, (Z[2 * H + j], P.frac)) for j in range(H)]
    go = [activate(sig, (Z[3 * H + j], P.frac)) for j in range(H)]
    fs, fp = sig.out.frac, phi.out.frac
    c2 = [rq(add(mul((gf[j], fs), (c[j], C.frac)), mul((gi[j], fs), (gg[j], fp))), C)
          for j in range(H)]
    fpsi = psi.out.frac
    h2 = [rq(mul((go[j], fs), (activate(psi, (c2[j], C.frac)), fpsi)), S) for j in range(H)]
    return h2, c2, {"Z": Z, "i": gi, "f": gf, "g": gg, "o": go}


STEPS = {"rnn": rnn_step, "gru": gru_step, "lstm": lstm_step}


# ---- sections 6/7: layers, sequences, input and output stages -----------------------------

def _tolist(a):
    return a.tolist() if hasattr(a, "tolist") else a


def run_spec(qmodel, inputs, start=None, states: dict | None = None) -> list:
    """Outputs [batch][step][unit] as Python ints.

    ``inputs``: token ids (batch, steps) for an embedding input, else features
    (batch, steps, size). ``start[b][t]`` true resets every state before step t.
    If ``states`` is a dict, it receives per-layer h as ``states["L{i}.h"][b][t][unit]``
    (and an LSTM's cell as ``states["L{i}.c"]``).
    """
    inputs = _tolist(inputs)
    embedding = hasattr(qmodel.input, "table")
    table = [[int(v) for v in row] for row in qmodel.input.table] if embedding else None
    fx0 = qmodel.input.fmt.frac
    batch = len(inputs)
    steps = len(inputs[0]) if batch else 0
    start = [[False] * steps for _ in range(batch)] if start is None else _tolist(start)
    layers = qmodel.layers
    if states is not None:
        for i in range(len(layers)):
            states[f"L{i}.h"] = [[] for _ in range(batch)]
            if layers[i].kind == "lstm":
                states[f"L{i}.c"] = [[] for _ in range(batch)]
    out = []
    for b in range(batch):
        hs = [None] * len(layers)
        cs = [None] * len(layers)
        seq = []
        for t in range(steps):
            if t == 0 or start[b][t]:
                hs = [[0] * l.hidden_size for l in layers]
                cs = [[0] * l.hidden_size if l.kind == "lstm" else None for l in layers]
            if embedding:
                x = list(table[int(inputs[b][t])])
            else:
                x = [int(v) for v in inputs[b][t]]
            fx = fx0
            for i, layer in enumerate(layers):
                h2, c2, _ = STEPS[layer.kind](layer, x, fx, hs[i], cs[i])
                hs[i], cs[i] = h2, c2
                if states is not None:
                    states[f"L{i}.h"][b].append(list(h2))
                    if c2 is not None:
                        states[f"L{i}.c"][b].append(list(c2))
                x, fx = h2, layer.formats.state.frac
            if qmodel.output is not None:
                d = qmodel.output
                y = [rq(add(p, bb), d.out) for p, bb in zip(matvec(d.w, x, fx), bias(d.b))]
            else:
                y = list(x)
            seq.append(y)
        out.append(seq)
    return out
