"""Trains the shipped example, examples/ptb-gru128-exponential.pt: a character-level GRU
(one-hot input, 128 hidden units) trained with exponential quantization (every recurrent-layer
weight is ±2^k: each multiply a shift and an add or subtract) on Penn Treebank characters, with
hwgen's own training code and its default set-up (the ott2016 preset: smooth sigmoid/tanh,
BatchNorm on the input, one bias per gate, the output layer in full precision), to a validation
plateau (early stopping).

    .venv/bin/python examples/make_trained_example.py      # about 30 minutes on one core

``--float-twin`` trains the same network with float weights instead (README compares the two);
it is written to out/example/, not shipped.

The optimizer state is dropped from the shipped copy (it is only needed to resume training), which
keeps the file small; everything export and the reports read is kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from train.checkpoint import load_checkpoint, save_checkpoint

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAME = "ptb-gru128-exponential"
TRAIN = ["--dataset", "ptb-char", "--cell", "gru", "--hidden", "128", "--quantizer", "exponential",
         "--epochs", "30", "--eval-every", "1000", "--seed", "0"]
#: one thread: the figures in README were trained so (thread count changes float summation order)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def main() -> Path:
    work = ROOT / "out" / "example"
    work.mkdir(parents=True, exist_ok=True)
    hwgen = Path(sys.executable).with_name("hwgen")
    if "--float-twin" in sys.argv[1:]:
        twin = [a if a != "exponential" else "float" for a in TRAIN]
        subprocess.run([str(hwgen), "train", *twin, "--force", "--out", str(work / "ptb-gru128-float.pt")],
                       check=True, env=ENV)
        return work / "ptb-gru128-float.pt"
    full = work / f"{NAME}.pt"
    subprocess.run([str(hwgen), "train", *TRAIN, "--force", "--out", str(full)], check=True, env=ENV)
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
