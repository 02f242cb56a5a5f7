"""Where the project keeps what it builds once and reuses: imports nothing heavy (task=report reads it)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where converted models are cached: $BIASGRPO_CACHE or ~/.cache/biasgrpo."""
    return Path(os.environ.get("BIASGRPO_CACHE", Path.home() / ".cache" / "biasgrpo"))
