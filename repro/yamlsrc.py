"""YAML loading that remembers where every value came from.

PyYAML's plain loaders drop line numbers and the printed text of scalars ("73.20" becomes 73.2),
and both matter here: errors must name the line, and a cell must keep the digits as printed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import DataError


class LocDict(dict):
    """A mapping that knows its own line and each value's line and raw scalar text."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}
        self.key_lines: dict[Any, int] = {}
        self.raws: dict[Any, str | None] = {}

    def line_of(self, key: Any) -> int:
        """The line of the key's value (for a block list, the line of its first item)."""
        return self.lines.get(key, self.line)

    def line_of_key(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LocList(list):
    """A sequence that knows its own line and each item's line and raw scalar text."""

    line: int = 0

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.lines: list[int] = []
        self.raws: list[str | None] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if index < len(self.lines) else self.line


class _Loader(yaml.SafeLoader):
    path: str = "<string>"


def _raw(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    loader.flatten_mapping(node)
    out = LocDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise DataError(loader.path, key_node.start_mark.line + 1, str(key),
                            "duplicate key; each key may appear once in a mapping")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = value_node.start_mark.line + 1
        out.key_lines[key] = key_node.start_mark.line + 1
        out.raws[key] = _raw(value_node)
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> LocList:
    out = LocList()
    out.line = node.start_mark.line + 1
    for item in node.value:
        out.append(loader.construct_object(item, deep=True))
        out.lines.append(item.start_mark.line + 1)
        out.raws.append(_raw(item))
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


MAX_NODES = 200_000  # far above any paper file (FASTER's largest has ~10,000), far below an alias bomb


def _check_expansion(root: yaml.Node, path: Path) -> None:
    """Refuse a document whose aliases expand past MAX_NODES values (a "billion laughs" file hangs every
    reader) or refer to themselves, naming the line of the first alias that does."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise DataError(path, node.start_mark.line + 1, "yaml", "no alias that refers to its own anchor")
        visiting.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        else:
            total = 1
        visiting.discard(key)
        if total > MAX_NODES:
            raise DataError(path, node.start_mark.line + 1, "yaml", f"a document of at most {MAX_NODES:,} values "
                            f"once its aliases are expanded; this node alone expands to more")
        sizes[key] = total
        return total

    size(root)


def load_yaml(path: Path) -> Any:
    """Parse `path`, raising DataError with the line of any syntax error."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(path, None, "file", "this file to exist (see papers/SCHEMA.md)") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(path, line, "encoding", f"UTF-8 text; byte {raw[exc.start]:#04x} at offset {exc.start} is "
                                                f"not UTF-8 (save the file as UTF-8)") from None
    loader = _Loader(text)
    loader.path = str(path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, path)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise DataError(path, line, "yaml", f"valid YAML ({exc.problem or exc})") from None
    finally:
        loader.dispose()
