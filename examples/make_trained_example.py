"""Trains the shipped example, examples/ptb-gru64-pow2ternary.pt: a character-level GRU
(one-hot input, 64 hidden units, hard activations) trained with pow2-ternarization (weights in
{-1/2, 0, +1/2}: 2-bit codes, each multiply a shift by one and an add, subtract or skip) on
Penn Treebank characters, with hwgen's own training code.

    .venv/bin/python examples/make_trained_example.py      # about 20 minutes on 2 cores

The optimizer state is dropped from the shipped copy (it is only needed to resume training), which
keeps the file small; everything export and the reports read is kept.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from train.checkpoint import load_checkpoint, save_checkpoint

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAME = "ptb-gru64-pow2ternary"
TRAIN = ["--dataset", "ptb-char", "--cell", "gru", "--hidden", "64", "--embed", "0",
         "--activation", "hard", "--quantizer", "pow2_ternary", "--epochs", "2",
         "--eval-every", "1000", "--seed", "0"]


def main() -> Path:
    work = ROOT / "out" / "example"
    work.mkdir(parents=True, exist_ok=True)
    full = work / f"{NAME}.pt"
    hwgen = Path(sys.executable).with_name("hwgen")
    subprocess.run([str(hwgen), "train", *TRAIN, "--out", str(full)], check=True)
    ckpt = load_checkpoint(full)
    ckpt["train_state"] = None
    ckpt["provenance"] = "examples/make_trained_example.py: hwgen train " + " ".join(TRAIN)
    dest = save_checkpoint(HERE / f"{NAME}.pt", ckpt)
    load_checkpoint(dest)  # the shipped file must load as users will load it
    print(f"wrote {dest} ({dest.stat().st_size / 1024:.0f} KiB), test bpc {ckpt['metrics']['test_bpc']:.3f}")
    return dest


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
