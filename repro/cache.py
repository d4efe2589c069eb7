"""Where repro keeps what it can recompute (cost counts, batch sizes found, lock files)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$REPRO_CACHE_DIR, else ~/.cache/repro."""
    return Path(os.environ.get("REPRO_CACHE_DIR") or Path.home() / ".cache" / "repro")
