"""`repro run`: one experiment, from its declaration to a logged result.

The dataset comes from `--data-root` in the experiment's layout, or for `--proxy` from a synthetic
dataset written once into the output folder. The pipeline builds what is trained: `classify` (the
model on clips) here, or a paper's own from `papers/<paper>/pipeline.py`. The engine trains and
evaluates it, the run folder keeps everything, and MLflow receives the record at the end.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import shlex
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..data.backends import DEFAULT_BACKEND
from ..data.dataset import VideoDataset
from ..data.layouts import get_layout
from ..data.protocols import make_protocol
from ..engine.config import TrainConfig
from ..engine.distributed import World, setup, teardown
from ..engine.loop import FitResult, Task, fit, unreadable_test_allowance
from .experiments import Experiment
from ..models import build
from ..store.backend import tracking_uri
from ..store.runlog import RUN_FILES, RunLog, push
from .speed import resolve as resolve_speed

# What `--proxy` changes unless the experiment's `proxy:` mapping says otherwise. Keys of `proxy:`:
# synth (synthesize() arguments), size (crop), clips (protocol options for both stages; train_clips and
# test_clips for one), config
# (TrainConfig fields), model (another registered model), model_args, pipeline_args.
PROXY_DEFAULTS = {"synth": {"layout": "ucf101", "frames": 48, "scale": 1, "seed": 0}, "size": 64,
                  "config": {"epochs": 4, "batch_size": 8, "lr": 0.05, "workers": 0}}


@dataclass
class Context:
    """What a pipeline gets: the experiment (with proxy overrides applied), datasets and places."""

    experiment: Experiment
    train_set: Any
    test_set: Any
    device: str
    out_dir: Path
    run_dir: Path
    proxy: bool
    model_args: dict[str, Any] = field(default_factory=dict)
    model_name: str = ""  # the experiment's model, or its proxy's (`proxy: {model: ...}`)
    pipeline_args: dict[str, Any] = field(default_factory=dict)  # with `proxy: {pipeline_args: ...}` merged
    weights: dict[str, Path] = field(default_factory=dict)  # --weights NAME=PATH: checkpoints the user has
    resume: bool = False  # --resume: pipelines that fit several stages resume each from its own folder
    world: World | None = None  # the torchrun process group, for pipelines' own fits (None: one process)
    show_progress: bool = True
    flow_root: Path | None = None  # --flow-root: optical flow the user extracted already (repro data flow layout)

    def load_weights(self, model, name: str = "pretrained", *, into: str = "", skip: tuple[str, ...] = ()):
        """Load the user's checkpoint `name` (if given) into `model`; the source's key rules come from
        pipeline_args `<name>_source` (see repro.weights.SOURCES; default auto: the source that fits). Returns the
        LoadReport or None."""
        from ..weights import load_pretrained

        if name not in self.weights:
            return None
        source = self.pipeline_args.get(f"{name}_source", "auto")
        return load_pretrained(model, self.weights[name], source, into=into, skip=skip)

    def build_model(self, name: str | None = None, **overrides: Any):
        return build(name or self.model_name or self.experiment.model, **{**self.model_args, **overrides})

    def run_dir_of(self, experiment_id: str) -> Path:
        """Where another experiment of the same paper keeps its run (for multi-stage pipelines)."""
        return Path(self.out_dir) / "runs" / self.experiment.paper / (experiment_id + ("-proxy" if self.proxy else ""))


def classify(ctx: Context) -> tuple[Task, Any, Any]:
    """Train the experiment's model on clips; test with the test protocol (softmax averaged over views).

    With `--weights pretrained=PATH` the model starts from that checkpoint, its classifier (the
    pipeline_args `new_layers` prefixes, default fc. and classifier.) left new for this dataset.
    """
    model = ctx.build_model()
    skip = tuple(f"{p.rstrip('.')}." for p in ctx.pipeline_args.get("new_layers", ("fc", "classifier")))
    ctx.load_weights(model, skip=skip)
    return Task(model), ctx.train_set, ctx.test_set


def resolve_pipeline(name: str):
    if name == "classify":
        return classify
    paper, _, function = name.partition(".")
    try:
        module = importlib.import_module(f"papers.{paper}.pipeline")
        return getattr(module, function)
    except (ImportError, AttributeError):
        raise NotImplementedError(f"pipeline {name!r} is not implemented yet (papers/{paper}/pipeline.py "
                                  f"has no {function!r})") from None


def model_spec(experiment: Experiment, proxy: bool) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(model name, model args, pipeline args) of `experiment` in this mode; a proxy that swaps the model
    starts from its own arguments, not the full model's. Pipelines that rebuild another experiment's
    model use it too. (num_classes of a proxy comes from the synthetic train set, set by the runner.)"""
    if not proxy:
        return experiment.model, dict(experiment.model_args), dict(experiment.pipeline_args)
    name = experiment.proxy.get("model", experiment.model)
    own = experiment.model_args if "model" not in experiment.proxy else {}
    return (name, {**own, **experiment.proxy.get("model_args", {})},
            {**experiment.pipeline_args, **experiment.proxy.get("pipeline_args", {})})


