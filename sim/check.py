"""`hwgen build --check`: the cocotb bench on a build folder's Verilog, against the golden model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np


def _params(verilog: str) -> dict:
    m = re.search(r"^// parameters: (\{.*\})$", verilog, re.M)
    import json

    return json.loads(m[1]) if m else {}


def check_build(folder: Path, simulator: str, *, seed: int = 1) -> dict:
    """Simulate ``folder/hwgen_top.v`` with the build's test vectors (token models; feature models
    get seeded random sequences of the same shape) under random idle cycles and backpressure,
    after the weights image ``vectors/load.hex`` where the design has a load port.
    Raises RuntimeError naming the first mismatch; returns the summary for the build report."""
    from hwgen.generator.interface import input_format, output_format
    from hwgen.ir import EmbeddingInput
    from hwgen.qmodel_file import load

    from . import runner
    from .designs import golden_spec

    folder = Path(folder)
    qpath = folder / "model.qmodel.json"
    qmodel = load(qpath)
    text = (folder / "hwgen_top.v").read_text()
    output = _params(text).get("output")
    vectors = np.load(folder / "vectors" / "vectors.npz")
    cps = re.search(r"^// cycles per step: (\d+)", text, re.M)
    design = runner.Design.from_verilog_text(
        "build-check", text, "hwgen_top", folder / "check", cycles_per_step=int(cps[1]) if cps else None,
        payload_widths=(input_format(qmodel).width, output_format(qmodel, output).width),
        load_image=load if (load := folder / "vectors" / "load.hex").exists() else None)
    inputs = vectors["inputs"]
    tokens = inputs.tolist() if isinstance(qmodel.input, EmbeddingInput) else None
    ref = golden_spec(qpath, output, sequences=inputs.shape[0], seed=seed, min_len=inputs.shape[1],
                      max_len=inputs.shape[1], tokens=tokens, cycles_per_step=design.cycles_per_step)
    result = runner.run(design, simulator, ref, seed=seed, root=folder / "check")
    summary = {"simulator": simulator, "steps": int(result.summary.get("steps", 0)) if result.summary else 0,
               "mismatches": int(result.summary.get("mismatches", 0)) if result.summary else -1,
               "cycles_per_second": round(result.cycles_per_s)}
    if not result.ok:
        raise RuntimeError(f"--check: the Verilog disagrees with the golden model\n{result.failure}\n"
                           f"  simulator log: {result.log}")
    return summary
