"""Opening an MLflow store safely, and logging one record exactly once.

- A new sqlite store is created and migrated in a temp file under an inter-process lock (filelock),
  then renamed into place: concurrent first pushes and a kill during creation never leave a
  half-migrated database.
- "database is locked" is retried with backoff.
- An http(s) server that does not answer its /health endpoint within `REPRO_TRACKING_TIMEOUT`
  seconds (default 5) is reported at once, not after MLflow's minutes of retries.
- Every `Record` carries a stable key: logging it again skips it when the store holds the same
  content under that key, and replaces an orphan (a run killed before it finished) or an outdated one.
"""
from __future__ import annotations

import argparse

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..cache import cache_dir

EXPERIMENT = "repro"
DEFAULT_URI = "sqlite:///mlflow.db"  # MLflow 3's own default store, in the working directory
SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql")  # MLflow 3 refuses file stores
KEY_TAG, CONTENT_TAG = "repro.run_key", "repro.content"
T = TypeVar("T")


class StoreError(RuntimeError):
    """The tracking store cannot be used: names the URI and what to do."""


class StoreUnreachable(StoreError):
    """The tracking server does not answer."""


def tracking_uri(explicit: str | None = None) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def check_uri(uri: str) -> str:
    """The URI itself, or an error naming what is wrong with it (argparse `type=`, which shows it)."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme not in SCHEMES:
        raise argparse.ArgumentTypeError(f"{uri!r} is not a tracking URI this suite can use; expected one of the "
                                         f"schemes {', '.join(s + ':' for s in SCHEMES)} (e.g. sqlite:///mlflow.db or "
                                         f"http://host:5000)")
    path = sqlite_path(uri)
    if path is not None:
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{uri!r}: {path} is a folder; the sqlite store is a file "
                                             f"(e.g. {path / 'mlflow.db'})")
        if not path.parent.is_dir():
            raise argparse.ArgumentTypeError(f"{uri!r}: the folder {path.parent} does not exist")
    return uri


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def timeout_seconds() -> float:
    raw = os.environ.get("REPRO_TRACKING_TIMEOUT", "5")
    try:
        value = float(raw)
    except ValueError:
        raise StoreError(f"REPRO_TRACKING_TIMEOUT={raw!r}: expected a number of seconds") from None
    if not value > 0:
        raise StoreError(f"REPRO_TRACKING_TIMEOUT={raw!r}: expected a positive number of seconds")
    return value


def server_reachable(uri: str, timeout: float | None = None) -> bool:
    """An http(s) tracking server answers its /health endpoint; local stores always count as reachable."""
    if not uri.startswith(("http://", "https://")):
        return True
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout or timeout_seconds()) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def quiet_mlflow() -> None:
    """MLflow and alembic announce a new store's tables at INFO level; a user's terminal needs none of it;
    and over http, fail within seconds rather than MLflow's default minutes of retries."""
    import logging

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(max(timeout_seconds(), 1) * 4)))


@contextmanager
def store_lock(uri: str, timeout: float = 600) -> Iterator[None]:
    """An inter-process lock for writes to this store: beside a sqlite file, else per URI in the cache."""
    from filelock import FileLock

    path = sqlite_path(uri)
    if path is not None:
        lock = path.resolve().parent / f".{path.name}.lock"
    else:
        cache = cache_dir() / "locks"
        cache.mkdir(parents=True, exist_ok=True)
        lock = cache / f"{hashlib.sha1(uri.encode()).hexdigest()[:16]}.lock"
    with FileLock(str(lock), timeout=timeout):
        yield


def retry_locked(action: Callable[[], T], attempts: int = 8, first_wait: float = 0.1) -> T:
    """Run `action`, retrying with exponential backoff while sqlite says the database is locked."""
    for attempt in range(attempts):
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - MLflow wraps sqlite's OperationalError in its own types
            if "database is locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(first_wait * 2 ** attempt)
    raise AssertionError("unreachable")


