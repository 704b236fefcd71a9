"""hwgen's Python interface (docs/python-api.md): the names users import from ``hwgen``. (``run_build`` and
``export_model``, not ``build`` and ``export``: those name hwgen's own modules.)

Each function is a thin front over the stage that does the work, with the same checks and messages
as the command line (which calls the same stages):

    import hwgen
    model = hwgen.load("examples/ptb-gru128-exponential.pt")      # a QModel (exported on the fly)
    hwgen.predict(model, "the_cat_sat_on_the_")                    # the golden model's next characters
    plan = hwgen.plan(model, lanes=8)                              # cycles per step, memories, ...
    result = hwgen.run_build(model, "build/api", target="ice40", lanes=4)
    result.report["synthesis"]["counts"], hwgen.simulate(model, lanes=4)["mismatches"]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load", "export_model", "save", "describe", "golden", "predict", "plan", "run_build", "simulate"]


def load(path, **export_options):
    """The QModel in ``path``: a QModel file as it is, a model.pt exported with ``export_options``
    (:class:`hwgen.export.ExportOptions` fields: ``width``, ``calibration``, ``dataset``, ...).
    Raises :class:`hwgen.models.ModelError` with the reason."""
    from .export import ExportOptions
    from .models import load_model

    return load_model(path, export_options=ExportOptions(**export_options) if export_options else None)[0]


def export_model(path, **options):
    """``path`` (a model.pt or a torch.nn checkpoint) exported: an :class:`hwgen.export.ExportResult`
    with ``.qmodel`` and ``.report`` (what each step changed: codes, formats, clamping, accuracy)."""
    from .export import ExportOptions, export_model as run_export

    return run_export(str(path), ExportOptions(**options))


def save(qmodel, path) -> Path:
    """Write ``qmodel`` as a QModel file (docs/qmodel-format.md)."""
    from .qmodel_file import save as save_file

    return save_file(qmodel, path)


def describe(qmodel) -> dict:
    """Layers, formats and weight-code statistics (what `hwgen inspect` prints), as plain data."""
    from .spec.summary import describe as summarize

    return summarize(qmodel)


def golden(qmodel, inputs, start=None, *, trace: bool = False):
    """The golden model (the bit-exact specification) on ``inputs``: token ids ``(batch, steps)``
    or feature words ``(batch, steps, size)`` as integers; text for a model with a vocabulary.
    Returns :class:`hwgen.spec.golden.GoldenResult` (``.outputs``, ``.argmax()``, ``.trace``)."""
    from .spec import golden as spec

    if isinstance(inputs, str):
        inputs = np.array([_ids(qmodel, inputs)])
    return spec.run(qmodel, inputs, start, trace=trace)


def predict(qmodel, text: str) -> str:
    """The golden model's prediction of the next character after each character of ``text``."""
    vocab = getattr(qmodel.input, "vocab", None)
    if vocab is None or qmodel.output is None:
        raise ValueError("predict needs a character model: an embedding input with a vocabulary and an output layer")
    return "".join(vocab[i] for i in golden(qmodel, text).argmax()[0])


def plan(qmodel, **params):
    """The :class:`hwgen.generator.plan.DesignPlan` of ``qmodel`` under ``params`` (lanes, style,
    output, multipliers, baseline, weights): cycles per step, latency, stages, memories."""
    from .generator.planner import plan_design

    return plan_design(qmodel, **params)


def run_build(model, outdir, *, target: str = "ice40", say=lambda message: None, **options):
    """`hwgen build`: ``model`` (a QModel, or a path to a QModel file or model.pt) to Verilog,
    test vectors and reports in ``outdir``. ``options``: :class:`hwgen.build.BuildOptions` fields
    (``lanes``, ``style``, ``weights``, ``pnr``, ``check``, ...). Returns the
    :class:`hwgen.build.BuildResult` (``.report`` as in build_report.json, ``.files``)."""
    from .build import BuildOptions, build
    from .spec.ir import QModel

    qmodel = model if isinstance(model, QModel) else load(model)
    return build(qmodel, Path(outdir), BuildOptions(target=target, **options), say=say)


def simulate(qmodel, *, simulator: str = "icarus", sequences: int = 4, max_len: int = 16, seed: int = 1,
             folder=None, **params) -> dict:
    """Generate the design for ``params`` and run the cocotb bench (``simulator``: icarus or
    verilator) on random sequences with idle cycles and backpressure, every output checked against
    the golden model. Returns the bench's summary (``steps``, ``mismatches``, ...); a mismatch
    raises RuntimeError with the first difference. Needs the ``sim`` extra."""
    import tempfile

    from .extras import require
    from .generator.plan import DesignParams

    require("cocotb", "sim", "hwgen.simulate")
    from sim import simulate as bench  # the verification package's public surface

    root = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="hwgen-sim-"))
    return bench(qmodel, DesignParams(**params), simulator, root, sequences=sequences, max_len=max_len, seed=seed)


def _ids(qmodel, text: str) -> list[int]:
    from .spec.tokens import text_to_ids

    vocab = getattr(qmodel.input, "vocab", None)
    if vocab is None:
        raise ValueError("text input needs a model with an embedding input and a vocabulary")
    return text_to_ids(vocab, text)
