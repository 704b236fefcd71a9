"""What a generated design must emit for given inputs: the golden model's outputs in the form of
the design's output stream (hwgen.generator.interface's formats).

The one place expected outputs come from: the build's test vectors, the simulation references
and the tests use it, and the generator itself never runs the golden model.
"""

from __future__ import annotations

import numpy as np

from .generator.interface import check_output
from .golden import run
from .ir import QModel

__all__ = ["expected_outputs"]


def expected_outputs(qmodel: QModel, output: str | None, inputs, start=None) -> np.ndarray:
    """What the design must emit for ``inputs`` (shapes as :func:`hwgen.golden.run` takes them):
    ``(batch, steps, n)`` words for vector outputs, ``(batch, steps)`` indices for ``argmax``."""
    output = check_output(qmodel, output)
    hidden = output == "hidden" and qmodel.output is not None
    result = run(qmodel, inputs, start, trace=hidden)
    if output == "argmax":
        return result.argmax()
    if hidden:
        return result.trace[f"L{len(qmodel.layers) - 1}.h"]
    return result.outputs