def effective(experiment: Experiment, proxy: bool) -> tuple[dict, dict, dict, TrainConfig]:
    """(dataset, train options, test options, config) with the proxy overrides applied."""
    dataset = {"layout": experiment.layout, "split": experiment.split, "train": experiment.train_subset,
               "test": experiment.test_subset}
    train, test, config = dict(experiment.train.options), dict(experiment.test.options), experiment.config
    if proxy:
        overrides = {**PROXY_DEFAULTS, **_loaded_runs_data(experiment), **experiment.proxy}
        synth = {**PROXY_DEFAULTS["synth"], **overrides.get("synth", {})}
        dataset = {"layout": synth["layout"], "split": 1, "train": "train", "test": "test", "synth": synth}
        for options, own in ((train, "train_clips"), (test, "test_clips")):
            options.update({"size": overrides["size"], **overrides.get("clips", {}), **overrides.get(own, {})})
        config = config.replace(**{**PROXY_DEFAULTS["config"], **overrides.get("config", {})})
    return dataset, train, test, config


def _loaded_runs_data(experiment: Experiment) -> dict[str, Any]:
    """The proxy synth and size of the first experiment whose run `experiment` loads: a proxy reads the same
    synthetic data as the runs it builds on (their classifiers and classes fit), unless its `proxy:` says
    otherwise."""
    from .experiments import dependencies, siblings_of

    siblings = siblings_of(experiment)
    loaded = dependencies(experiment, set(siblings))
    if not loaded:
        return {}
    dataset, train, _, _ = effective(siblings[loaded[0]], True)
    return {"synth": dataset["synth"], "size": train["size"]}


def _datasets(experiment: Experiment, dataset: dict, train: dict, test: dict, config: TrainConfig,
              data_root: Path | None, out_dir: Path, decoder: str = DEFAULT_BACKEND):
    layout = get_layout(dataset["layout"])
    if "synth" in dataset:
        from ..data.synth import synthesize

        synth = dataset["synth"]
        digest = hashlib.sha1(json.dumps(synth, sort_keys=True).encode()).hexdigest()[:10]
        data_root = out_dir / "synth" / f"{synth['layout']}-{digest}"  # one folder per generator setting
        synthesize(data_root, **synth)
    if data_root is None:
        raise ValueError(f"{experiment.name} needs --data-root: the folder holding the {layout.name} dataset "
                         f"({layout.description}); or run it with --proxy on synthetic data")
    made = []
    for stage, options, subset in ((experiment.train, train, dataset["train"]), (experiment.test, test,
                                                                                  dataset["test"])):
        samples = layout.samples(Path(data_root), dataset["split"], subset)
        protocol = make_protocol(stage.protocol, **options)
        made.append(VideoDataset(samples, protocol, seed=config.seed, frames=layout.frames,
                                 frame_template=layout.frame_template, decoder=decoder))
    return made


