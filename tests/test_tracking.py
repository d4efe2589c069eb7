"""MLflow as the record of measured values: logging, provenance and reading back."""
from __future__ import annotations

import pytest

from repro.store.tracking import load_measurements, log_measurements, metric_key


@pytest.fixture
def uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_metric_keys_are_valid_and_unique(toy_paper):
    keys = {metric_key(c) for c in toy_paper.cells(include_absent=True)}
    assert len(keys) == 6
    assert all(set(k) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. :/") for k in keys)
    assert metric_key(("1", "a/b", "c")) != metric_key(("1", "a", "b/c"))


def test_round_trip_with_provenance_and_latest_wins(toy_paper, uri, tmp_path):
    assert load_measurements([toy_paper], uri) == {}
    first = log_measurements(toy_paper, {("1", "Ours", "GFLOPs"): 15.2}, kind="costs", command="test one", uri=uri)
    second = log_measurements(toy_paper, {("1", "Ours", "GFLOPs"): 15.4, ("1", "Base", "GFLOPs"): 29.9},
                              kind="costs", command="test two", device="cpu", uri=uri)
    found = load_measurements([toy_paper], uri)
    latest = found[("toy", ("1", "Ours", "GFLOPs"))]
    assert latest.value == pytest.approx(15.4) and latest.provenance["mlflow_run"] == second != first
    origin = latest.provenance
    assert origin["command"] == "test two" and origin["device"] == "cpu" and origin["paper"] == "toy"
    for key in ("git_commit", "machine", "time", "version.torch", "version.mlflow"):
        assert origin[key]
    assert found[("toy", ("1", "Base", "GFLOPs"))].value == pytest.approx(29.9)
    assert not latest.proxy


def test_proxy_flag_round_trips(toy_paper, uri):
    log_measurements(toy_paper, {("1", "Ours", "Top-1"): 50.0}, kind="proxy", proxy=True, uri=uri)
    assert load_measurements([toy_paper], uri)[("toy", ("1", "Ours", "Top-1"))].proxy


def test_unknown_cell_is_refused(toy_paper, uri):
    with pytest.raises(KeyError, match="no cell"):
        log_measurements(toy_paper, {("1", "Nope", "GFLOPs"): 1.0}, kind="costs", uri=uri)


def test_artifacts_stay_beside_the_store(toy_paper, uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    log_measurements(toy_paper, {("1", "Ours", "GFLOPs"): 15.0}, kind="costs", details={"model": "toy"}, uri=uri)
    assert list((tmp_path / "mlartifacts").rglob("details.json"))
    assert not list((tmp_path / "elsewhere").iterdir())
