"""`hwgen export` and `hwgen eval` (the work is in hwgen/export/commands.py)."""

from __future__ import annotations

from .common import CliError, console, load_qmodel


def cmd_export(args) -> None:
    from ..export import ExportError
    from ..export.commands import run_export

    try:
        run_export(args, console)
    except ExportError as e:
        raise CliError(str(e)) from None


def cmd_eval(args) -> None:
    from ..export import ExportError
    from ..export.commands import run_eval

    try:
        run_eval(args, load_qmodel(args.model), console)
    except ExportError as e:
        raise CliError(str(e)) from None


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

    s = sub.add_parser("eval", help="accuracy of the golden model on real data, beside the float models")
    s.add_argument("model", help="QModel file (.qmodel.json)")
    s.add_argument("--dataset", help="dataset (default: the one recorded at export)")
    s.add_argument("--split", choices=("test", "valid", "train"), default="test")
    s.add_argument("--limit", type=int, metavar="N", help="only the first N characters / sequences")
    s.add_argument("--checkpoint", metavar="PT", help="the model.pt it came from (default: recorded at export)")
    s.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_eval)
