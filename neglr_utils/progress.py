"""Progress bars: tqdm's widgets in Jupyter, text on a terminal, and text in a kernel that
``make book`` runs (``NEGLR_PROGRESS=text``), whose stderr papermill prints to the
terminal, so that the user sees which run or probe is at which iteration."""

from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm as _auto
from tqdm.std import tqdm as _text

TEXT_ENV = "NEGLR_PROGRESS"


def tqdm(*args: Any, **kwargs: Any) -> _text:
    """A tqdm bar: text when ``NEGLR_PROGRESS=text``, else tqdm.auto's choice."""
    cls = _text if os.environ.get(TEXT_ENV) == "text" else _auto
    return cls(*args, **kwargs)
