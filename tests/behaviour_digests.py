"""The behaviour a redesign must keep: SHA-256 of the generated Verilog, the RTLIL netlist, the
QModel file and the build's test vectors, for the shipped example and for random QModels of every
cell x weight-code kind x datapath style. tests/test_behaviour_digests.py compares them with the
digests recorded in tests/data/behaviour_digests.json; a change that alters any of them on
purpose re-records them (and says so in its commit):

    .venv/bin/python tests/behaviour_digests.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORD = HERE / "data" / "behaviour_digests.json"
CELLS = ("rnn", "gru", "lstm")
CODES = ("binary", "ternary", "pow2", "fixed")
STYLES = ("folded", "unrolled")


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def cases():
    """(key, qmodel, generator parameters): one per cell x code x style, and the example."""
    from hwgen.spec.random_qmodel import random_qmodel

    for i, (cell, code, style) in enumerate((c, k, s) for c in CELLS for k in CODES for s in STYLES):
        act = "table" if (i // 2) % 2 else "hard"
        q = random_qmodel(cell, hidden=3, inputs=2, vocab=5 if cell == "gru" else None,
                          outputs=3 if cell != "rnn" else None, code=code, act=act, width=10, seed=i,
                          table_bits=5)
        yield f"{cell}-{code}-{style}", q, {"style": style, "lanes": 2 if style == "folded" else 1}


def example_case():
    from sim.designs import example_model

    q, _ = example_model(say=lambda m: None)
    return "example", q, {"style": "folded", "lanes": 4, "weights": "spram", "multipliers": 0}


def digests_of(key: str, qmodel, params: dict) -> dict:
    import numpy as np

    from hwgen.build import test_vectors
    from hwgen.generator.emit import emit_design
    from hwgen.qmodel_file import to_text

    verilog, rtlil = emit_design(qmodel, **params)
    v = test_vectors(qmodel, None, 2, 5, seed=1)
    vec = b"".join(np.ascontiguousarray(v[k]).tobytes() for k in ("inputs", "first", "expected"))
    return {"verilog": _sha(verilog), "rtlil": _sha(rtlil), "qmodel": _sha(to_text(qmodel)), "vectors": _sha(vec)}


def compute() -> dict:
    out = {key: digests_of(key, q, p) for key, q, p in cases()}
    key, q, p = example_case()
    out[key] = digests_of(key, q, p)
    return out


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit(__doc__)
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORD}")
