"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The real data root from NEGLR_DATA; skips without it, fails if NEGLR_REQUIRE_DATA=1."""
    value = os.environ.get("NEGLR_DATA", "")
    if value and Path(value).is_dir():
        return Path(value)
    reason = (f"real data root missing: NEGLR_DATA={value!r} is not a folder" if value
              else "real data root missing: NEGLR_DATA is not set")
    if os.environ.get("NEGLR_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason} (and NEGLR_REQUIRE_DATA=1)")
    pytest.skip(reason)
