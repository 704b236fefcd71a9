"""Zero-skipping state reads (hwgen.generator.sparse_layout, sparse_rows): a recurrent layer's rows
store only the non-zero codes of W_hh, P to a word with their columns.

The layout is read back by a decoder written here from docs/generator.md's word format (not the
generator's), and must give back W_hh and the row lengths ``max(1, ⌈nnz/P⌉)``. The designs are
checked against the golden model bit for bit in Amaranth's simulator with rows of every kind
(empty, full, one non-zero, random), every cell and code kind that has a zero, lanes that divide
the state or not, codes in ROM and loaded, hot and dense input reads, stream gaps and sequence
starts; their measured cycles per step equal the plan's. Icarus and Verilator run them in
tests/test_sim_regression.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from design_harness import check_exact, patterned, random_stimulus, simulate
from hwgen.generator import build_design, plan_design
from hwgen.generator.code_memory import load_image, unit_order
from hwgen.generator.codes import CodeFormat, decode_codes
from hwgen.generator.plan import DesignParams
from hwgen.generator.sparse_layout import sparse_layout
from hwgen.spec.ir import CodeKind
from hwgen.spec.random_qmodel import random_qmodel


def decode(words, rows, lanes, fmt, cols_ih, cols_hh, d):
    """W_ih and W_hh (rows in visiting order) and each row's state words read back from a sparse
    image, as docs/generator.md describes it: a row's state words then its input chunks; codes in
    the low ``P·w`` bits; above them the next issue's base column (``c`` bits), lanes 1..P-1's
    offsets from it (``d`` bits each) and its last-state flag; the first row's columns come from
    the last row's input words (the step wraps)."""
    w, c = fmt.width, max(1, (cols_hh - 1).bit_length())
    K = -(-cols_ih // lanes)
    field = lambda word, lo, n: (word >> lo) & ((1 << n) - 1)  # noqa: E731
    codes_of = lambda word: [field(word, j * w, w) for j in range(lanes)]  # noqa: E731
    base_of = lambda word: field(word, lanes * w, c)  # noqa: E731
    cols_of = lambda word: [base_of(word)] + [base_of(word) + field(word, lanes * w + c + (j - 1) * d, d)  # noqa: E731
                                              for j in range(1, lanes)]
    last_of = lambda word: field(word, lanes * w + c + (lanes - 1) * d, 1)  # noqa: E731
    hh, ih, lengths = np.zeros((rows, cols_hh), np.int64), np.zeros((rows, cols_ih), np.int64), []
    a, prev = 0, words[-1]  # the word issued before a step's first
    for r in range(rows):
        n = 0
        while True:
            word, cols, last = words[a], cols_of(prev), last_of(prev)
            for code, col in zip(decode_codes(codes_of(word), fmt), cols):
                hh[r, col] += code
            n, prev, a = n + 1, word, a + 1
            if last:
                break
        chunk = [decode_codes(codes_of(words[a + k]), fmt) for k in range(K)]
        ih[r] = np.concatenate(chunk)[:cols_ih]
        prev, a = words[a + K - 1], a + K
        lengths.append(n)
    assert a == len(words)
    return ih, hh, lengths


@pytest.mark.parametrize("code, lanes", [("ternary", 1), ("ternary", 3), ("pow2", 4), ("fixed", 2)])
@pytest.mark.parametrize("hot", [False, True])
def test_the_layout_reads_back_to_the_matrices_in_rows_as_long_as_their_non_zeros(code, lanes, hot):
    q = patterned(random_qmodel("gru", hidden=7, inputs=5, code=code, seed=lanes), lanes)
    L = q.layers[0]
    order = unit_order(L.gates, L.hidden_size)
    fmt = CodeFormat(CodeKind(code), max(L.w_ih.span, L.w_hh.span))
    lay = sparse_layout(L.w_ih, L.w_hh, order, lanes, fmt, hot)
    ih, hh, lengths = decode(lay.words, len(order), lanes, fmt, 5, 7, lay.offset_bits)
    assert (hh == L.w_hh.q[order]).all() and (ih == L.w_ih.q[order]).all()
    nnz = (L.w_hh.q[order] != 0).sum(axis=1)
    fewest = [max(1, -(-int(n) // lanes)) for n in nnz]  # with full column offsets
    assert lengths == list(lay.state_words) and all(n >= f for n, f in zip(lengths, fewest))
    assert sum(lengths) <= 1.03 * sum(fewest)
    assert lay.issues == sum(lengths) + len(order) * (1 if hot else -(-5 // lanes))
    c, d = 3, lay.offset_bits
    assert d <= c and lay.width == lanes * fmt.width + c + (lanes - 1) * d + 1 and max(lay.words) < 1 << lay.width


def test_offsets_are_narrower_than_columns_where_non_zeros_lie_close():
    """A dense-ish row's consecutive non-zeros lie within a few columns: offsets need fewer bits
    than full columns, and cutting the rare wide word costs no more than OFFSET_SLACK words."""
    q = random_qmodel("gru", hidden=128, inputs=5, code="ternary", seed=4)
    L = q.layers[0]
    fmt = CodeFormat(CodeKind.TERNARY, 0)
    lay = sparse_layout(L.w_ih, L.w_hh, unit_order(L.gates, L.hidden_size), 8, fmt, False)
    assert lay.column_bits == 7 and lay.offset_bits < 7
    assert lay.width < 8 * (fmt.width + 7) + 1  # narrower than a full column per lane


# (cell, code, lanes, extra): every cell, every code kind with a zero, lanes that divide the
# state or not, one lane, the serial gate unit, codes loaded through the load port, argmax.
CASES = [
    ("rnn", "ternary", 1, {}), ("rnn", "pow2", 2, {"multipliers": 0}),
    ("gru", "ternary", 2, {}), ("gru", "pow2", 3, {"weights": "spram"}), ("gru", "fixed", 1, {}),
    ("gru", "ternary", 4, {"output": "argmax", "hot_column": False}),
    ("lstm", "pow2", 2, {"multipliers": 2}), ("lstm", "ternary", 3, {"weights": "spram"}),
]


@pytest.mark.parametrize("cell, code, lanes, extra", CASES)
def test_zero_skipping_designs_are_bit_exact_and_take_the_planned_cycles(cell, code, lanes, extra):
    seed = CASES.index((cell, code, lanes, extra))
    q = patterned(random_qmodel(cell, hidden=(5, 4) if cell == "gru" else 5, inputs=5, vocab=11, outputs=4,
                                code=code, act="table", table_bits=6, seed=seed, table="batchnorm"), seed)
    sparse, dense = (plan_design(q, lanes=lanes, skip_zeros=s, **extra) for s in (True, False))
    layers = [s for s in sparse.stages if s.kind == "recurrent"]
    assert all(s.sparse for s in layers) and not any(s.sparse for s in dense.stages)
    for s, d in zip(layers, [s for s in dense.stages if s.kind == "recurrent"]):
        L = q.layers[s.layer]
        nnz = (L.w_hh.q != 0).sum(axis=1)
        reads = 1 if s.hot else -(-L.input_size // lanes)
        fewest = sum(max(1, -(-int(n) // lanes)) for n in nnz)  # full columns: ceil(nnz / P) words a row
        assert fewest <= s.issues - len(nnz) * reads <= 1.03 * fewest and s.issues <= d.issues
    output = extra.get("output")
    rng = np.random.default_rng(seed)
    x, first = random_stimulus(q, rng, 12)
    top = build_design(q, lanes=lanes, skip_zeros=True, **extra)
    check_exact(q, output, x, first, simulate(top, q, output, x, first, rng=rng, in_gap=0.3, out_gap=0.3))
    steady = simulate(top, q, output, x, first, rng=rng)
    assert np.diff(steady.out_cycles[-3:]).tolist() == [sparse.cycles_per_step] * 2


def test_a_wrong_code_in_the_sparse_image_is_caught(monkeypatch):
    """The bench can fail: one code of the loaded image changed, and the outputs differ."""
    q = patterned(random_qmodel("gru", hidden=4, inputs=3, vocab=7, code="ternary", seed=9), 9)
    plan = plan_design(q, lanes=2, skip_zeros=True, weights="spram")
    top = build_design(q, lanes=2, skip_zeros=True, weights="spram")
    image = load_image(q, plan)
    assert image and top.load_words == image
    bad = list(image)
    bad[0] ^= 0b11 << 2  # lane 1's code in the first word (row 0, empty): 0 becomes -1
    monkeypatch.setattr(type(top), "load_words", property(lambda self: bad))
    rng = np.random.default_rng(9)
    x, first = random_stimulus(q, rng, 8)
    with pytest.raises(AssertionError):
        check_exact(q, None, x, first, simulate(top, q, None, x, first, rng=rng))


def test_binary_codes_have_no_zeros_to_skip():
    q = random_qmodel("gru", hidden=4, inputs=3, code="binary", seed=1)
    assert not any(s.sparse for s in plan_design(q, lanes=2, skip_zeros=True).stages)


@pytest.mark.parametrize("params, message", [
    (dict(style="unrolled", skip_zeros=True), "skip_zeros applies to the folded"),
    (dict(baseline=True, skip_zeros=True), "skip_zeros applies to the folded"),
    (dict(skip_zeros=1), "skip_zeros must be True or False"),
])
def test_zero_skipping_is_refused_where_it_does_not_apply(params, message):
    with pytest.raises((ValueError, TypeError), match=message):
        DesignParams(**params)
