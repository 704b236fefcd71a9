"""Ott et al. (2016), Figure 1: the largest eigenvalue (modulus) of the hidden-to-hidden Jacobian
dh_t/dh_{t-1} and the hidden state's norm ||h_t|| at each time step, for models trained with
binary, ternary and exponential weights against float, on Penn Treebank test text.

The models are the GRU 128 seed-0 runs of the PTB paper grid (docs/results/ptb_paper_grid.toml);
run that sweep first, or name other model.pt files with --model LABEL=PATH.

    .venv/bin/python bench/figure1.py [--steps 200] [--sequences 8]

Writes docs/results/figure1.md (the mean over the time steps of each curve) and figure1.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.designs import ptb_text  # noqa: E402
from train.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402

GRID = ROOT / "out" / "sweeps" / "ptb_paper_grid" / "train"
DEFAULT = {q: GRID / f"ptb-char-gru-h128-{q}-s0" / "model.pt" for q in ("float", "binary", "ternary", "exponential")}


def curves(path: Path, text: str, steps: int, sequences: int) -> tuple[np.ndarray, np.ndarray]:
    """``(eigenvalue, norm)``, each ``(sequences, steps)``: the Jacobian's spectral radius and
    ||h_t|| along ``sequences`` stretches of ``text`` from a zero state."""
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt, path).eval()
    index = {c: i for i, c in enumerate(ckpt["vocab"])}
    layer = model.stack.layers[0]
    eig, norm = np.zeros((sequences, steps)), np.zeros((sequences, steps))
    stride = max(1, (len(text) - steps) // sequences)
    for s in range(sequences):
        ids = torch.tensor([[index[c] for c in text[s * stride: s * stride + steps]]])
        x = model.embed(ids)
        h = torch.zeros(1, layer.hidden_size)
        for t in range(steps):
            xt = x[:, t:t + 1]

            def step(state):
                return layer(xt, state)[1]
            with torch.no_grad():
                nxt = step(h)
            jac = torch.autograd.functional.jacobian(step, h, vectorize=True)[0, :, 0, :]
            eig[s, t] = torch.linalg.eigvals(jac).abs().max().item()
            h = nxt
            norm[s, t] = h.norm().item()
    return eig, norm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--sequences", type=int, default=8)
    p.add_argument("--model", action="append", metavar="LABEL=PATH", help="instead of the grid's models")
    args = p.parse_args()
    models = dict(m.split("=", 1) for m in args.model) if args.model else DEFAULT
    missing = [str(v) for v in models.values() if not Path(v).exists()]
    if missing:
        sys.exit(f"missing models: {', '.join(missing)}\n  run: hwgen sweep docs/results/ptb_paper_grid.toml "
                 f"-o out/sweeps/ptb_paper_grid")
    torch.set_num_threads(1)
    text = ptb_text(args.steps * args.sequences * 4, "test")
    results = {label: curves(Path(path), text, args.steps, args.sequences) for label, path in models.items()}

    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), dpi=100)
    ax_eig, ax_norm = fig.subplots(1, 2)
    t = np.arange(1, args.steps + 1)
    for label, (eig, norm) in results.items():
        ax_eig.plot(t, eig.mean(0), label=label, linewidth=1)
        ax_norm.plot(t, norm.mean(0), label=label, linewidth=1)
    ax_eig.set(xlabel="time step", ylabel="largest |eigenvalue| of dh_t/dh_{t-1}", title="Jacobian")
    ax_norm.set(xlabel="time step", ylabel="||h_t||", title="hidden-state norm")
    for ax in (ax_eig, ax_norm):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"GRU 128 on PTB test text: mean over {args.sequences} stretches of {args.steps} characters")
    fig.tight_layout()
    out = ROOT / "docs" / "results"
    fig.savefig(out / "figure1.png", metadata={"Software": None})
    lines = ["# Figure 1 of Ott et al. (2016) with hwgen's models", "",
             f"Command: `.venv/bin/python bench/figure1.py --steps {args.steps} --sequences {args.sequences}` "
             "(models: the GRU 128 seed-0 runs of docs/results/ptb_paper_grid.toml, trained to a validation "
             "plateau with the ott2016 preset). Each curve is the mean over the stretches; the table gives "
             "the mean over time steps and stretches, and over the last half of the steps.", "",
             "| weights | spectral radius of the Jacobian, mean | last half | norm of h_t, mean | last half |", "|---|---:|---:|---:|---:|"]
    half = args.steps // 2
    for label, (eig, norm) in results.items():
        lines.append(f"| {label} | {eig.mean():.3f} | {eig[:, half:].mean():.3f} | {norm.mean():.2f} | "
                     f"{norm[:, half:].mean():.2f} |")
    lines += ["", "![figure 1](figure1.png)", ""]
    notes = out / "figure1.notes.md"  # a person's reading, kept when the figure is remade
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    (out / "figure1.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
