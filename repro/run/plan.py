"""What a run would use, resolved without training: `repro experiments --plan` and the tests that walk
every experiment through it, in full or proxy mode.

A plan resolves the dataset layout and protocols, the model (built on the meta device: no weights are
allocated), the pipeline function, the experiments it depends on (`<role>_from` in pipeline_args) and
where their runs would be, and checks that a dependency trains the model the experiment names for that
role. Anything `repro run` would fail on before its first step fails here, naming the experiment.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch

from .experiments import Experiment, dependencies
from ..measure.loader_bench import MULTI_CLIP, OPTIONS, LoaderInput
from .runner import effective, model_spec, resolve_pipeline


@dataclass(frozen=True)
class Plan:
    experiment: Experiment
    proxy: bool
    dataset: dict[str, Any]
    model: str
    model_args: dict[str, Any]
    pipeline_args: dict[str, Any]
    depends_on: tuple[str, ...]  # experiment ids whose runs this one loads


class PlanError(ValueError):
    """An experiment that `repro run` would fail on before training: names it and what is wrong."""


def expected_role_model(experiment: Experiment, dependency: Experiment, role: str, proxy: bool) -> str:
    """The model `experiment` must name as `role` when `dependency` (its `<role>_from`) trains it: the
    dependency's proxy model when the experiment's own proxy names the role, else its declared model."""
    if proxy and role in experiment.proxy.get("model_args", {}):
        return dependency.proxy.get("model", dependency.model)
    return dependency.model


def plan(experiment: Experiment, siblings: dict[str, Experiment], *, proxy: bool) -> Plan:
    """Resolve `experiment` as `repro run` would (`siblings`: the paper's experiments by id)."""
    from ..data.layouts import get_layout
    from ..data.protocols import make_protocol
    from ..models import build

    def fail(what: str) -> PlanError:
        return PlanError(f"{experiment.source}: {experiment.name}{' --proxy' if proxy else ''}: {what}")

    dataset, train, test, _ = effective(experiment, proxy)
    try:
        get_layout(dataset["layout"])
        for stage, options in ((experiment.train, train), (experiment.test, test)):
            make_protocol(stage.protocol, **options)
    except (KeyError, ValueError, TypeError) as exc:
        raise fail(f"the data it reads: {exc}") from None
    name, model_args, pipeline_args = model_spec(experiment, proxy)
    if proxy:
        model_args["num_classes"] = len(_classes(dataset))
    try:
        with torch.device("meta"):
            build(name, **model_args)
    except Exception as exc:  # noqa: BLE001 - any builder error is this experiment's to report
        raise fail(f"model {name} with {model_args}: {type(exc).__name__}: {exc}") from None
    try:
        resolve_pipeline(experiment.pipeline)
    except NotImplementedError as exc:
        raise fail(str(exc)) from None
    depends_on = dependencies(experiment, set(siblings))
    for key, value in pipeline_args.items():
        role = key.removesuffix("_from")
        named = model_args.get(role)
        if key.endswith("_from") and value in siblings and isinstance(named, str) and ("/" in named or ":" in named):
            expected = expected_role_model(experiment, siblings[value], role, proxy)
            if named != expected:  # a model name (paper/builder), not a setting such as an aggregator type
                raise fail(f"its {role} model is {named!r} but {value} trains {expected!r}")
    if proxy:
        for dependency in depends_on:
            theirs = effective(siblings[dependency], True)[0]
            if _classes(theirs) != _classes(dataset):
                raise fail(f"its proxy has the synthetic classes {_classes(dataset)}, the proxy of {dependency} whose "
                           f"run it loads {_classes(theirs)}; give both the same proxy synth classes")
    return Plan(experiment, proxy, dataset, name, model_args, pipeline_args, tuple(depends_on))


def _classes(dataset: dict[str, Any]) -> list[str]:
    from ..data.synth import CLASSES

    return list(dataset["synth"].get("classes") or [c.name for c in CLASSES])


def training_inputs(papers) -> list[LoaderInput]:
    """The distinct training inputs (protocol and its decoding options) of the papers' experiments."""
    from .experiments import load_experiments

    found: dict[str, LoaderInput] = {}
    for paper in papers:
        for experiment in load_experiments(paper).experiments:
            _, train, _, _ = effective(experiment, proxy=False)
            options = {k: v for k, v in train.items() if k in OPTIONS
                       and (k != "num_clips" or experiment.train.protocol in MULTI_CLIP)}
            key = json.dumps([experiment.train.protocol, options], sort_keys=True)
            old = found.get(key)
            found[key] = LoaderInput(tuple(dict.fromkeys([*(old.papers if old else ()), paper.id])),
                                     experiment.train.protocol, options)
    return list(found.values())
