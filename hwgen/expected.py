"""What a generated design must emit for given inputs: the golden model's outputs in the form of
the design's output stream (hwgen.generator.interface's formats).

The one place expected outputs come from: the build's test vectors, the simulation references
and the tests use it, and the generator itself never runs the golden model.
"""

from __future__ import annotations

import numpy as np

from .generator.interface import check_output
from .spec.golden import run
from .spec.ir import QModel

__all__ = ["expected_outputs", "expected_run"]


def expected_outputs(qmodel: QModel, output: str | None, inputs, start=None) -> np.ndarray:
    """What the design must emit for ``inputs`` (shapes as :func:`hwgen.spec.golden.run` takes them):
    ``(batch, steps, n)`` words for vector outputs, ``(batch, steps)`` indices for ``argmax``."""
    return expected_run(qmodel, output, inputs, start)[0]


def expected_run(qmodel: QModel, output: str | None, inputs, start=None, *, trace: bool = False):
    """``(expected outputs, trace)``: :func:`expected_outputs`, and with ``trace`` every internal
    signal of the golden run (:func:`hwgen.spec.golden.run`'s trace; else None), for diagnosing a
    mismatch."""
    output = check_output(qmodel, output)
    hidden = output == "hidden" and qmodel.output is not None
    result = run(qmodel, inputs, start, trace=hidden or trace)
    if output == "argmax":
        want = result.argmax()
    elif hidden:
        want = result.trace[f"L{len(qmodel.layers) - 1}.h"]
    else:
        want = result.outputs
    return want, result.trace if trace else None
