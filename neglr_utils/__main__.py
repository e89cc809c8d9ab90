"""``python -m neglr_utils``: see :mod:`neglr_utils.cli`."""

import sys

from .runs.cli import main

sys.exit(main())
