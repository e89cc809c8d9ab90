"""Checks of the book's papermill parameters, so a wrong value stops the first cell.

Every chapter has the same ``parameters`` cell (``profile``, ``data_root``, ``device``,
``results_dir``, ``seeds``); ``book/build.py`` or ``papermill -p NAME VALUE`` replace
them. papermill's ``-p`` turns ``0`` into an int and ``[0, 1]`` into a string, so a list
needs ``-y 'seeds: [0, 1, 2]'``. `check_parameters` raises a ValueError that names the
parameter, the value it got and what to pass, before the chapter loads or trains anything.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..runs.profiles import STUDIES
from ..runs.runtime import resolve_device

BOOK_PROFILES = tuple(sorted(STUDIES))  # the profiles a book is built for


def _bad(name: str, value: object, expected: str, example: str) -> ValueError:
    return ValueError(f"notebook parameter {name}={value!r} ({type(value).__name__}): "
                      f"{expected}. With papermill pass e.g. {example}")


def check_parameters(*, profile: object, data_root: object, device: object,
                     results_dir: object, seeds: object) -> None:
    """Raise a ValueError naming the first bad parameter of a book chapter.

    profile: one of `BOOK_PROFILES`; seeds: None (each dataset profile's own seeds) or a
    non-empty list of distinct non-negative ints;
    device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` present on this machine;
    data_root, results_dir: None (the defaults) or a non-empty path string.
    """
    if not isinstance(profile, str) or profile not in BOOK_PROFILES:
        raise _bad("profile", profile, f"must be one of {', '.join(BOOK_PROFILES)}",
                   "-p profile cpu")
    if seeds is None:
        pass
    elif (isinstance(seeds, str | bytes) or not isinstance(seeds, Sequence) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                       for s in seeds)):
        raise _bad("seeds", seeds, "must be a non-empty list of non-negative integers",
                   "-y 'seeds: [0, 1, 2]' (-p passes a list as a string)")
    elif len(set(seeds)) != len(seeds):
        raise _bad("seeds", seeds, "must not repeat a seed", "-y 'seeds: [0, 1, 2]'")
    if not isinstance(device, str):
        raise _bad("device", device, "must be a string", "-p device auto")
    try:
        resolve_device(device)
    except ValueError as err:
        raise _bad("device", device, str(err), "-p device auto") from None
    for name, value in (("data_root", data_root), ("results_dir", results_dir)):
        if value is None:
            continue
        if not isinstance(value, str | os.PathLike) or not str(value).strip():
            raise _bad(name, value, "must be None (the default) or a folder path",
                       f"-p {name} /path/to/folder, or leave it out")
