"""`hwgen golden`: the golden model on text or seeded random inputs."""

from __future__ import annotations

import time

import numpy as np

from .common import CliError, check_writable_file, console, load_qmodel, save_npz


def _inputs(qmodel, args):
    """Token ids from --text (embedding models with a vocabulary), else seeded random inputs."""
    from ..spec.ir import EmbeddingInput

    rng = np.random.default_rng(args.seed)
    stage = qmodel.input
    if args.text is not None:
        if not isinstance(stage, EmbeddingInput) or stage.vocab is None:
            raise CliError("--text needs a model with an embedding input and a vocabulary")
        from ..spec.tokens import text_to_ids

        try:
            return np.array([text_to_ids(stage.vocab, args.text)], dtype=np.int64)
        except ValueError as e:
            raise CliError(f"--text has {e}") from None
    from ..spec.stimulus import random_inputs

    return random_inputs(qmodel, rng, (args.batch, args.steps), scale=0.5)  # features within half their range


def cmd_golden(args) -> None:
    from ..spec import golden
    from ..spec.ir import EmbeddingInput

    from ..toolchain.limits import LimitError, check_memory, golden_bytes

    if args.batch < 1 or args.steps < 1:
        raise CliError("--batch and --steps must be positive")
    qmodel = load_qmodel(args.model)
    batch, steps = (1, len(args.text)) if args.text is not None else (args.batch, args.steps)
    try:
        check_memory(golden_bytes(qmodel, batch, steps), f"{batch:,} x {steps:,} golden-model steps",
                     "ask for fewer --batch or --steps")
    except LimitError as e:
        raise CliError(str(e)) from None
    if args.save_outputs and not args.save_outputs.endswith(".npz"):
        args.save_outputs += ".npz"  # numpy's own convention for savez
    check_writable_file(args.save_outputs, "--save-outputs")
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
        save_npz(args.save_outputs, inputs=x, outputs=out)
        console.print(f"wrote {args.save_outputs}")


def add_parsers(sub) -> None:
    s = sub.add_parser("golden", help="run the golden model (the bit-exact specification) on inputs")
    s.add_argument("model", help="QModel file (.qmodel.json)")
    s.add_argument("--text", help="input text, for character models with a vocabulary")
    s.add_argument("--batch", type=int, default=64, help="random sequences (default 64)")
    s.add_argument("--steps", type=int, default=100, help="steps per random sequence (default 100)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--save-outputs", metavar="NPZ", help="write inputs and integer outputs to NPZ")
    s.set_defaults(func=cmd_golden)
