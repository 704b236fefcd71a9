"""What a bench drives and expects: the stimulus, the expected output beats, and a readable
account of a mismatch.

A bench is generic over its reference: it asks a :class:`Reference` for the packed input beats
and the packed output beats the design must produce, and on the first mismatch asks it to
explain the beat (:meth:`Reference.describe`). :class:`GoldenReference` is the one for hwgen's
designs (hwgen's golden model on a QModel); the tests' stand-in design brings its own.

A reference is built inside the simulator's Python from a plain-data spec (``factory`` = a
``"module:callable"`` path plus JSON ``kwargs``, see :func:`make_reference`), so the runner never
has to pickle one.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Reference:
    """Beats in stream order. ``inputs[k]`` and ``expected[k]`` are packed payloads (``first`` in
    the top bit); ``seq[k]``/``step[k]`` say which sequence and which step of it beat ``k`` is."""

    name: str
    in_width: int
    out_width: int
    inputs: list[int]
    expected: list[int]
    seq: list[int]
    step: list[int]
    #: cycles one step may take (a hint for the stall detector), None if unknown
    cycles_per_step: int | None = None
    info: dict = field(default_factory=dict)

    @property
    def sequences(self) -> int:
        return (max(self.seq) + 1) if self.seq else 0

    def describe(self, k: int, actual: int) -> str:
        """A readable account of beat ``k`` having come out as ``actual``: override it."""
        return (f"beat {k} (sequence {self.seq[k]}, step {self.step[k]}): "
                f"expected 0x{self.expected[k]:x}, got 0x{actual:x}")


def make_reference(spec: dict) -> Reference:
    """Build a reference from ``{"factory": "module:callable", "kwargs": {...}, "path": [...]}``
    (``path``: directories put on ``sys.path`` first, for references kept beside tests)."""
    for p in spec.get("path", []):
        if p not in sys.path:
            sys.path.insert(0, p)
    module, _, attr = spec["factory"].partition(":")
    factory = getattr(importlib.import_module(module), attr)
    return factory(**spec.get("kwargs", {}))


def sequence_lengths(rng: np.random.Generator, sequences: int, min_len: int, max_len: int) -> list[int]:
    if sequences < 1:
        raise ValueError(f"sequences must be at least 1, got {sequences}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    return rng.integers(min_len, max_len + 1, size=sequences).tolist()


def _positions(lengths: list[int]) -> tuple[list[int], list[int], np.ndarray]:
    seq = [i for i, n in enumerate(lengths) for _ in range(n)]
    step = [t for n in lengths for t in range(n)]
    start = np.array([t == 0 for t in step], bool)
    return seq, step, start


# ------------------------------------------------------------------------------------------------
# hwgen designs: the golden model
# ------------------------------------------------------------------------------------------------


def _fmt_words(v, limit: int = 12, mark=()) -> str:
    """Integer words, the first ``limit`` and any in ``mark`` (elided ones as ``…``)."""
    v = np.atleast_1d(np.asarray(v)).tolist()
    if len(v) <= limit:
        return "[" + ", ".join(str(x) for x in v) + "]"
    keep = sorted(set(range(limit)) | set(int(m) for m in mark))
    parts, last = [], -1
    for i in keep:
        if i != last + 1:
            parts.append("…")
        parts.append(f"{i}:{v[i]}")
        last = i
    if last != len(v) - 1:
        parts.append(f"… ({len(v)} words)")
    return "[" + ", ".join(parts) + "]"


class GoldenReference(Reference):
    """hwgen's golden model for ``qmodel`` on ``sequences`` random sequences (or on ``tokens``,
    one sequence per list), concatenated into one stream with ``first`` set at each start."""

    def __init__(self, qmodel, output: str | None = None, *, sequences: int = 4, min_len: int = 1,
                 max_len: int = 16, seed: int = 0, tokens: list[list[int]] | None = None,
                 cycles_per_step: int | None = None, input_range: float = 1.0, rails: float = 0.1):
        from hwgen.expected import expected_run
        from hwgen.generator.interface import check_output, input_format, output_format
        from hwgen.spec.stimulus import random_inputs
        from hwgen.spec.ir import EmbeddingInput

        self.qmodel = qmodel
        self.output = check_output(qmodel, output)
        self.in_fmt, self.out_fmt = input_format(qmodel), output_format(qmodel, self.output)
        rng = np.random.default_rng(seed)
        stage = qmodel.input
        self.embedding = isinstance(stage, EmbeddingInput)
        if tokens is not None:
            lengths = [len(t) for t in tokens]
            x = np.array([t for seq in tokens for t in seq], np.int64)
        else:
            lengths = sequence_lengths(rng, sequences, min_len, max_len)
            # Full-range inputs, and a share ``rails`` of words exactly at the format's limits,
            # drive the datapath into its saturating corners.
            x = random_inputs(qmodel, rng, (sum(lengths),), scale=input_range, rails=rails)
        seq, step, start = _positions(lengths)
        # One long batch-1 stream: the start flags reset the state exactly as the design must.
        self.x, self.start = x[None], start[None]
        want, self.trace = expected_run(qmodel, self.output, self.x, self.start, trace=True)
        self.want = want = want[0]
        inputs = [self.in_fmt.pack(xk, s) for xk, s in zip(x, start)]
        expected = [self.out_fmt.pack(w, s) for w, s in zip(want, start)]
        super().__init__(qmodel.name, self.in_fmt.width, self.out_fmt.width, inputs, expected, seq, step,
                         cycles_per_step, {"output": self.output})

    def stage_name(self) -> str:
        n = len(self.qmodel.layers)
        last = self.qmodel.layers[-1]
        if self.output == "hidden":
            return f"layer L{n - 1} ({last.kind}, hidden {last.hidden_size}): signal L{n - 1}.h, format {self.out_fmt.fmt}"
        dense = self.qmodel.output
        if self.output == "logits":
            return f"output layer (dense {dense.w.shape[1]}->{dense.out_size}): signal out.y, format {self.out_fmt.fmt}"
        src = "out.y" if dense is not None else f"L{n - 1}.h"
        return f"argmax over {src} (index of the largest word, lowest on ties)"

    def _input_text(self, k: int) -> str:
        xk = self.x[0, k]
        if self.embedding:
            vocab = self.qmodel.input.vocab
            return f"token {int(xk)}" + (f" ({vocab[int(xk)]!r})" if vocab is not None else "")
        return f"features {_fmt_words(xk, 8)}"

    def describe(self, k: int, actual: int, window: int = 3) -> str:
        want_data, want_first = self.out_fmt.unpack(self.expected[k])
        got_data, got_first = self.out_fmt.unpack(actual)
        lines = [f"first mismatch at output beat {k}: sequence {self.seq[k]}, time step {self.step[k]}",
                 f"  stage:    {self.stage_name()}",
                 f"  input:    {self._input_text(k)}, first={int(self.start[0, k])}"]
        if want_first != got_first:
            lines.append(f"  first flag: expected {int(want_first)}, got {int(got_first)}")
        w, g = np.atleast_1d(want_data), np.atleast_1d(got_data)
        diff = np.flatnonzero(w != g)
        if diff.size:
            lines.append(f"  words differing: {diff.size} of {w.size}, at {_fmt_words(diff, 16)}")
            for i in diff[:8].tolist():
                bits = self.out_fmt.field.shape.width
                x = (int(w[i]) ^ int(g[i])) & ((1 << bits) - 1)
                real = ""
                if self.out_fmt.fmt is not None:
                    real = f"  ({self.out_fmt.fmt.to_float(np.int64(w[i])):+.6g} vs {self.out_fmt.fmt.to_float(np.int64(g[i])):+.6g})"
                lines.append(f"    word {i}: expected {int(w[i])}, actual {int(g[i])}, xor 0b{x:0{bits}b}{real}")
        lines.append(f"  expected: {_fmt_words(w, 12, diff[:8])}")
        lines.append(f"  actual:   {_fmt_words(g, 12, diff[:8])}")
        lo = max(0, k - window)
        while lo < k and self.seq[lo] != self.seq[k]:
            lo += 1
        hi = min(len(self.seq), k + 2)
        lines.append(f"  golden trace, sequence {self.seq[k]}, beats {lo}..{hi - 1} (>> marks the mismatch):")
        keys = [key for key in self.trace if key.endswith((".h", ".c")) or key == "out.y"]
        for j in range(lo, hi):
            mark = ">>" if j == k else "  "
            lines.append(f"  {mark} beat {j} step {self.step[j]}: {self._input_text(j)}, first={int(self.start[0, j])}")
            for key in keys:
                lines.append(f"       {key:6s} {_fmt_words(self.trace[key][0, j], 12, diff[:8] if key == 'out.y' else ())}")
        lines.append(f"  (full per-step trace: hwgen.spec.golden.run(qmodel, inputs, start, trace=True); "
                     f"signals {', '.join(sorted(self.trace))})")
        return "\n".join(lines)


def golden_reference(qmodel_path: str, output: str | None = None, **kwargs) -> GoldenReference:
    """:class:`GoldenReference` for the QModel file at ``qmodel_path`` (the bench's factory)."""
    from hwgen.qmodel_file import load

    return GoldenReference(load(qmodel_path), output, **kwargs)
