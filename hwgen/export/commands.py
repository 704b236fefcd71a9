"""What `hwgen export` and `hwgen eval` do, behind cli.py's thin subcommands."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..evaluate import EvalError, load_split
from . import ExportError, ExportOptions, accuracy, export_model
from .report import print_accuracy, print_report, save_json
from .load import load_source


def parse_window(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    m = re.fullmatch(r"\s*(-?\d+)\s*:\s*(-?\d+)\s*", text)
    if not m:
        raise ExportError(f"--exp-window {text!r}: expected LO:HI exponents, e.g. -8:0")
    return int(m.group(1)), int(m.group(2))


@contextmanager
def progress_bar(console: Console, quiet: bool = False):
    """A ``(what, done, total)`` callback drawing one bar per stage (nothing when quiet)."""
    if quiet:
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(what: str, done: int, total: int):
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        yield update


def default_report_path(out: Path) -> Path:
    name = out.name[: -len(".qmodel.json")] if out.name.endswith(".qmodel.json") else out.stem
    return out.with_name(name + ".export.json")


def export_options(args) -> ExportOptions:
    return ExportOptions(
        width=args.width, headroom=args.headroom, formats=args.format or [], scale=args.scale,
        scale_bits=args.scale_bits, exp_window=parse_window(args.exp_window), weight_bits=args.weight_bits,
        act_table_bits=args.act_table_bits,
        quantize=args.quantize, dataset=args.dataset, calibration=args.calibration,
        calib_limit=args.calib_limit, eval_limit=args.eval_limit, name=getattr(args, "name", None))


def run_export(args, console: Console) -> None:
    import json

    from ..files import FileWriteError, check_writable, write_together
    from ..qmodel_file import to_text

    out = Path(args.output)
    report_path = Path(args.report) if args.report else default_report_path(out)
    try:  # before the work: a wrong path costs seconds, not the export
        check_writable(out, "-o")
        check_writable(report_path, "--report")
    except FileWriteError as e:
        raise ExportError(str(e)) from None
    opts = export_options(args)
    with progress_bar(console, args.quiet) as progress:
        result = export_model(args.model, opts, out_path=out, progress=progress)
    report = json.dumps(result.report, indent=1) + "\n"
    try:  # both computed before either is written; both replaced, or neither
        write_together([(out, lambda f: f.write(to_text(result.qmodel)), False),
                        (report_path, lambda f: f.write(report), False)], what="writing")
    except FileWriteError as e:
        raise ExportError(str(e)) from None
    if not args.quiet:
        print_report(result.report, console)
    console.print(f"wrote {out} and {report_path}")


def _checkpoint_for(qm, qpath: Path, given: str | None, console: Console):
    """The source model of ``qm``: ``--checkpoint``, else the file of the name recorded at export
    beside the QModel file (files exported before names replaced paths: that path), or None."""
    src_meta = dict(qm.meta.get("source") or {})
    recorded = src_meta.get("file") or src_meta.get("path")
    if given is None and not recorded:
        return None
    path = Path(given) if given else (qpath.parent / recorded)
    if given is None and not path.exists():
        console.print(f"[yellow]warning:[/yellow] the model this QModel came from, {path}, is not there; "
                      f"the float figures need it: pass --checkpoint model.pt")
        return None
    exp = dict(qm.meta.get("export") or {})
    window = tuple(exp["exp_window"]) if exp.get("exp_window") else None
    src = load_source(path, src_meta.get("quantize"), window)
    if src_meta.get("sha256") and src.sha256 != src_meta["sha256"]:
        if given is None:
            raise ExportError(f"{path} has changed since this QModel was exported from it (sha256 differs); "
                              f"re-export, or pass --checkpoint {path} to compare with it anyway")
        console.print(f"[yellow]warning:[/yellow] {path} is not the file this QModel was exported from")
    return src


def run_eval(args, qm, console: Console) -> dict:
    from ..files import FileWriteError, check_writable

    qpath = Path(args.model)
    try:
        check_writable(args.json, "--json")
    except FileWriteError as e:
        raise ExportError(str(e)) from None
    dataset = args.dataset or qm.meta.get("dataset")
    if not dataset:
        raise ExportError("--dataset is required: the QModel does not record the dataset of its model")
    if args.limit is not None and args.limit < 1:
        raise ExportError("--limit must be a positive number of characters / sequences")
    src = _checkpoint_for(qm, qpath, args.checkpoint, console)
    vocab = qm.input.vocab if hasattr(qm.input, "vocab") else None
    try:
        data = load_split(dataset, args.split, args.limit, vocab)
        with progress_bar(console, args.quiet) as progress:
            if src is None:
                from ..evaluate import float_metric, golden_metric
                from .floatnet import from_qmodel

                figures = {"data": data.name, "size": data.size, "metric": data.metric,
                           "golden": golden_metric(qm, data, progress),
                           "float_exported_codes": float_metric(from_qmodel(qm), data, "float", progress)}
            else:
                figures = accuracy(qm, src, data, progress)
    except EvalError as e:
        raise ExportError(str(e)) from None
    print_accuracy(figures, console)
    if args.json:
        try:
            save_json(figures, args.json)
        except OSError as e:
            raise ExportError(f"--json {args.json}: {e.strerror or e}") from None
        console.print(f"wrote {args.json}")
    return figures
