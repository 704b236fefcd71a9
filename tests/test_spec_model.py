"""hwgen's golden model against a second implementation written from docs/arithmetic.md alone
(tests/spec_model.py): outputs, every layer's h and every LSTM cell c must agree bit for bit."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from hwgen.spec import golden
from hwgen.spec.fixedpoint import Fmt
from hwgen.spec.ir import Activation, FeatureInput, LayerFormats, QModel
from hwgen.spec.random_qmodel import random_qmodel

from spec_model import run_spec

KINDS = ("rnn", "gru", "lstm")
CODES = ("binary", "ternary", "pow2", "fixed")
ACTS = ("hard", "table")
WIDTHS = (8, 12, 16, 24)


def make_inputs(qmodel, rng, batch=3, steps=12, extreme=0.3):
    """Token ids, or features with a share ``extreme`` of them at the format's rails."""
    stage = qmodel.input
    if hasattr(stage, "table"):
        x = rng.integers(0, stage.vocab_size, (batch, steps))
    else:
        fmt = stage.fmt
        x = rng.integers(fmt.min_int, fmt.max_int + 1, (batch, steps, stage.size))
        rails = rng.choice([fmt.min_int, fmt.max_int], size=x.shape)
        x = np.where(rng.random(x.shape) < extreme, rails, x)
    start = rng.random((batch, steps)) < 0.2
    start[:, 0] = rng.random(batch) < 0.5
    return x.astype(np.int64), start


def compare(qmodel, x, start):
    """Assert exact agreement; on failure name the first differing signal (by step)."""
    ref = golden.run(qmodel, x, start, trace=True)
    states = {}
    got = run_spec(qmodel, x, start, states=states)
    signals = dict(states)
    signals["out"] = got
    gold = {k: (ref.trace[k] if k != "out" else ref.outputs) for k in signals}
    steps = x.shape[1]
    for t in range(steps):
        for name in signals:
            g = np.asarray(gold[name])[:, t].tolist()
            s = [row[t] for row in signals[name]]
            if g != s:
                b = next(i for i in range(len(g)) if g[i] != s[i])
                pytest.fail(f"{qmodel.name}: first mismatch at step {t}, signal {name}, batch {b}: "
                            f"golden {g[b]} vs spec {s[b]} (start {start[b].tolist()})")
    assert np.asarray(ref.outputs).tolist() == got
    return ref


def boosted(qmodel, shift, out_shift=None):
    """Weights ``2**shift`` larger (output ``2**out_shift``): registers run into their rails."""
    def big(w, k=shift):
        return dataclasses.replace(w, exp=w.exp + k)
    layers = tuple(dataclasses.replace(l, w_ih=big(l.w_ih), w_hh=big(l.w_hh)) for l in qmodel.layers)
    out = qmodel.output
    if out is not None:
        out = dataclasses.replace(out, w=big(out.w, shift if out_shift is None else out_shift))
    return dataclasses.replace(qmodel, layers=layers, output=out, name=qmodel.name + f"-x{shift}")


@pytest.mark.parametrize("kind,code,act", list(itertools.product(KINDS, CODES, ACTS)))
def test_random_models_match(kind, code, act):
    seed = 1000 * KINDS.index(kind) + 100 * CODES.index(code) + 10 * ACTS.index(act)
    rng = np.random.default_rng(seed)
    for wi, width in enumerate(WIDTHS):
        configs = [
            # (hidden, outputs, vocab, extreme share, weight boost)
            (4, None, None, 0.3, 0),
            ((5, 3), 3, None, 0.5, 0),
            ((3, 4), None, 9, 0.0, 0),
            (4, 2, 6, 0.0, 0),
            ((4, 3), 2, None, 1.0, 2 + wi % 2),
        ]
        for ci, (hidden, outputs, vocab, extreme, boost) in enumerate(configs):
            q = random_qmodel(kind, hidden, inputs=3, outputs=outputs, code=code, act=act,
                              width=width, seed=seed + 7 * wi + ci, vocab=vocab,
                              table_bits=(4, 6, 8, 5)[wi])
            if boost:
                q = boosted(q, boost)
            x, start = make_inputs(q, rng, extreme=extreme)
            compare(q, x, start)


