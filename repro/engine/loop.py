"""The training and evaluation loop every pipeline uses.

A `Task` says what is trained (a model, a loss, how a batch becomes logits); `fit` trains it for the
configured epochs with a checkpoint after each, resumes from one, evaluates, and returns the history.
Determinism: epoch e re-seeds torch with (seed, e) and the data order and augmentation draw from
(seed, e) too, so a run resumed after epoch e - 1 continues exactly as an uninterrupted one (on CPU).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..atomic import remove_stale_temps
from ..data.dataset import collate
from ..data.skips import SkipLog, TooManyUnreadable
from ..errors import UsageError
from . import checkpoint as ckpt
from .config import TrainConfig
from .distributed import SINGLE, EpochSampler, World, gather
from .metrics import NOT_METRICS, per_video_correct, summarize, video_scores
from .optim import Schedule, make_optimizer
from .speed import (DEFAULT_SPEED, Speed, peak_memory_mb, prepare_device, reset_peak_memory, synchronize,
                    to_channels_last)
from .step import TrainStep, to_device


def views_forward(model: torch.nn.Module, views: torch.Tensor) -> torch.Tensor:
    """(B, V, ...) views to (B, V, K) logits, every view through the model on its own."""
    batch, count = views.shape[:2]
    return model(views.flatten(0, 1)).reshape(batch, count, -1)


def mean_view_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the views' mean logits (TSN's average consensus; one view: plain cross-entropy)."""
    return F.cross_entropy(logits.mean(1) if logits.ndim == 3 else logits, labels)


@dataclass
class Task:
    model: torch.nn.Module
    forward: Callable[[torch.nn.Module, Any], torch.Tensor] = views_forward
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = mean_view_loss
    parameters: Callable[[torch.nn.Module], Any] | None = None  # what the optimiser updates (default: all)


# The share of unreadable test videos an evaluation may leave out (`repro run --allow-unreadable-test`);
# by default none: a result over fewer test videos than the split holds is not the paper's number.
_TEST_ALLOWANCE: ContextVar[float] = ContextVar("unreadable_test_allowance", default=0.0)
TRAIN_ALLOWANCE = 0.05  # the share of unreadable training videos a run tolerates by default


