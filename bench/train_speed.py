"""Training throughput: characters per second of `hwgen train`'s loop for a GRU 128 on PTB
characters, against plain ``torch.nn.GRU`` float training of the same size, batch and BPTT length
in the same run (the machine is shared and noisy: the ratio is the figure, not the absolute rate).

Both sides do the same work per optimizer step: a one-hot character batch through the recurrent
layer and a dense output layer, cross entropy, backward, gradient-norm clipping, an Adam step; the
hwgen side also quantizes its weights (straight-through), applies BatchNorm on the input, and clips
its shadow weights, all through the trainer's own code (train.trainer.param_groups, the model's
forward). Each configuration is timed for ``--steps`` steps after ``--warmup`` steps, alternating
the two sides ``--repeats`` times, best of each.

    .venv/bin/python bench/train_speed.py [--batch 32 --bptt 50 --steps 40 --repeats 3]
    .venv/bin/python bench/train_speed.py --sweep     # batch x bptt x threads for throughput
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch
from torch import nn

from train import trainer
from train.datasets import load_dataset
from train.model import RecurrentModel
from train.trainer import TrainSettings, model_config_for


class PlainGRU(nn.Module):
    """The baseline: torch.nn.GRU between a one-hot input and a dense output, float."""

    def __init__(self, vocab: int, hidden: int):
        super().__init__()
        self.vocab = vocab
        self.rnn = nn.GRU(vocab, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        h, state = self.rnn(nn.functional.one_hot(x, self.vocab).float(), state)
        return self.out(h), state

    def clip_weights_(self):
        pass


def _batches(ids: np.ndarray, batch: int, bptt: int):
    return itertools.cycle(list(trainer._lm_batches(ids[: batch * bptt * 64 + 1], batch, bptt)))


def time_steps(model, optimizer, batches, steps: int, warmup: int, vocab: int) -> float:
    """Characters per second over ``steps`` optimizer steps (after ``warmup``), state carried."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state = None
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        x, y = next(batches)
        logits, state = model(x, state)
        state = trainer.detach_state(state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        model.clip_weights_()
    return steps * x.numel() / (time.perf_counter() - t0)


def measure(data, hidden: int, batch: int, bptt: int, quantizer: str, preset: str,
            steps: int, warmup: int, repeats: int) -> dict:
    vocab = len(data.vocab)
    torch.manual_seed(0)
    cfg = model_config_for(data, hidden=[hidden], quantizer=quantizer, preset=preset)
    ours = RecurrentModel.from_config(cfg).train()
    opt_ours = torch.optim.Adam(trainer.param_groups(ours, TrainSettings(dataset="ptb-char")))
    plain = PlainGRU(vocab, hidden).train()
    opt_plain = torch.optim.Adam(plain.parameters(), lr=2e-3)
    b_ours, b_plain = _batches(data.train, batch, bptt), _batches(data.train, batch, bptt)
    best = {"hwgen": 0.0, "torch": 0.0}
    for _ in range(repeats):  # alternate, so that both sides see the same machine load
        best["hwgen"] = max(best["hwgen"], time_steps(ours, opt_ours, b_ours, steps, warmup, vocab))
        best["torch"] = max(best["torch"], time_steps(plain, opt_plain, b_plain, steps, warmup, vocab))
    fused = all(layer.fused for layer in ours.stack.layers)
    return {"preset": preset, "quantizer": quantizer, "path": "fused" if fused else "per-step",
            "batch": batch, "bptt": bptt, "threads": torch.get_num_threads(),
            "hwgen_cps": best["hwgen"], "torch_cps": best["torch"], "ratio": best["hwgen"] / best["torch"]}


def _row(r: dict) -> str:
    return (f"| {r['preset']} | {r['quantizer']} | {r['path']} | {r['batch']} | {r['bptt']} | {r['threads']} | "
            f"{r['hwgen_cps']:,.0f} | {r['torch_cps']:,.0f} | {r['ratio']:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--bptt", type=int, default=50)
    p.add_argument("--quantizer", default="pow2_ternary")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sweep", action="store_true", help="batch x bptt x threads, ott2016 preset")
    args = p.parse_args()
    data = load_dataset("ptb-char")
    print("| preset | quantizer | hwgen path | batch | bptt | threads | hwgen chars/s | torch.nn.GRU chars/s | ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    if args.sweep:
        grid = [(t, b, l) for t in (1, 2) for b in (32, 64, 128) for l in (50, 100)]
        for threads, batch, bptt in grid:
            torch.set_num_threads(threads)
            print(_row(measure(data, args.hidden, batch, bptt, args.quantizer, "ott2016",
                               args.steps, args.warmup, args.repeats)), flush=True)
        return
    for preset in ("ott2016", "hard"):
        print(_row(measure(data, args.hidden, args.batch, args.bptt, args.quantizer, preset,
                           args.steps, args.warmup, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
