"""Errors that point at the file, line and field a user has to fix."""
from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A paper data file is malformed: names the file, line, field and what was expected."""

    def __init__(self, path: Path | str, line: int | None, field: str, expected: str):
        self.path, self.line, self.field, self.expected = str(path), line, field, expected
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {field}: {expected}")


class ExpressionError(ValueError):
    """An expression over table cells cannot be parsed or evaluated."""


class WeightsError(ValueError):
    """A checkpoint that does not fit the model: names the file and the keys."""


class UsageError(ValueError):
    """A command asked for something that cannot be done as asked (e.g. resuming with other settings)."""
