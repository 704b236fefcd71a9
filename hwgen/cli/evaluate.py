"""`hwgen eval`: accuracy of a QModel's golden model on real data, beside the float models."""

from __future__ import annotations

from pathlib import Path

from .common import CliError, console, load_qmodel, progress_bar


def cmd_eval(args) -> None:
    from ..export import ExportError

    try:
        run_eval(args, load_qmodel(args.model))
    except ExportError as e:
        raise CliError(str(e)) from None


def run_eval(args, qm) -> dict:
    from ..evaluate import EvalError, load_split
    from ..export import ExportError, accuracy
    from ..export.report import print_accuracy, save_json
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
    src = _checkpoint_for(qm, qpath, args.checkpoint)
    vocab = qm.input.vocab if hasattr(qm.input, "vocab") else None
    try:
        data = load_split(dataset, args.split, args.limit, vocab)
        with progress_bar(console, args.quiet) as progress:
            if src is None:
                from ..evaluate import float_metric, golden_metric
                from ..export.floatnet import from_qmodel

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


def _checkpoint_for(qm, qpath: Path, given: str | None):
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
    from ..export import ExportError
    from ..export.load import load_source

    exp = dict(qm.meta.get("export") or {})
    window = tuple(exp["exp_window"]) if exp.get("exp_window") else None
    src = load_source(path, src_meta.get("quantize"), window)
    if src_meta.get("sha256") and src.sha256 != src_meta["sha256"]:
        if given is None:
            raise ExportError(f"{path} has changed since this QModel was exported from it (sha256 differs); "
                              f"re-export, or pass --checkpoint {path} to compare with it anyway")
        console.print(f"[yellow]warning:[/yellow] {path} is not the file this QModel was exported from")
    return src


def add_parsers(sub) -> None:
    s = sub.add_parser("eval", help="accuracy of the golden model on real data, beside the float models")
    s.add_argument("model", help="QModel file (.qmodel.json)")
    s.add_argument("--dataset", help="dataset (default: the one recorded at export)")
    s.add_argument("--split", choices=("test", "valid", "train"), default="test")
    s.add_argument("--limit", type=int, metavar="N", help="only the first N characters / sequences")
    s.add_argument("--checkpoint", metavar="PT", help="the model.pt it came from (default: recorded at export)")
    s.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_eval)
