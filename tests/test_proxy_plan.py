"""Every experiment of every paper resolves in full and in proxy mode (repro.run.plan: dataset, protocols, model,
pipeline, the runs it loads), and one multi-stage chain of each paper runs end to end with --proxy."""
from __future__ import annotations

import dataclasses

import pytest

from repro.audit.papers import load_papers
from repro.run.experiments import load_experiments
from repro.run.plan import PlanError, plan
from repro.run.runner import effective, run_experiment

PAPERS = [p.id for p in load_papers()]
# each paper's longest chain of runs that load each other's checkpoints (MAiVAR's fusion trains its video
# MLP inside one pipeline, KPSEM's experiments load none)
CHAINS = {"faster": ["r2d26-l8", "r2p1d50-l8", "fastgru-l8-n2"],
          "gcfnet": ["mobilenet-k600", "mobilenet-k600-dclips"],
          "kpsem": ["mfnet-ucf101"],
          "maivar": ["fusion-waveplot"],
          "motion_distill": ["ds-ucf101-16f", "ds-flow-avg-ucf101-16f"]}


def _experiments(paper_id: str) -> dict:
    return {e.id: e for e in load_experiments(load_papers(paper_id)[0]).experiments}


@pytest.mark.parametrize("paper_id", PAPERS)
@pytest.mark.parametrize("proxy", [False, True], ids=["full", "proxy"])
def test_every_experiment_resolves(paper_id, proxy):
    experiments = _experiments(paper_id)
    plans = [plan(e, experiments, proxy=proxy) for e in experiments.values()]
    assert len(plans) == len(experiments) > 0
    for found in plans:
        assert all(d in experiments for d in found.depends_on)
        if proxy and found.depends_on:  # a proxy reads the data the runs it loads were trained on
            first = experiments[found.depends_on[0]]
            assert found.dataset["synth"].get("classes") == effective(first, True)[0]["synth"].get("classes")


def test_a_stage_that_names_another_model_than_its_dependency_trains_is_refused():
    experiments = _experiments("faster")
    stage2 = experiments["fastgru-l8-n2"]
    wrong = dataclasses.replace(stage2, model_args={**stage2.model_args, "expensive": "baselines/r3d_50"})
    with pytest.raises(PlanError, match=r"experiments.yaml:\d+: faster/fastgru-l8-n2: its expensive model is "
                                        r"'baselines/r3d_50' but r2p1d50-l8 trains 'baselines/r2plus1d_50'"):
        plan(wrong, experiments, proxy=False)
    with pytest.raises(PlanError, match="--proxy: its expensive model"):
        plan(wrong, experiments, proxy=True)


@pytest.mark.parametrize("paper_id", sorted(CHAINS))
def test_one_multi_stage_chain_runs_end_to_end_in_proxy_mode(paper_id, tmp_path):
    experiments = _experiments(paper_id)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for experiment_id in CHAINS[paper_id]:
        final = run_experiment(experiments[experiment_id], proxy=True, out_dir=tmp_path, uri=uri, epochs=1,
                               show_progress=False)
        assert final["videos"] == final["videos_total"] > 0 and "mlflow_run" in final
        assert (tmp_path / "runs" / paper_id / f"{experiment_id}-proxy" / "checkpoint.pt").is_file() or \
            paper_id == "maivar"
