"""The `hwgen` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from rich.console import Console

from . import __version__

console = Console()


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1, no traceback."""


def _load(path: str):
    from .qmodel_file import QModelFileError, load

    try:
        return load(path)
    except QModelFileError as e:
        raise CliError(f"{e}\n  (hwgen reads QModel files written by `hwgen export`; see docs/qmodel-format.md)") from None


def cmd_inspect(args) -> None:
    from .summary import describe, print_description

    d = describe(_load(args.model))
    if args.json:
        print(json.dumps(d, indent=1))
    else:
        print_description(d, console)


def _inputs(qmodel, args):
    """Token ids from --text (embedding models with a vocabulary), else seeded random inputs."""
    from .ir import EmbeddingInput

    rng = np.random.default_rng(args.seed)
    stage = qmodel.input
    if args.text is not None:
        if not isinstance(stage, EmbeddingInput) or stage.vocab is None:
            raise CliError("--text needs a model with an embedding input and a vocabulary")
        index = {tok: i for i, tok in enumerate(stage.vocab)}
        unknown = sorted({ch for ch in args.text if ch not in index})
        if unknown:
            raise CliError(f"--text has characters outside the model's vocabulary: {unknown!r}")
        return np.array([[index[ch] for ch in args.text]], dtype=np.int64)
    if isinstance(stage, EmbeddingInput):
        return rng.integers(0, stage.vocab_size, (args.batch, args.steps))
    lo, hi = stage.fmt.min_int, stage.fmt.max_int
    return rng.integers(lo // 2, hi // 2 + 1, (args.batch, args.steps, stage.size))


def cmd_golden(args) -> None:
    from . import golden
    from .ir import EmbeddingInput

    if args.batch < 1 or args.steps < 1:
        raise CliError("--batch and --steps must be positive")
    qmodel = _load(args.model)
    x = _inputs(qmodel, args)
    t0 = time.perf_counter()
    result = golden.run(qmodel, x)
    seconds = time.perf_counter() - t0
    batch, steps = x.shape[:2]
    out = result.outputs
    console.print(f"[bold]golden model[/bold] {qmodel.name}: {batch} sequence(s) × {steps} steps "
                  f"in {seconds:.3f} s ({batch * steps / seconds:,.0f} sequence-steps/s)")
    console.print(f"outputs: {out.shape[-1]} per step, format {result.fmt}, "
                  f"integer range [{out.min()}, {out.max()}], "
                  f"at a rail {np.mean((out == result.fmt.min_int) | (out == result.fmt.max_int)):.1%}")
    stage = qmodel.input
    if args.text is not None and qmodel.output is not None and out.shape[-1] == stage.vocab_size:
        predicted = "".join(stage.vocab[i] for i in result.argmax()[0])
        console.print(f"input text:           {args.text!r}")
        console.print(f"predicted next chars: {predicted!r}")
    elif isinstance(stage, EmbeddingInput) or args.text is None:
        console.print(f"last step of sequence 0: {result.fmt.to_float(out[0, -1])[:8].round(4).tolist()}"
                      f"{' …' if out.shape[-1] > 8 else ''}")
    if args.save_outputs:
        np.savez_compressed(args.save_outputs, inputs=x, outputs=out)
        console.print(f"wrote {args.save_outputs}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hwgen", description="Low-precision RNN/GRU/LSTM to verified RTL.")
    p.add_argument("--version", action="version", version=f"hwgen {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("inspect", help="print a QModel's layers, formats and weight-code statistics")
    s.add_argument("model", help="QModel file (.qmodel.json)")
    s.add_argument("--json", action="store_true", help="print the description as JSON")
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("golden", help="run the golden model (the bit-exact specification) on inputs")
    s.add_argument("model", help="QModel file (.qmodel.json)")
    s.add_argument("--text", help="input text, for character models with a vocabulary")
    s.add_argument("--batch", type=int, default=64, help="random sequences (default 64)")
    s.add_argument("--steps", type=int, default=100, help="steps per random sequence (default 100)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--save-outputs", metavar="NPZ", help="write inputs and integer outputs to NPZ")
    s.set_defaults(func=cmd_golden)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CliError as e:
        print(f"hwgen: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hwgen: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
