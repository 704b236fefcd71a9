"""`hwgen build --check`: the cocotb bench on a build folder's Verilog, against the golden model.

Reads the build's own files only: ``design.json`` (the design's facts: output mode, cycles per
step, payload widths), ``model.qmodel.json``, ``vectors/vectors.npz`` (the inputs it sends, token
or feature sequences alike) and ``vectors/load.hex`` where the design has a load port.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

def read_facts(folder: Path) -> dict:
    """``folder/design.json``, checked; RuntimeError naming the file otherwise."""
    from hwgen.generator.emit import FACTS_VERSION

    path = Path(folder) / "design.json"
    try:
        facts = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RuntimeError(f"--check: cannot read {path} ({e}); rebuild the folder with this hwgen") from None
    if facts.get("format") != "hwgen-design" or facts.get("version") != FACTS_VERSION:
        raise RuntimeError(f"--check: {path} is not a design.json this hwgen reads (format "
                           f"{facts.get('format')!r}, version {facts.get('version')!r})")
    return facts


def check_build(folder: Path, simulator: str, *, seed: int = 1) -> dict:
    """Simulate ``folder/hwgen_top.v`` with the build's test vectors under random idle cycles and
    backpressure, after the weights image ``vectors/load.hex`` where the design has a load port.
    Raises RuntimeError naming the first mismatch; returns the summary for the build report."""
    from . import runner
    from .designs import golden_spec

    folder = Path(folder)
    facts = read_facts(folder)
    qpath = folder / "model.qmodel.json"
    vectors = np.load(folder / "vectors" / "vectors.npz")
    widths = facts["payload_widths"]
    design = runner.Design.from_verilog_text(
        "build-check", (folder / "hwgen_top.v").read_text(), facts["module"], folder / "check",
        cycles_per_step=facts["cycles_per_step"], payload_widths=(widths["input"], widths["output"]),
        load_image=load if (load := folder / "vectors" / "load.hex").exists() else None)
    inputs = vectors["inputs"]
    ref = golden_spec(qpath, facts["parameters"]["output"], sequences=inputs.shape[0], seed=seed,
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
