"""How the golden model's accuracy moves with the fixed-point width (16, 12, 8 bits by default).

For each width: `hwgen export --width W` of the same checkpoint, then the golden model (the
hardware's arithmetic) and the float model with the same exported codes on the test split; the
float model with the trained quantized weights and the full-precision one are width-independent.
Writes a Markdown table (default docs/results/width_sweep.md) with the command that made it.

    .venv/bin/python bench/width_sweep.py                                    # shipped example, full test split
    .venv/bin/python bench/width_sweep.py --checkpoint model.pt --limit 20000
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from hwgen.evaluate import float_metric, golden_metric, load_split  # noqa: E402
from hwgen.export import ExportOptions, export_model  # noqa: E402
from hwgen.cli.common import progress_bar  # noqa: E402
from hwgen.export.floatnet import from_qmodel  # noqa: E402
from hwgen.export.source import float_net  # noqa: E402

EXAMPLE = ROOT / "examples" / "ptb-gru128-exponential.pt"


def sweep(checkpoint: Path, widths: list[int], limit: int | None, console: Console) -> tuple[list[dict], dict]:
    rows, fixed = [], {}
    for w in widths:
        t0 = time.perf_counter()
        r = export_model(checkpoint, ExportOptions(width=w, eval_limit=0))
        qm = r.qmodel
        data = load_split(qm.meta["dataset"], "test", limit, getattr(qm.input, "vocab", None))
        with progress_bar(console) as progress:
            if not fixed:
                fixed = {"metric": data.metric, "data": data.name, "size": data.size,
                         "float_quantized": float_metric(float_net(r.source, True), data, "float quantized", progress),
                         "float_full_precision": float_metric(float_net(r.source, False), data, "float full", progress)}
            g = golden_metric(qm, data, progress)
            f = float_metric(from_qmodel(qm), data, f"float exported codes, {w} bits", progress)
        fmts = {row["signal"]: row["format"] for row in r.report["formats"]}
        rows.append({"width": w, "golden": g, "float_exported_codes": f, "formats": fmts,
                     "seconds": time.perf_counter() - t0})
        console.print(f"width {w}: golden {g:.4f}, float (exported codes) {f:.4f}, gap {g - f:+.4f}")
    return rows, fixed


def _trained(checkpoint: Path) -> str:
    """Which weights these are: the training step recorded in the checkpoint, if any."""
    import torch

    metrics = torch.load(checkpoint, map_location="cpu", weights_only=True).get("metrics") or {}
    step = metrics.get("step")
    return f", the best weights of {metrics.get('steps_trained', step)} training steps (step {step})" if step else ""


def markdown(rows: list[dict], fixed: dict, command: str, checkpoint: Path) -> str:
    m = fixed["metric"]
    out = [
        "# Golden-model accuracy against fixed-point width",
        "",
        f"Model: `{checkpoint.name}`{_trained(checkpoint)}; data: {fixed['data']} ({fixed['size']:,} "
        f"{'characters' if m == 'bpc' else 'sequences'}); metric: {m}"
        f"{' (lower is better)' if m == 'bpc' else ''}. Every signal's format comes from `hwgen export "
        f"--width W` (calibration on the first 20,000 training characters, headroom 1.25; "
        f"docs/export.md). The float models do not depend on the width: trained quantized weights "
        f"{fixed['float_quantized']:.4f}, full precision {fixed['float_full_precision']:.4f}.",
        "",
        f"| width | golden {m} | float {m}, same codes | golden − float | formats (state / preact / out) |",
        "|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        f = r["formats"]
        out.append(f"| {r['width']} | {r['golden']:.4f} | {r['float_exported_codes']:.4f} | "
                   f"{r['golden'] - r['float_exported_codes']:+.4f} | "
                   f"{f.get('L0.state')} / {f.get('L0.preact')} / {f.get('out', '-')} |")
    out += ["", "Made with:", "", "```sh", command, "```", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=EXAMPLE)
    p.add_argument("--widths", default="16,12,8")
    p.add_argument("--limit", type=int, help="only the first N test characters / sequences")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "width_sweep.md")
    args = p.parse_args(argv)
    console = Console()
    rows, fixed = sweep(args.checkpoint, [int(w) for w in args.widths.split(",")], args.limit, console)
    command = ".venv/bin/python bench/width_sweep.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    text = markdown(rows, fixed, command.strip(), args.checkpoint)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    console.print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