def run_experiment(experiment: Experiment, *, data_root: Path | None = None, device: str = "cpu",
                   resume: bool = False, proxy: bool = False, out_dir: Path = Path("runs"),
                   uri: str | None = None, epochs: int | None = None, show_progress: bool = True,
                   weights: dict[str, Path] | None = None, flow_root: Path | None = None,
                   allow_unreadable_test: float = 0.0, speed: dict | None = None) -> dict:
    """Train and evaluate `experiment`; returns the final evaluation with the run folder and MLflow run.

    An experiment with `dataset.splits` (a full run, not a proxy, which has one synthetic split) is run once
    per split, each in `<run folder>/split<k>` with its own checkpoint, and its record holds the mean of every
    metric over the splits (the papers' "mean accuracy over three splits"), the per-split values and the
    summed confusion matrix. With `--resume` a split that already finished is not run again.
    Evaluation fails when more than `allow_unreadable_test` of the test videos cannot be read.
    `speed` holds the device options (repro.run.speed.resolve's batch, compile, channels_last).
    """
    world: World = setup(device)
    finished = False
    try:
        with unreadable_test_allowance(allow_unreadable_test):
            result = _run(experiment, data_root=data_root, device=device, resume=resume, proxy=proxy,
                          out_dir=out_dir, uri=uri, epochs=epochs, show_progress=show_progress, weights=weights,
                          flow_root=flow_root, world=world, speed=dict(speed or {}))
        finished = True
        return result
    finally:
        teardown(finished)


def _run(experiment: Experiment, *, data_root: Path | None, device: str, resume: bool, proxy: bool, out_dir: Path,
         uri: str | None, epochs: int | None, show_progress: bool, weights: dict[str, Path] | None,
         flow_root: Path | None, world: World, speed: dict) -> dict:
    dataset, train, test, config = effective(experiment, proxy)
    if epochs is not None:
        config = config.replace(epochs=epochs)
    out_dir = Path(out_dir)
    run_dir = out_dir / "runs" / experiment.paper / (experiment.id + ("-proxy" if proxy else ""))
    options = dict(data_root=data_root, device=device, resume=resume, proxy=proxy, out_dir=out_dir,
                   show_progress=show_progress, weights=dict(weights or {}), world=world, flow_root=flow_root,
                   speed=speed)
    splits = () if proxy else experiment.splits
    log = RunLog(run_dir)
    if len(splits) > 1:
        finals, info = {}, None
        for number in splits:
            split_dir = run_dir / f"split{number}"
            done = RunLog(split_dir).read("final.json") if resume else None
            if done is not None and (RunLog(split_dir).read("run.json") or {}).get("status") == "finished":
                finals[number] = done
                continue
            split_dataset = {**dataset, "split": number}
            finals[number], info = _fit_one(replace(experiment, split=number), split_dataset, train, test, config,
                                            split_dir, **options)
            if world.main:
                RunLog(split_dir).finish(finals[number], {})
        if not world.main:
            return finals[splits[-1]]
        final = _mean_over_splits(finals)
        if info is None:  # every split was already finished: the record of the first tells what ran
            info = {k: v for k, v in (RunLog(run_dir / f"split{splits[0]}").read("run.json") or {}).items()
                    if k not in ("status", "pushed")}
        log.start({**info, "dataset": {**dataset, "splits": list(splits)},
                   "split_runs": {str(k): str(run_dir / f"split{k}") for k in splits}})
    else:
        final, info = _fit_one(experiment, dataset, train, test, config, run_dir, log=log, **options)
        if not world.main:
            return final
    cells = {key: final[experiment.metric] for key in experiment.fills}
    log.finish(final, cells)
    final["run_dir"] = str(run_dir)
    uri = tracking_uri(uri)
    try:
        final["mlflow_run"] = push(run_dir, uri)
    except Exception as exc:  # noqa: BLE001 - whatever MLflow raised, the run folder keeps the result
        final["pending_push"] = f"{exc}; the run is kept in {run_dir}: send it with `repro push {run_dir}`"
    return final


