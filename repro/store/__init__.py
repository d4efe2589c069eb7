"""The MLflow store and the records kept on disk until it has them.

- `backend`: opening a store safely (sqlite created atomically under an inter-process lock, locked
  databases retried, unreachable servers found in seconds) and logging a `Record` exactly once.
- `pending`: records kept on disk until `repro push` sends them.
- `tracking`: measured cell values as MLflow runs, and reading them back for the report.
- `runlog`: a training run's folder, and pushing it.
"""