def _create_sqlite(path: Path) -> None:
    """Create and migrate the store in a temp file, then rename it into place (call under store_lock)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    from ..atomic import remove_stale_temps, replacing

    remove_stale_temps(path.resolve().parent)
    with replacing(path) as tmp:
        tmp.unlink()  # sqlite creates the file itself
        store = SqlAlchemyStore(f"sqlite:///{tmp}", (path.resolve().parent / "mlartifacts").as_uri())
        store.engine.dispose()


def open_store(uri: str, *, create: bool = True):
    """(MlflowClient, experiment id) of the `repro` experiment, creating store and experiment if asked;
    (None, None) when `create` is false and there is none. Raises StoreUnreachable for a silent server."""
    from mlflow.tracking import MlflowClient

    try:
        check_uri(uri) if create else None
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    quiet_mlflow()
    if not server_reachable(uri):
        raise StoreUnreachable(f"the tracking server {uri} did not answer within {timeout_seconds():g} s "
                               f"(REPRO_TRACKING_TIMEOUT)")
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        if not create:
            return None, None
        with store_lock(uri):
            if not path.exists():
                _create_sqlite(path)
    try:
        client = MlflowClient(tracking_uri=uri)
        experiment = retry_locked(lambda: client.get_experiment_by_name(EXPERIMENT))
    except Exception as exc:  # noqa: BLE001 - a store MLflow cannot open, whatever it raised
        raise StoreError(f"the tracking store {uri} cannot be read: {str(exc).splitlines()[0][:300]}") from None
    if experiment is not None and experiment.lifecycle_stage == "active":
        return client, experiment.experiment_id
    if not create:
        return None, None
    with store_lock(uri):
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is not None and experiment.lifecycle_stage != "active":  # deleted in the UI: runs need it
            client.restore_experiment(experiment.experiment_id)
        if experiment is None:
            location = (path.resolve().parent / "mlartifacts").as_uri() if path is not None else None
            return client, retry_locked(lambda: client.create_experiment(EXPERIMENT, artifact_location=location))
    return client, experiment.experiment_id


@dataclass
class Record:
    """One MLflow run as data: what `log_record` writes, and what a pending file on disk keeps."""

    key: str  # stable identity: logging the same key again skips or replaces, never duplicates
    run_name: str
    tags: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # per-epoch metrics
    artifacts: dict[str, Any] = field(default_factory=dict)  # file name -> dict (JSON) or str (text)

    def content_digest(self) -> str:
        """The digest of what was measured; provenance tags (time, command) do not count."""
        content = {"metrics": self.metrics, "params": self.params, "steps": self.steps, "artifacts": self.artifacts}
        return hashlib.sha1(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def measured_ms(self) -> int | None:
        """When it was measured (its `repro.time` tag), in ms: the run's start time, so that a record pushed late
        never counts as newer than one measured after it."""
        import datetime as dt

        try:
            return int(dt.datetime.fromisoformat(self.tags["repro.time"]).timestamp() * 1000)
        except (KeyError, ValueError):
            return None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        steps = [(int(step), dict(values)) for step, values in data.get("steps", [])]
        return cls(**{**data, "steps": steps})


def log_record(record: Record, uri: str | None = None) -> str:
    """Log `record` as one finished MLflow run, once: returns its run id (the existing one when the store
    already holds the same content under the same key)."""
    from mlflow.entities import Metric, Param

    uri = tracking_uri(uri)
    client, experiment_id = open_store(uri)
    digest = record.content_digest()
    with store_lock(uri):
        def log() -> str:
            existing = client.search_runs([experiment_id], f"tags.`{KEY_TAG}` = '{record.key}'", max_results=100)
            for run in existing:
                if run.info.status == "FINISHED" and run.data.tags.get(CONTENT_TAG) == digest:
                    return run.info.run_id
            for run in existing:  # an orphan of a killed push, or an older result under the same key
                client.delete_run(run.info.run_id)
            run = client.create_run(experiment_id, run_name=record.run_name, start_time=record.measured_ms(),
                                    tags={**record.tags, KEY_TAG: record.key, CONTENT_TAG: digest})
            run_id, now = run.info.run_id, int(time.time() * 1000)
            metrics = [Metric(k, float(v), now, 0) for k, v in record.metrics.items()]
            metrics += [Metric(k, float(v), now, step) for step, values in record.steps for k, v in values.items()]
            params = [Param(k, str(v)[:6000]) for k, v in record.params.items()]
            for start in range(0, len(metrics), 1000):
                client.log_batch(run_id, metrics=metrics[start:start + 1000])
            for start in range(0, len(params), 100):
                client.log_batch(run_id, params=params[start:start + 100])
            for name, content in record.artifacts.items():
                if isinstance(content, str):
                    client.log_text(run_id, content, name)
                else:
                    client.log_dict(run_id, content, name)
            client.set_terminated(run_id, "FINISHED")
            return run_id

        return retry_locked(log)
