"""What the command modules share: wrapping to the terminal, the store option, kept records."""
from __future__ import annotations

import argparse
import sys
import textwrap

from ..store.backend import check_uri


def wrapped(text: str) -> str:
    """Each line of `text` folded to the terminal's width, continuation lines indented."""
    from ..console import terminal_width

    return "\n".join(textwrap.fill(line, terminal_width(), subsequent_indent="  ", break_long_words=False,
                                    break_on_hyphens=False) if len(line) > terminal_width()
                      else line for line in text.splitlines())


def tracking_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking-uri", type=check_uri, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                                                           "sqlite:///mlflow.db)")


def said_kept(kept: list) -> int:
    """Print what the store did not take (it is on disk); 1 when there was any."""
    for exc in kept:
        print(f"error: the store did not take a record: {exc}", file=sys.stderr)
    return 1 if kept else 0

