"""Accuracy metrics over video-level scores: top-1, top-5, mean per-class accuracy, confusion matrix.

Multi-view testing averages the softmax of a video's views (clips x crops) into one score per video,
as 3D-ResNets, MARS and MMAction2 do; TSN averages over crops then segments, which for a plain mean is
the same number.
"""
from __future__ import annotations

import torch

PER_VIDEO = ("confusion", "per_video")  # an evaluation's per-class and per-video entries, kept apart from its summary
NOT_METRICS = (*PER_VIDEO, "unreadable")  # an evaluation's entries that are not one number


def video_scores(logits: torch.Tensor) -> torch.Tensor:
    """(B, V, K) logits of V views to (B, K) video scores: the mean softmax over views."""
    if logits.ndim == 2:
        return logits.softmax(-1)
    return logits.softmax(-1).mean(1)


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    k = min(k, scores.shape[-1])
    return (scores.topk(k, dim=-1).indices == labels[:, None]).any(-1)


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    index = labels.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def summarize(scores: torch.Tensor, labels: torch.Tensor) -> dict:
    """top1 / top5 / mean per-class accuracy (%) and the confusion matrix of (N, K) scores."""
    if len(labels) == 0:
        raise ValueError("no videos were evaluated (every sample skipped?)")
    num_classes = scores.shape[-1]
    matrix = confusion_matrix(scores.argmax(-1), labels, num_classes)
    per_class = matrix.diag().float() / matrix.sum(1).clamp(min=1).float()
    present = matrix.sum(1) > 0  # classes absent from the test set do not count towards the mean
    return {"top1": 100.0 * topk_correct(scores, labels, 1).float().mean().item(),
            "top5": 100.0 * topk_correct(scores, labels, 5).float().mean().item(),
            "mean_class": 100.0 * per_class[present].mean().item(),
            "videos": int(len(labels)), "confusion": matrix.tolist()}


def per_video_correct(scores: torch.Tensor, labels: torch.Tensor, indices: list[int]) -> list[list[int]]:
    """[[dataset index, 1 if the top-1 is right else 0], ...] in index order."""
    right = (scores.argmax(-1) == labels).long().tolist()
    return sorted([int(i), r] for i, r in zip(indices, right, strict=True))


def exact_mcnemar(a_only: int, b_only: int) -> float:
    """Two-sided p-value of McNemar's exact test: of the videos exactly one of two models gets right, A gets
    `a_only` and B `b_only`; under no difference each is A's with probability 1/2 (a binomial test)."""
    from scipy.stats import binomtest

    discordant = a_only + b_only
    return 1.0 if discordant == 0 else float(binomtest(a_only, discordant, 0.5).pvalue)
