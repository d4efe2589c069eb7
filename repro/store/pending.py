"""Records kept on disk until the store has them.

Every measuring command writes its record here before it logs it, and removes it once the store holds
it: a kill, an unreachable server or a broken store loses nothing, and `repro push FILE` (or the
folder) sends what is left. Pushing a record twice logs it once (its key, see backend.Record).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..atomic import write_text_atomic
from .backend import Record, StoreError, log_record, tracking_uri

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class Kept(StoreError):
    """The store did not take a record; it is kept on disk, and the message says how to send it."""

    def __init__(self, path: Path, cause: BaseException):
        self.path = path
        super().__init__(f"{cause}\n  nothing is lost: the record is kept in {path}; "
                         f"send it with `repro push {path}` once the store is back")


def pending_dir() -> Path:
    return Path(os.environ.get("REPRO_PENDING_DIR", "repro-pending"))


def keep(record: Record, uri: str) -> Path:
    path = pending_dir() / f"{_UNSAFE.sub('_', record.key)}.json"
    text = json.dumps({"uri": uri, "record": record.as_json()}, indent=1, default=str) + "\n"
    try:
        write_text_atomic(path, text)
    except FileNotFoundError:  # another process removed the emptied folder between our mkdir and write
        write_text_atomic(path, text)
    return path


def log_or_keep(record: Record, uri: str | None = None) -> str:
    """Log `record`; returns the MLflow run id, or raises Kept with the file that holds it."""
    uri = tracking_uri(uri)
    path = keep(record, uri)
    try:
        run_id = log_record(record, uri)
    except Exception as exc:  # noqa: BLE001 - whatever the store raised, the record stays on disk
        raise Kept(path, exc) from exc
    _remove(path)
    return run_id


def _remove(path: Path) -> None:
    """Remove a record the store now holds, and its folder once it is empty."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()  # only when empty: another process's record keeps it
    except OSError:
        pass


def read(path: Path) -> tuple[Record, str]:
    """(record, URI it was meant for) of a pending file; ValueError naming the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return Record.from_json(data["record"]), str(data["uri"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a pending record written by repro ({exc})") from None


def send(path: Path, uri: str | None = None) -> str:
    """Log a pending file's record (into `uri`, default the store it was meant for) and remove the file."""
    record, meant_for = read(path)
    run_id = log_record(record, uri or meant_for)
    _remove(Path(path))
    return run_id