def _rails_hit(qmodel, trace):
    """Which registers reached the lower or upper end of their format."""
    hit = set()
    for i, layer in enumerate(qmodel.layers):
        f = layer.formats
        for sig, fmt in (("h", f.state), ("c", f.cell)):
            if fmt is None:
                continue
            v = np.asarray(trace[f"L{i}.{sig}"])
            if (v == fmt.min_int).any() or (v == fmt.max_int).any():
                hit.add(f"{sig}")
        for sig in ("a", "pre", "rz_pre", "n_pre", "ghn"):
            if f"L{i}.{sig}" in trace:
                v = np.asarray(trace[f"L{i}.{sig}"])
                if (v == f.preact.min_int).any() or (v == f.preact.max_int).any():
                    hit.add("preact")
    if qmodel.output is not None:
        v = np.asarray(trace["out.y"])
        o = qmodel.output.out
        if (v == o.min_int).any() or (v == o.max_int).any():
            hit.add("y")
    return hit


@pytest.mark.parametrize("kind", KINDS)
def test_saturation_is_exercised(kind):
    """Width 8, inputs at the rails, weights 8x larger: every saturating stage is reached."""
    rng = np.random.default_rng(7)
    hit = set()
    for code, act in itertools.product(CODES, ACTS):
        q = boosted(random_qmodel(kind, (4, 3), inputs=3, outputs=3, code=code, act=act, width=8,
                                  seed=11, table_bits=4), 3, 6)
        x, start = make_inputs(q, rng, steps=16, extreme=1.0)
        ref = compare(q, x, start)
        hit |= _rails_hit(q, ref.trace)
    assert {"preact", "y"} <= hit, hit


def test_long_streams_with_restarts():
    rng = np.random.default_rng(3)
    for kind in KINDS:
        q = random_qmodel(kind, (3, 3), inputs=2, outputs=2, code="fixed", act="table", width=16, seed=5)
        x, start = make_inputs(q, rng, batch=2, steps=60, extreme=0.1)
        compare(q, x, start)
        compare(q, x, None)


def test_relu_rnn():
    rng = np.random.default_rng(4)
    hit = set()
    for width, code in itertools.product((8, 16), CODES):
        q = random_qmodel("rnn", (4, 3), inputs=3, outputs=2, code=code, act="hard", width=width, seed=width)
        layers = tuple(dataclasses.replace(l, cand_act=Activation("relu", "hard", l.formats.state))
                       for l in q.layers)
        q = dataclasses.replace(q, layers=layers, name=q.name + "-relu")
        for boost in (0, 2):
            qq = boosted(q, boost) if boost else q
            x, start = make_inputs(qq, rng, extreme=0.5)
            hit |= _rails_hit(qq, compare(qq, x, start).trace)
    assert {"h", "a"} & hit and "h" in hit, hit


def _reformat(q, input_fmt, preact, cell=None, state=None):
    """Same weights, other formats: an (unsigned) input format, a coarse or tiny preact, and (GRU,
    LSTM) a state format narrower than the activations' outputs, so that h' saturates."""
    layers, fmt = [], input_fmt
    for l in q.layers:
        st = state if state is not None and l.kind != "rnn" else l.formats.state
        f = LayerFormats(fmt, st, preact, cell if l.kind == "lstm" else None)
        layers.append(dataclasses.replace(l, formats=f))
        fmt = f.state
    stage = FeatureInput(q.input.size, input_fmt)
    return QModel(stage, tuple(layers), q.output, name=q.name + f"-{input_fmt}-{preact}")


@pytest.mark.parametrize("kind", KINDS)
def test_unusual_formats(kind):
    """Unsigned inputs, preact formats with negative frac or frac > width, odd cell formats."""
    rng = np.random.default_rng(9)
    base = random_qmodel(kind, (3, 2), inputs=3, outputs=2, code="pow2", act="hard", width=10, seed=2)
    table = random_qmodel(kind, 3, inputs=3, code="fixed", act="table", width=10, seed=3, table_bits=5)
    hit = set()
    for q in (base, table):
        for input_fmt, preact, cell, state in (
            (Fmt(8, 6, False), Fmt(10, 5), Fmt(9, 5), None),
            (Fmt(6, 2, False), Fmt(6, -1), Fmt(12, 3), Fmt(6, 5)),
            (Fmt(12, 13), Fmt(8, 10), Fmt(8, 9), Fmt(9, 9)),
            (Fmt(5, -2), Fmt(16, 9), Fmt(6, 1), Fmt(4, 1)),
            (Fmt(7, 3), Fmt(7, 3), Fmt(7, 4), Fmt(7, 6, False)),
            (Fmt(8, 5), Fmt(10, 5), Fmt(5, 4), None),
        ):
            for boost in (0, 3):
                qq = _reformat(q, input_fmt, preact, cell, state)
                qq = boosted(qq, boost) if boost else qq
                x, start = make_inputs(qq, rng, extreme=0.4)
                ref = compare(qq, x, start)
                hit |= _rails_hit(qq, ref.trace)
    if kind != "rnn":
        assert "h" in hit, hit
    if kind == "lstm":
        assert "c" in hit, hit
