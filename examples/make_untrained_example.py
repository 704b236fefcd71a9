"""Writes examples/char-gru-untrained.qmodel.json: a structurally complete character-level GRU
(embedding, one GRU layer, dense logits, power-of-two weights, hard activations) with seeded
random weights. It exists so that the demo and tests have a model before trained ones ship;
its predictions are meaningless.

    python examples/make_untrained_example.py
"""

import dataclasses
import string
from pathlib import Path

from hwgen.spec.ir import EmbeddingInput
from hwgen.qmodel_file import save
from hwgen.spec.random_qmodel import random_qmodel

VOCAB = tuple(" " + string.ascii_lowercase + string.digits + ".,'-&$#*/\\N<>")


def main() -> Path:
    m = random_qmodel("gru", hidden=32, inputs=16, vocab=len(VOCAB), outputs=len(VOCAB),
                      code="pow2", act="hard", width=16, seed=2016)
    stage = EmbeddingInput(m.input.table, m.input.fmt, VOCAB)
    m = dataclasses.replace(m, input=stage, name="char-gru-untrained",
                            meta={"origin": "examples/make_untrained_example.py", "trained": False, "seed": 2016})
    return save(m, Path(__file__).with_name("char-gru-untrained.qmodel.json"))


if __name__ == "__main__":
    print(f"wrote {main()}")
