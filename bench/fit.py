"""The largest GRU that fits a target (an iCE40 UP5K, an ECP5): ternary weights, 16-bit state, hard activations.

For each hidden size, `hwgen build --lanes auto --pnr` on a random ternary GRU (character-level:
50-token one-hot input, 50 logits out): the datapath chosen, its LUTs, RAM, DSPs, Fmax and time
steps per second. Writes docs/results/fit_<target>.md (fit_up5k.md for the UP5K).

    .venv/bin/python bench/fit.py [--hidden 64 96 128] [--target ice40-up5k] [--lanes N]

``--lanes N`` skips the search (one synthesis per size instead of several). Weight codes go to
SPRAM where they do not fit block RAM (``--weights auto``).

``--floor N [--freq MHZ]`` asks instead for the smallest design that reaches N time steps per
second at that clock (`hwgen build --min-steps-per-second N --freq MHZ`, synthesis only) and
prints the fit's answer, the design or the refusal with every candidate; no file is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from hwgen.build import BuildError, BuildOptions, build  # noqa: E402
from hwgen.spec.ir import QModel  # noqa: E402
from hwgen.fit import FitError  # noqa: E402
from hwgen.spec.random_qmodel import random_qmodel  # noqa: E402


def char_gru(hidden: int) -> QModel:
    """A random ternary GRU over 50 characters: one-hot input (an identity embedding, as trained
    character models here have), 50 logits."""
    qm = random_qmodel("gru", hidden=hidden, inputs=50, vocab=50, outputs=50, code="ternary", act="hard",
                       width=16, seed=hidden)
    one_hot = np.eye(50, dtype=np.int64) << qm.input.fmt.frac
    return dataclasses.replace(qm, input=dataclasses.replace(qm.input, table=one_hot))


def one(hidden: int, target: str, work: Path, lanes: int | None, seeds: int) -> dict:
    qm = char_gru(hidden)
    t0 = time.time()
    try:
        result = build(qm, work / f"h{hidden}", BuildOptions(target=target, pnr=True, lanes=lanes, pnr_seeds=seeds),
                       say=lambda m: None)
    except (FitError, BuildError) as e:  # over the device: in the fit, or before it (weight bits)
        return {"hidden": hidden, "fits": False, "why": str(e).splitlines()[0], "seconds": time.time() - t0}
    r = result.report
    c = r["synthesis"]["counts"]
    return {"hidden": hidden, "fits": True, "style": r["design"]["style"], "lanes": r["design"]["lanes"],
            "reads": "".join(f", {what}" for what, on in (("hot input", r["design"].get("hot_column_reads")),
                                                          ("zero-skipping", r["design"].get("zero_skipping"))) if on),
            "weights": r["design"]["weights"],
            "cycles": r["design"]["cycles_per_step"], "lut4": c["lut4"], "dff": c["dff"], "ebr": c.get("ebr", 0),
            "spram": c.get("spram", 0), "dsp": c.get("dsp", 0), "lc_packed": r["pnr"]["utilization"]["lc"]["used"],
            "fmax": r["pnr"]["fmax_mhz"], "steps_s": r["pnr"]["steps_per_second"], "seconds": time.time() - t0}


def positive(text: str) -> float:
    """An argparse type: a number above zero."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a positive number")
    return value


def floor(hidden: int, target: str, steps: float, mhz: float) -> str:
    """The fit's answer to a floor of ``steps`` per second at ``mhz``: the design, or the refusal."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            r = build(char_gru(hidden), Path(tmp) / "f", BuildOptions(target=target, min_steps_per_second=steps,
                                                                    freq_mhz=mhz), say=lambda m: None).report
        except (FitError, BuildError) as e:
            return str(e)
    d = r["design"]
    return f"{d['style']} P={d['lanes']}, {d['cycles_per_step']:,} cycles per step"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 96, 128])
    p.add_argument("--target", default="ice40-up5k")
    p.add_argument("--lanes", type=int, default=None, help="fixed lane count (default: the fitter's choice)")
    p.add_argument("--pnr-seeds", type=int, default=3, help="placement seeds; Fmax is their median (default 3)")
    p.add_argument("--floor", type=positive, help="print the fit's answer to this many steps/s instead (no table)")
    p.add_argument("--freq", type=positive, default=48.0, help="the clock a --floor is checked at (MHz, default 48)")
    args = p.parse_args()
    if args.floor is not None:
        for h in args.hidden:
            print(f"hidden {h}: " + floor(h, args.target, args.floor, args.freq), flush=True)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for h in args.hidden:
            row = one(h, args.target, Path(tmp), args.lanes, args.pnr_seeds)
            print(row, flush=True)
            rows.append(row)
    lines = [f"# Largest ternary GRU on {args.target}", "",
             f"Command: `.venv/bin/python bench/fit.py {' '.join(sys.argv[1:])}`", "",
             "Random ternary GRU, 50-character one-hot input, 50 logits, 16-bit formats, hard activations; "
             f"`hwgen build --lanes {args.lanes or 'auto'} --pnr` (weights auto: SPRAM when the codes do not fit "
             f"block RAM; nextpnr goal 48 MHz, Fmax "
             f"{'the median of seeds 1-' + str(args.pnr_seeds) if args.pnr_seeds > 1 else 'of seed 1'}).", "",
             "| hidden | fits | datapath | weights | cycles/step | LUT4 | DFF | EBR | SPRAM | DSP | LCs packed | Fmax MHz | steps/s | build s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["fits"]:
            lines.append(f"| {r['hidden']} | yes | {r['style']} P={r['lanes']}{r['reads']} | {r['weights']} | {r['cycles']:,} | {r['lut4']:,} | "
                         f"{r['dff']:,} | {r['ebr']} | {r['spram']} | {r['dsp']} | {r['lc_packed']:,} | "
                         f"{r['fmax']:.1f} | {r['steps_s']:,.0f} | {r['seconds']:.0f} |")
        else:
            lines.append(f"| {r['hidden']} | no: {r['why']} | | | | | | | | | | | | {r['seconds']:.0f} |")
    dest = ROOT / "docs" / "results" / f"fit_{args.target.replace('ice40-', '')}.md"
    dest.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
