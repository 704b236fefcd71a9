"""`hwgen export`: model.pt (or a torch.nn checkpoint) to a QModel file and its report."""

from __future__ import annotations

import re
from pathlib import Path

from .common import CliError, console, progress_bar


def cmd_export(args) -> None:
    from ..export import ExportError

    try:
        run_export(args)
    except ExportError as e:
        raise CliError(str(e)) from None


def run_export(args) -> None:
    import json

    from ..export import ExportError, export_model
    from ..export.report import print_report
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


def parse_window(text: str | None) -> tuple[int, int] | None:
    from ..export import ExportError

    if text is None:
        return None
    m = re.fullmatch(r"\s*(-?\d+)\s*:\s*(-?\d+)\s*", text)
    if not m:
        raise ExportError(f"--exp-window {text!r}: expected LO:HI exponents, e.g. -8:0")
    return int(m.group(1)), int(m.group(2))


def default_report_path(out: Path) -> Path:
    name = out.name[: -len(".qmodel.json")] if out.name.endswith(".qmodel.json") else out.stem
    return out.with_name(name + ".export.json")


def export_options(args):
    """The :class:`hwgen.export.ExportOptions` the export arguments ask for."""
    from ..export import ExportOptions

    return ExportOptions(
        width=args.width, headroom=args.headroom, formats=args.format or [], scale=args.scale,
        scale_bits=args.scale_bits, exp_window=parse_window(args.exp_window), weight_bits=args.weight_bits,
        act_table_bits=args.act_table_bits,
        quantize=args.quantize, dataset=args.dataset, calibration=args.calibration,
        calib_limit=args.calib_limit, eval_limit=args.eval_limit, name=getattr(args, "name", None))


def add_parsers(sub) -> None:
    s = sub.add_parser("export", help="model.pt (or a torch.nn checkpoint) to a QModel file and a report",
                       description="Map trained weights to integer codes, choose fixed-point formats "
                                   "from calibration data, and report codes, formats and accuracy "
                                   "(docs/export.md).")
    s.add_argument("model", help="hwgen model.pt, or a torch.nn RNN/GRU/LSTM state_dict checkpoint")
    s.add_argument("-o", "--output", required=True, metavar="QMODEL", help="QModel file to write (.qmodel.json)")
    s.add_argument("--report", metavar="JSON", help="report file (default: OUTPUT with .export.json)")
    from .arguments import add_export_arguments

    add_export_arguments(s)
    s.add_argument("--name", help="model name in the QModel (default: the file's stem)")
    s.add_argument("--quiet", action="store_true", help="no progress bar or tables")
    s.set_defaults(func=cmd_export)
