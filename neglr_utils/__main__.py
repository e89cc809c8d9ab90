"""``python -m neglr_utils``: see :mod:`neglr_utils.cli`."""

import sys

from .cli import main

sys.exit(main())
