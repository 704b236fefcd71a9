"""Activation-table depth against accuracy and block RAM, on the shipped example: the example is
exported with tables of 2^B entries for each B, and the golden model's bits per character is put
beside the float model's (trained quantized weights, exact sigmoid/tanh) on the same validation
characters, with each table's error bound and block RAMs from the export report.

    .venv/bin/python bench/act_tables.py [--bits 8 10 12] [--chars 30000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hwgen.export import ExportOptions, export_model

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ptb-gru128-exponential.pt"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bits", type=int, nargs="+", default=[8, 10, 12])
    p.add_argument("--chars", type=int, default=30000)
    args = p.parse_args()
    print(f"{EXAMPLE.name}, {args.chars:,} PTB validation characters")
    print("| B | entries | error bound, sigmoid / tanh (output LSB) | block RAM per unit (iCE40 / ECP5) | golden BPC | float BPC | golden - float |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for bits in args.bits:
        r = export_model(EXAMPLE, ExportOptions(act_table_bits=bits, eval_limit=args.chars)).report
        acts = {a["unit"].split(".")[1]: a for a in r["activations"]}
        g, f = r["accuracy"]["golden"], r["accuracy"]["float_quantized"]
        print(f"| {bits} | {2 ** bits:,} | {acts['gate_act']['error_lsb']:.1f} / {acts['cand_act']['error_lsb']:.1f} | "
              f"{acts['gate_act']['ebr_blocks']['ice40']} / {acts['gate_act']['ebr_blocks']['ecp5']} | {g:.5f} | {f:.5f} | {g - f:+.5f} |", flush=True)


if __name__ == "__main__":
    main()
