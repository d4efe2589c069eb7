"""Every accuracy cell of the five papers has an experiment or a stated reason, and every experiment
is buildable: its model with its arguments, its protocols with their options."""
from __future__ import annotations

import pytest

from repro.data.protocols import make_protocol
from repro.run.experiments import accuracy_cells, load_experiments, uncovered
from repro.models import builder
from repro.audit.papers import load_papers

PAPERS = load_papers()
# pipeline_args naming the experiment whose checkpoint a pipeline loads (maivar's init_from names a module)
STAGE_KEYS = {"expensive_from", "cheap_from", "aggregator_from", "backbone_from", "ds_from"}


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.id)
def test_every_accuracy_cell_is_covered_once(paper):
    found = load_experiments(paper)
    assert found.experiments, f"{paper.id} declares no experiments"
    assert uncovered(found) == []
    filled = [k for e in found.experiments for k in e.fills] + [k for n in found.not_run for k in n.cells]
    assert sorted(filled) == sorted(accuracy_cells(paper))
    assert all(n.reason.strip() for n in found.not_run)


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.id)
def test_every_experiment_names_a_real_model_and_protocols(paper):
    import inspect

    for experiment in load_experiments(paper).experiments:
        signature = inspect.signature(builder(experiment.model))
        unknown = set(experiment.model_args) - set(signature.parameters)
        assert not unknown, f"{experiment.name}: {experiment.model} takes no {sorted(unknown)}"
        for stage in (experiment.train, experiment.test):
            make_protocol(stage.protocol, **stage.options)


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.id)
def test_every_experiment_has_its_pipeline_and_runnable_dependencies(paper):
    from repro.run.full_runs import dependencies, ordered
    from repro.run.runner import resolve_pipeline

    experiments = load_experiments(paper).experiments
    ids = {e.id for e in experiments}
    for experiment in experiments:
        assert callable(resolve_pipeline(experiment.pipeline)), experiment.name
        for key, value in experiment.pipeline_args.items():
            if key in STAGE_KEYS:  # a stage this one loads: it must be an experiment of the paper
                assert value in dependencies(experiment, ids), f"{experiment.name}: {key}: {value} is no experiment"
    assert len(ordered(experiments)) == len(experiments)  # no cycle
