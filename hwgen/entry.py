"""The `hwgen` console script: imports nothing heavy before it can handle Ctrl-C.

A Ctrl-C while Python imports numpy, rich or torch would otherwise end in a traceback; here it
ends with the same one line and exit status as one during a command.
"""

import sys


def main() -> None:
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        print("hwgen: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(run())