@contextmanager
def unreadable_test_allowance(share: float) -> Iterator[None]:
    """Within the block, every evaluation passes with up to `share` of its test videos unreadable."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the allowed share of unreadable test videos must be within [0, 1], got {share!r}")
    token = _TEST_ALLOWANCE.set(share)
    try:
        yield
    finally:
        _TEST_ALLOWANCE.reset(token)


def check_evaluation(final: dict) -> None:
    """Raise TooManyUnreadable when an evaluation left out more test videos than allowed."""
    total, skipped = final.get("videos_total"), final.get("unreadable", [])
    if not total or not skipped:
        return
    log = SkipLog(max_share=_TEST_ALLOWANCE.get(), seen=int(total),
                  skipped=[(x["path"], x["reason"]) for x in skipped])
    try:
        log.check()
    except TooManyUnreadable as exc:
        said = str(exc).replace("samples unreadable", "test videos unreadable", 1)
        raise TooManyUnreadable(f"evaluation: {said}\n  (allow a share with --allow-unreadable-test, e.g. 0.05; "
                                f"the result then says over how many test videos it was computed)") from None


class Stop(Exception):
    """Raised by an `on_step` hook to stop a run where it is, as a kill would (tests use it)."""


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    final: dict = field(default_factory=dict)
    resumed_from: int | None = None


# Epoch metrics that measure the machine, not the model: a resumed run repeats every other metric exactly.
MACHINE_METRICS = ("epoch_seconds", "clips_per_second", "compile_seconds", "peak_memory_mb", "train_tflops", "mfu")
PROGRESS_EVERY = 10  # steps between progress-bar texts: each reads the loss back from the device
PREFETCH_BATCHES = 4  # per worker: decoding is bursty, and a deeper queue keeps a fast GPU fed


def make_loader(dataset, batch_size: int, *, workers: int, sampler) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                                       collate_fn=getattr(dataset, "collate", collate),
                                       persistent_workers=workers > 0, pin_memory=torch.cuda.is_available(),
                                       prefetch_factor=PREFETCH_BATCHES if workers else None,
                                       timeout=600 if workers else 0)


def _set_epoch(epoch: int, *objects) -> None:
    for obj in objects:
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)


def evaluate(task: Task, dataset, *, batch_size: int, device: str, world: World = SINGLE, workers: int = 0,
             progress: Callable[[int], None] | None = None) -> dict:
    """Video-level top-1/top-5/mean-class accuracy and loss over `dataset` (each rank a share, gathered),
    with the number of videos it covers (`videos` of `videos_total`), the unreadable ones left out, and whether
    each video's top-1 is right (`per_video`, for a paired comparison of two models on the same videos)."""
    sampler = EpochSampler(len(dataset), shuffle=False, world=world)
    loader = make_loader(dataset, batch_size, workers=workers, sampler=sampler)
    model = task.model.eval()
    scores, labels, indices, loss_sum, unreadable = [], [], [], 0.0, {}
    with torch.inference_mode():
        for batch in loader:
            unreadable.update({item.index: (item.path, item.reason) for item in batch.skipped})
            if len(batch.labels) == 0:
                continue
            logits = task.forward(model, to_device(batch.views, device)).float().cpu()
            loss_sum += float(task.loss(logits, batch.labels)) * len(batch.labels)
            scores.append(video_scores(logits))
            labels.append(batch.labels)
            indices.append(batch.indices)
            if progress:
                progress(len(batch.labels))
    parts = gather((torch.cat(scores) if scores else torch.empty(0), torch.cat(labels) if labels else
                    torch.empty(0, dtype=torch.long), torch.cat(indices) if indices else
                    torch.empty(0, dtype=torch.long), loss_sum, unreadable), world)
    seen, all_scores, all_labels, all_indices, total_loss, left_out = set(), [], [], [], 0.0, {}
    for part_scores, part_labels, part_indices, part_loss, part_unreadable in parts:
        total_loss += part_loss
        left_out.update(part_unreadable)
        for s, y, i in zip(part_scores, part_labels, part_indices.tolist(), strict=True):
            if i not in seen:  # the sampler pads ranks with repeats
                seen.add(i)
                all_scores.append(s)
                all_labels.append(y)
                all_indices.append(i)
    if not all_scores:
        raise TooManyUnreadable(f"evaluation: none of the {len(dataset)} test videos could be read"
                                + "".join(f"\n  {path}: {reason}" for path, reason in list(left_out.values())[:10]))
    result = summarize(torch.stack(all_scores), torch.stack(all_labels))
    result["per_video"] = per_video_correct(torch.stack(all_scores), torch.stack(all_labels), all_indices)
    result["loss"] = total_loss / max(sum(len(p[1]) for p in parts), 1)
    result["videos"], result["videos_total"] = len(seen), len(seen | set(left_out))
    result["unreadable"] = [{"path": path, "reason": reason} for _, (path, reason) in sorted(left_out.items())]
    return result


