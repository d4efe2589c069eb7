"""Argument types for the command line: each checks a value where argparse reads it, so a bad option
fails with `argument --name: ...` before any work starts."""
from __future__ import annotations

import argparse
from pathlib import Path


def _number(text: str, kind: type, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def share(text: str) -> float:
    """A share of files: a number within [0, 1]."""
    value = _number(text, float, "a share within [0, 1] (e.g. 0.05)")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share within [0, 1] (e.g. 0.05 for 5%), got {text}")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int, "a whole number >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int, "a whole number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float, "a number > 0")
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def out_folder(text: str) -> str:
    """A folder to write into: absent (it is made) or a folder, never a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; expected a folder to write into")
    return text


def out_file(text: str) -> str:
    """A file to write: its folder must exist, and it must not be a folder."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected a file name (e.g. {path / 'costs.json'})")
    if not path.resolve().parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {path.parent} does not exist")
    return text


def existing_folder(text: str) -> str:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is {'a file' if path.exists() else 'not there'}; expected a folder")
    return text


def device(text: str) -> str:
    """cpu, cuda or cuda:N, and only a device this machine has now."""
    import torch

    name, _, index = text.partition(":")
    if name == "cpu" and not index:
        return text
    if name != "cuda" or (index and not index.isdigit()):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    if not torch.cuda.is_available():
        build = f"this torch {torch.__version__} is a CPU build" if torch.version.cuda is None else "no GPU is visible"
        raise argparse.ArgumentTypeError(f"{text}: {build}; use --device cpu")
    if index and int(index) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 to "
                                         f"cuda:{torch.cuda.device_count() - 1}")
    return text


def clip_shape(text: str) -> tuple[int, ...]:
    """One sample's shape without the batch dimension, e.g. 3x8x224x224 (a clip) or 10x2048 (features)."""
    parts = text.lower().replace("×", "x").split("x")
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected one sample's shape as sizes >= 1 joined by x, e.g. 3x8x224x224, "
                                         f"got {text!r}")
    return tuple(int(p) for p in parts)


def bench_batch(text: str) -> int | str:
    """A batch size >= 1, or "auto"."""
    if text == "auto":
        return text
    return positive_int(text)


def decoder(text: str) -> str:
    """A video decoder backend that can decode on this machine (repro.data.backends)."""
    from .data.backends import available

    why = available(text)
    if why is not None:
        raise argparse.ArgumentTypeError(why)
    return text


def frame_size(text: str) -> tuple[int, int]:
    """A frame size as WxH (e.g. 340x256), each side at least 32 pixels."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) >= 32 for p in parts):
        raise argparse.ArgumentTypeError(f"expected a frame size WxH with sides of 32 or more, got {text!r}")
    return int(parts[0]), int(parts[1])
