"""`python -m hwgen.cli`: the same as the `hwgen` console script."""

import sys

from . import main

sys.exit(main())
