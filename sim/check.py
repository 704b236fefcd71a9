"""`hwgen build --check`: the cocotb bench on a build folder's Verilog, against the golden model.

Reads the build's own files only: ``design.json`` (the design's plan: output mode, cycles per
step, payload widths), ``model.qmodel.json``, ``vectors/vectors.npz`` (the inputs it sends, token
or feature sequences alike) and ``vectors/load.hex`` where the design has a load port.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

def read_plan(folder: Path):
    """``folder/design.json`` as the design's plan (:class:`hwgen.generator.plan.DesignPlan`);
    RuntimeError naming the file otherwise."""
    from hwgen.generator.plan import DesignPlan

    path = Path(folder) / "design.json"
    try:
        return DesignPlan.from_json(json.loads(path.read_text()))
    except (OSError, ValueError) as e:
        raise RuntimeError(f"--check: cannot read {path} ({e}); rebuild the folder with this hwgen") from None


def simulate(qmodel, params, simulator: str, root: Path, *, sequences: int, max_len: int, seed: int) -> dict:
    """The design of ``qmodel`` for ``params`` (:class:`hwgen.generator.plan.DesignParams`) under
    the bench in ``root``: random sequences, idle cycles and backpressure, every output checked
    against the golden model. Raises RuntimeError with the first mismatch; returns the summary."""
    from . import runner
    from .designs import golden_spec, qmodel_design

    design, qpath = qmodel_design(qmodel, params, Path(root) / "design")
    ref = golden_spec(qpath, params.output, sequences=sequences, seed=seed, max_len=max_len,
                      cycles_per_step=design.cycles_per_step)
    result = runner.run(design, simulator, ref, seed=seed, root=root)
    if not result.ok:
        raise RuntimeError(f"the Verilog disagrees with the golden model\n{result.failure}")
    return dict(result.summary)


def check_build(folder: Path, simulator: str, *, seed: int = 1) -> dict:
    """Simulate ``folder/hwgen_top.v`` with the build's test vectors under random idle cycles and
    backpressure, after the weights image ``vectors/load.hex`` where the design has a load port.
    Raises RuntimeError naming the first mismatch; returns the summary for the build report."""
    from . import runner
    from .designs import TOP, golden_spec

    folder = Path(folder)
    plan = read_plan(folder)
    qpath = folder / "model.qmodel.json"
    vectors = np.load(folder / "vectors" / "vectors.npz")
    design = runner.Design.from_verilog_text(
        "build-check", (folder / "hwgen_top.v").read_text(), TOP, folder / "check",
        cycles_per_step=plan.cycles_per_step, payload_widths=(plan.input_width, plan.output_width),
        load_image=load if (load := folder / "vectors" / "load.hex").exists() else None)
    inputs = vectors["inputs"]
    ref = golden_spec(qpath, plan.params.output, sequences=inputs.shape[0], seed=seed,
                      min_len=inputs.shape[1], max_len=inputs.shape[1], tokens=inputs.tolist(),
                      cycles_per_step=design.cycles_per_step)
    result = runner.run(design, simulator, ref, seed=seed, root=folder / "check")
    summary = {"simulator": simulator, "steps": int(result.summary.get("steps", 0)) if result.summary else 0,
               "mismatches": int(result.summary.get("mismatches", 0)) if result.summary else -1,
               "cycles_per_second": round(result.cycles_per_s)}
    if not result.ok:
        raise RuntimeError(f"--check: the Verilog disagrees with the golden model\n{result.failure}\n"
                           f"  simulator log: {result.log}")
    return summary