def fit(task: Task, train_set, val_set, config: TrainConfig, *, run_dir: Path, device: str = "cpu",
        world: World = SINGLE, resume: bool = False, log: Callable[[int, dict], None] | None = None,
        on_step: Callable[[int, int], None] | None = None, skips: SkipLog | None = None,
        show_progress: bool = True, speed: Speed = DEFAULT_SPEED) -> FitResult:
    """Train `task` on `train_set`, evaluate on `val_set` every `eval_every` epochs and at the end.

    `run_dir/checkpoint.pt` is rewritten atomically after every epoch; `resume=True` continues from it
    (the config must be the same). `log(epoch, metrics)` receives each epoch's metrics (rank 0 only), before
    the epoch's checkpoint is written, so a kill between the two repeats the epoch and loses nothing.
    `skips` records the unreadable training videos (kept in the checkpoint, so a resumed run continues its
    counts); each evaluation records its own, and the final one fails past `unreadable_test_allowance`.
    `speed` says how the device is used (repro.engine.speed); each epoch logs its throughput, peak memory
    and, where `speed` knows the FLOPs and the peak, its model FLOPs utilisation.
    """
    run_dir = Path(run_dir)
    remove_stale_temps(run_dir)  # a killed run's half-written checkpoint
    path = run_dir / "checkpoint.pt"
    prepare_device(device)
    model = task.model.to(device)
    layout = speed.layout(model, device)
    if layout:
        to_channels_last(model)
    train_model = model
    if world.distributed:
        ids = [world.local_rank] if device.startswith("cuda") else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if speed.compile:
        train_model = torch.compile(train_model)
    params = task.parameters(model) if task.parameters else [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, config)
    schedule = Schedule(optimizer, config)
    train_step = TrainStep(task, train_model, optimizer, device=device, amp=config.amp, amp_dtype=config.amp_dtype,
                           grad_clip=config.grad_clip, layout=layout)
    result, start_epoch = FitResult(), 0
    if resume and path.is_file():
        state = ckpt.load(path)
        changed = config.changes_from(state["config"])
        if changed:
            raise UsageError(f"{path}: cannot resume with a different config (changed: {', '.join(changed)}); "
                             f"rerun without --resume, or with the settings of that run")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if state["scaler"] and train_step.scaler.is_enabled():  # empty without fp16 loss scaling
            train_step.scaler.load_state_dict(state["scaler"])
        ckpt.set_rng_state(state["rng"])
        result.history, start_epoch = state["history"], state["epoch"] + 1
        result.resumed_from = state["epoch"]
    skips = skips or SkipLog(max_share=TRAIN_ALLOWANCE)
    if world.distributed:
        skips.min_seen = 2**62  # no rank stops alone mid-epoch (the others would wait for it): judged together
    if result.resumed_from is not None and "skips" in state:
        skips.restore(state["skips"])
    sampler = EpochSampler(len(train_set), seed=config.seed, shuffle=True, world=world)
    loader = make_loader(train_set, config.batch_size, workers=config.workers, sampler=sampler)
    compiling = speed.compile
    for epoch in range(start_epoch, config.epochs):
        torch.manual_seed(config.seed * 100_003 + epoch)
        _set_epoch(epoch, sampler, train_set)
        schedule.start_epoch(epoch)
        train_model.train()
        reset_peak_memory(device)
        began, seen, compile_seconds, compile_clips = time.perf_counter(), 0, None, 0
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)  # read once per PROGRESS_EVERY steps
        with _progress(len(loader), f"epoch {epoch + 1}/{config.epochs}", show_progress and world.main) as bar:
            for step, batch in enumerate(loader):
                for item in batch.skipped:
                    skips.skip(item.path, item.reason)
                if on_step is not None:
                    on_step(epoch, step)
                if len(batch.labels) == 0:
                    bar(None)
                    continue
                for _ in batch.labels:
                    skips.ok()
                if compiling:  # the first step compiles: timed apart, and left out of the epoch's rate
                    first = time.perf_counter()
                    loss = train_step(batch.views, batch.labels)
                    synchronize(device)
                    compile_seconds, compile_clips, compiling = time.perf_counter() - first, len(batch.labels), False
                else:
                    loss = train_step(batch.views, batch.labels)
                seen += len(batch.labels)
                loss_sum += loss.double() * len(batch.labels)
                if (step + 1) % PROGRESS_EVERY == 0 or step + 1 == len(loader):
                    rate = seen * world.size / (time.perf_counter() - began)  # estimate: ranks run alike
                    bar(f"loss {float(loss_sum) / seen:.4f} · {rate:.1f} clips/s · lr {schedule.lr:.3g}")
                else:
                    bar(None)
        synchronize(device)
        seconds = time.perf_counter() - began
        loss_total = float(loss_sum)
        if world.distributed:  # the epoch's loss over every rank's clips, not rank 0's share
            totals = torch.tensor([loss_total, float(seen)], dtype=torch.float64)
            torch.distributed.all_reduce(totals)
            loss_total, seen = float(totals[0]), int(totals[1])
            _judge_skips_together(skips, world)
        metrics = {"train_loss": loss_total / max(seen, 1), "lr": schedule.lr, "epoch_seconds": seconds,
                   **_speed_metrics(speed, device, world, seen, seconds, compile_seconds, compile_clips)}
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            evaluation = evaluate(task, val_set, batch_size=config.batch_size, device=device, world=world,
                                  workers=config.workers)
            metrics.update({f"val_{k}": v for k, v in evaluation.items() if k not in NOT_METRICS})
            result.final = evaluation
        schedule.end_epoch(metrics.get("val_loss"))
        result.history.append(metrics)
        if world.main:
            if log is not None:
                log(epoch, metrics)
            ckpt.save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "schedule": schedule.state_dict(), "scaler": train_step.scaler.state_dict(),
                              "rng": ckpt.rng_state(), "epoch": epoch, "history": result.history,
                              "config": config.as_dict(), "final": result.final, "skips": skips.as_json()}, path)
    if config.epochs == 0:
        result.final = evaluate(task, val_set, batch_size=config.batch_size, device=device, world=world,
                                workers=config.workers)
    elif resume and start_epoch >= config.epochs and path.is_file():
        result.final = ckpt.load(path).get("final", {})  # already complete: report what it found
    if world.distributed:
        _judge_skips_together(skips, world, final=True)
    skips.check()
    check_evaluation(result.final)
    return result


