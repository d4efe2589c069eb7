"""The `repro` command line."""
from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence

from ..data.skips import TooManyUnreadable
from ..errors import DataError, UsageError, WeightsError
from ..store.backend import StoreError
from .papers import add_paper_commands, check_paper_data
from .runs import add_run_commands
from .tools import add_tool_commands

__all__ = ["build_parser", "check_paper_data", "main"]


def _wrapped(message: str) -> str:
    """An error line wrapped to the terminal (an error names the bad value and the choices, so it runs long)."""
    from ..console import terminal_width

    return textwrap.fill(message, terminal_width(), subsequent_indent="  ", break_long_words=False,
                         break_on_hyphens=False) + "\n"


class _Parser(argparse.ArgumentParser):
    """argparse, with its one-line errors wrapped to the terminal."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, _wrapped(f"{self.prog}: error: {message}"))


def build_parser() -> argparse.ArgumentParser:
    from ..data.cli import add_data_parser

    parser = _Parser(prog="repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_paper_commands(sub)
    add_run_commands(sub)
    add_tool_commands(sub)
    add_data_parser(sub)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand's own --help the one line its parent lists it with (argparse shows `help` only
    in the parent's list)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                if child.description is None and helps.get(name):
                    child.description = helps[name][0].upper() + helps[name][1:] + "."
                child.set_defaults(command_parser=child)  # the innermost wins: it answers a stray argument
                _describe(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, stray = parser.parse_known_args(argv)
    if stray:  # the subcommand's usage, not the top level's, says what it takes
        getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(stray)}")
    try:
        return args.run(args)
    except UsageError as exc:
        sys.stderr.write(_wrapped(f"error: {exc}"))
        return 2
    except (DataError, WeightsError) as exc:  # unwrapped: `file:line:` stays one line for tools
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TooManyUnreadable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0