def _fit_one(experiment: Experiment, dataset: dict, train: dict, test: dict, config: TrainConfig, run_dir: Path, *,
             data_root: Path | None, device: str, resume: bool, proxy: bool, out_dir: Path, show_progress: bool,
             weights: dict[str, Path], world: World, flow_root: Path | None = None,
             log: RunLog | None = None, speed: dict | None = None) -> tuple[dict, dict]:
    """One training and evaluation of `experiment` on `dataset`'s split; (final metrics, run record)."""
    speed = dict(speed or {})
    decoder = speed.pop("decoder", DEFAULT_BACKEND)
    train_set, test_set = _datasets(experiment, dataset, train, test, config, data_root, out_dir, decoder)
    model_name, model_args, pipeline_args = model_spec(experiment, proxy)
    if proxy:
        model_args["num_classes"] = len({s.label for s in train_set.samples})
    ctx = Context(experiment, train_set, test_set, device, out_dir, run_dir, proxy, model_args, model_name,
                  pipeline_args, weights, resume=resume, world=world, show_progress=show_progress,
                  flow_root=flow_root)
    torch.manual_seed(config.seed)  # the same initial weights in every process and every rerun
    task, train_set, test_set = resolve_pipeline(experiment.pipeline)(ctx)
    run_speed, config, chosen = resolve_speed(task, train_set, config, device=device, model_name=model_name,
                                              **speed)
    chosen["decoder"] = decoder
    log = log or RunLog(run_dir)
    info = {"paper": experiment.paper, "experiment": experiment.name, "proxy": proxy, "device": device,
            "config": config.as_dict(), "speed": chosen, "dataset": dataset, "train": train, "test": test,
            "model": {"name": model_name, "args": model_args}, "pipeline": experiment.pipeline,
            "pipeline_args": pipeline_args, "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "world_size": world.size, "tags": {"repro.table": ",".join(sorted({k[0] for k in experiment.fills}))}}
    if world.main:
        if not resume and any((run_dir / name).is_file() for name in RUN_FILES):
            print(f"{run_dir}: replacing the earlier run there (--resume continues it instead)", file=sys.stderr)
        log.start(info, fresh=not resume)
    result: FitResult = fit(task, train_set, test_set, config, run_dir=run_dir, device=device, world=world,
                            resume=resume, log=log.epoch if world.main else None, show_progress=show_progress,
                            speed=run_speed)
    return dict(result.final), info


def _mean_over_splits(finals: dict[int, dict]) -> dict:
    """The mean of each numeric metric over the splits, the per-split values, and the summed confusion."""
    numeric = [k for k, v in next(iter(finals.values())).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    mean = {k: sum(float(f[k]) for f in finals.values()) / len(finals) for k in numeric
            if all(k in f for f in finals.values())}
    per_split = {f"split{n}_{k}": float(f[k]) for n, f in finals.items() for k in numeric if k in f}
    for count in ("videos", "videos_total"):  # counts over the splits add up
        if all(count in f for f in finals.values()):
            mean[count] = sum(int(f[count]) for f in finals.values())
    confusions = [f["confusion"] for f in finals.values() if f.get("confusion") is not None]
    summed = None
    if len(confusions) == len(finals) and len({len(c) for c in confusions}) == 1:
        summed = [[sum(c[i][j] for c in confusions) for j in range(len(confusions[0]))]
                  for i in range(len(confusions[0]))]
    unreadable = [x for f in finals.values() for x in f.get("unreadable", [])]
    return {**mean, **per_split, "splits": sorted(finals), "confusion": summed, "unreadable": unreadable}
