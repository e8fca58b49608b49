"""Where the shared evaluation data lives (read at test time, never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("AKHBAR_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def data_path(*parts: str) -> Path:
    """Return a path under the shared data folder, skipping the test when it is absent."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set AKHBAR_DATA_DIR)")
    return path
