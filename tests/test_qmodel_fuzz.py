"""The QModel reader under random damage: every mutated file is either accepted (and then it
round-trips: saving what was read and reading it again gives the same model) or refused with a
QModelFileError naming the problem; never another exception, never a hang.

Mutations are seeded (reproducible): a key removed, a value replaced by one of another type or a
nearby or extreme number, a list shortened or lengthened, a value nested deeply. A few hundred
cases in CI.
"""

from __future__ import annotations

import copy
import json
import random

import pytest

from hwgen.qmodel_file import QModelFileError, from_dict, load, to_dict, to_text
from hwgen.spec.random_qmodel import random_qmodel

SEEDS = range(300)
MODELS = [random_qmodel("gru", hidden=3, inputs=2, vocab=5, outputs=4, code="pow2", act="table", seed=1,
                        table_bits=4),
          random_qmodel("lstm", hidden=2, inputs=3, code="ternary", act="hard", width=8, seed=2),
          random_qmodel("rnn", hidden=2, inputs=2, outputs=2, code="fixed", act="hard", width=10, seed=3)]
ODD = [None, True, 0, -1, 1, 2 ** 70, -2 ** 70, 0.5, float("nan"), "", "x", [], {}, [[1, 2], [3]],
       {"a": 1}, "s16.14", "u8.0", "table", "pow2"]


def _paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:4]):
            yield from _paths(v, path + (i,))


def _mutate(data, rng: random.Random):
    data = copy.deepcopy(data)
    paths = [p for p in _paths(data) if p]
    for _ in range(rng.choice((1, 1, 2, 3))):
        path = rng.choice(paths)
        parent = data
        try:
            for k in path[:-1]:
                parent = parent[k]
            key = path[-1]
            current = parent[key]
        except (KeyError, IndexError, TypeError):
            continue
        kind = rng.randrange(6)
        if kind == 0 and isinstance(parent, dict):
            del parent[key]
        elif kind == 1:
            parent[key] = rng.choice(ODD)
        elif kind == 2 and isinstance(current, (int, float)) and not isinstance(current, bool):
            parent[key] = current + rng.choice((-2, -1, 1, 2, 1000))
        elif kind == 3 and isinstance(current, list) and current:
            parent[key] = current[: rng.randrange(len(current))] if rng.random() < 0.5 else current + current[:1]
        elif kind == 4:
            nested = current
            for _ in range(rng.choice((3, 50, 5000))):
                nested = [nested]
            parent[key] = nested
        else:
            parent[key] = str(current)
    return data


@pytest.mark.parametrize("seed", SEEDS)
def test_a_damaged_qmodel_is_read_or_refused_cleanly(tmp_path, seed):
    rng = random.Random(seed)
    data = _mutate(to_dict(MODELS[seed % len(MODELS)]), rng)
    path = tmp_path / "m.qmodel.json"
    try:
        path.write_text(json.dumps(data))
    except (RecursionError, ValueError):  # json itself cannot write it; write by hand
        path.write_text("[" * 100000 + "]" * 100000)
    try:
        model = load(path)
    except QModelFileError as e:
        assert str(path) in str(e) and len(str(e)) < 2000
        return
    again = from_dict(json.loads(to_text(model)))
    assert to_text(again) == to_text(model)


def test_deep_nesting_and_binary_files_are_refused_with_one_line(tmp_path):
    deep = tmp_path / "deep.qmodel.json"
    deep.write_text("[" * 200000 + "]" * 200000)
    with pytest.raises(QModelFileError, match="nested too deeply"):
        load(deep)
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    with pytest.raises(QModelFileError, match="is a torch checkpoint, not a QModel file: run `hwgen export"):
        load(pt)
