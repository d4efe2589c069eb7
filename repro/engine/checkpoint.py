"""Checkpoints written atomically, and everything a resumed run needs to continue as if never stopped."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import replacing


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename: a reader sees the old or the new file."""
    with replacing(path) as tmp:
        torch.save(state, tmp)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load(path: Path) -> dict[str, Any]:
    # weights_only=False: our own checkpoints hold the config and RNG states, not only tensors
    return torch.load(path, map_location="cpu", weights_only=False)