def _speed_metrics(speed: Speed, device: str, world: World, seen: int, seconds: float,
                   compile_seconds: float | None, compile_clips: int) -> dict:
    """Throughput (clips/s over every rank, the compiling step left out), peak memory, and where known the
    achieved TFLOP/s (3 x 2 x MACs per clip) and its share of the ranks' measured matmul peak (MFU)."""
    timed_clips, timed_seconds = seen - compile_clips * world.size, seconds - (compile_seconds or 0.0)
    if timed_clips <= 0 or timed_seconds <= 0:  # an epoch of one step: nothing was timed apart from compiling
        timed_clips, timed_seconds = seen, seconds
    rate = timed_clips / max(timed_seconds, 1e-9)
    out = {"clips_per_second": rate, "peak_memory_mb": peak_memory_mb(device)}
    if compile_seconds is not None:
        out["compile_seconds"] = compile_seconds
    if speed.flops_per_clip:
        out["train_tflops"] = speed.flops_per_clip * rate / 1e12
        if speed.peak_flops:
            out["mfu"] = speed.flops_per_clip * rate / (speed.peak_flops * world.size)
    return out


def _judge_skips_together(skips: SkipLog, world: World, final: bool = False) -> None:
    """Under DDP every rank checks the union of the ranks' skip logs, so they all stop together or none does."""
    parts = gather((skips.seen, skips.skipped), world)
    union = SkipLog(max_share=skips.max_share, seen=sum(seen for seen, _ in parts),
                    skipped=[entry for _, skipped in parts for entry in skipped])
    union.check(final=final)


class _progress:
    """A rich progress bar for one epoch (stderr): `bar(text)` advances it a step, and a text (loss,
    throughput, lr) replaces the description; `bar(None)` only advances."""

    def __init__(self, total: int, what: str, enabled: bool):
        self.total, self.what, self.enabled = total, what, enabled

    def __enter__(self):
        if not self.enabled:
            return lambda text: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True))
        self.bar.__enter__()
        task = self.bar.add_task(self.what, total=self.total)

        def advance(text: str | None) -> None:
            if text is None:
                self.bar.update(task, advance=1)
            else:
                self.bar.update(task, advance=1, description=f"{self.what} · {text}")
        return advance

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)
        return False
