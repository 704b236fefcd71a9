"""`hwgen inspect`: a QModel's layers, formats and weight-code statistics."""

from __future__ import annotations

import json

from .common import console, load_qmodel


def cmd_inspect(args) -> None:
    from ..spec.summary import describe, print_description

    d = describe(load_qmodel(args.model))
    if args.json:
        print(json.dumps(d, indent=1))
    else:
        print_description(d, console)


def add_parsers(sub) -> None:
    s = sub.add_parser("inspect", help="print a QModel's layers, formats and weight-code statistics")
    s.add_argument("model", help="QModel file (.qmodel.json)")
    s.add_argument("--json", action="store_true", help="print the description as JSON")
    s.set_defaults(func=cmd_inspect)
