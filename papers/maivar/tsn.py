"""MAiVAR Table I "TSN (RGB) [4]": BN-Inception TSN trained end to end with tsn-pytorch's recipe."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from repro.data import transforms as T
from repro.engine.loop import Task
from repro.run.runner import Context

CAFFE_BGR_MEAN = (104.0, 117.0, 128.0)  # tsn-pytorch's BN-Inception input: BGR, 0-255, std 1 (sources.md "MAiVAR")


def convert_input(x: torch.Tensor, source_mean, source_std, target: str) -> torch.Tensor:
    """(N, C, ...) frames normalised by the protocol (x - mean) / std, renormalised for the extractor:
    `protocol` leaves them, `caffe_bgr` gives TSN's BN-Inception input (BGR order, 0-255 minus [104, 117, 128])."""
    if target == "protocol":
        return x
    if target != "caffe_bgr":
        raise ValueError(f"video normalize must be 'protocol' or 'caffe_bgr', got {target!r}")
    shape = (1, -1) + (1,) * (x.ndim - 2)
    raw = x * torch.tensor(source_std, dtype=x.dtype, device=x.device).view(shape) + torch.tensor(
        source_mean, dtype=x.dtype, device=x.device).view(shape)
    return raw.flip(1) - torch.tensor(CAFFE_BGR_MEAN, dtype=x.dtype, device=x.device).view(shape)


class TSN(nn.Module):
    """TSN RGB (Wang et al. 2016; yjxiong/tsn-pytorch models.py): a 2D backbone on each segment's frame, average
    consensus of the segments' scores. (B, V, C, 1, H, W) views -> (B, 1, K).

    Training (train_tsn, 3 segments): the consensus is the mean of the segment logits, and the loss is its
    cross-entropy, as tsn-pytorch. Testing (tsn_10crop, 25 segments x 10 crops): test_models.py averages the raw
    scores over crops, then segments, i.e. the mean logit over all V views (`test_average: logits`); with
    `softmax` the per-view logits are returned and the engine averages their softmax. Views are run through
    the backbone `chunk` images at a time. `partial_bn` (tsn-pytorch partialBN): every batch norm but the first
    stays in eval mode while training, and only the first one's scale and shift are trained.
    """

    def __init__(self, backbone: nn.Module, *, normalize: str = "caffe_bgr", mean: Sequence[float] = T.KINETICS_MEAN,
                 std: Sequence[float] = (1.0, 1.0, 1.0), test_average: str = "logits", partial_bn: bool = True,
                 chunk: int = 256):
        super().__init__()
        if test_average not in ("logits", "softmax"):
            raise ValueError(f"test_average must be 'logits' or 'softmax', got {test_average!r}")
        self.backbone, self.normalize, self.mean, self.std = backbone, normalize, tuple(mean), tuple(std)
        self.test_average, self.chunk = test_average, chunk
        norms = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.frozen_norms = norms[1:] if partial_bn else []
        for norm in self.frozen_norms:
            norm.requires_grad_(False)

    def train(self, mode: bool = True) -> TSN:
        super().train(mode)
        for norm in self.frozen_norms:
            norm.eval()
        return self

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        batch, count = views.shape[:2]
        if views.shape[3] != 1:
            raise ValueError(f"TSN RGB takes one frame per segment, got {views.shape[3]}")
        x = convert_input(views.flatten(0, 1)[:, :, 0], self.mean, self.std, self.normalize)
        logits = torch.cat([self.backbone(part) for part in x.split(self.chunk)]).reshape(batch, count, -1)
        if self.training or self.test_average == "logits":
            return logits.mean(1, keepdim=True)
        return logits


def whole_video_forward(model: nn.Module, views: torch.Tensor) -> torch.Tensor:
    """All (B, V, ...) views of a batch to the model at once: TSN's consensus needs every segment of a video."""
    return model(views)


def tsn_optim_policies(model: nn.Module) -> list[dict]:
    """tsn-pytorch TSN.get_optim_policies: conv and linear weights at lr x1 with weight decay, their biases at
    lr x2 without decay, trainable batch-norm parameters (the first BN under partial BN) at lr x1 without
    decay (`lr_mult` is honoured by the engine's schedule; a group's weight_decay by torch's SGD)."""
    weights, biases, norms = [], [], []
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            weights += [p for p in (module.weight,) if p.requires_grad]
            biases += [p for p in (module.bias,) if p is not None and p.requires_grad]
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            norms += [p for p in module.parameters(recurse=False) if p.requires_grad]
    groups = [{"params": weights, "lr_mult": 1.0}, {"params": biases, "lr_mult": 2.0, "weight_decay": 0.0},
              {"params": norms, "lr_mult": 1.0, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def tsn_rgb(ctx: Context) -> tuple[Task, Any, Any]:
    """Table I "TSN (RGB) [4]": BN-Inception TSN trained on the 51-class subset (experiments.yaml tsn-rgb notes:
    yjxiong/tsn-pytorch's UCF101 RGB recipe). ImageNet initialisation from `--weights pretrained=PATH`
    (Cadene's bninception by order: `pretrained_source`, default cadene; its 1000-class FC is not loaded); a full
    run without it is refused, a proxy run starts from scratch. pipeline_args: consensus (avg), partial_bn,
    tsn_lr_policy (tsn_optim_policies), test_average (logits | softmax), normalize (caffe_bgr, the default:
    tsn-pytorch feeds BGR 0-255 minus [104, 117, 128] for BN-Inception, or protocol).
    """
    args = ctx.pipeline_args
    if args.get("consensus", "avg") != "avg":
        raise NotImplementedError(f"only TSN's average consensus is implemented, got {args.get('consensus')!r}")
    backbone = ctx.build_model()
    args.setdefault("pretrained_source", "cadene")
    if ctx.load_weights(backbone, "pretrained", skip=("fc.",)) is None and not ctx.proxy:
        raise ValueError(f"{ctx.experiment.name} starts from ImageNet BN-Inception: pass --weights pretrained=PATH "
                         f"({args.get('pretrained', 'the ImageNet checkpoint')})")
    protocol = ctx.train_set.protocol
    model = TSN(backbone, normalize=str(args.get("normalize", "caffe_bgr")), mean=protocol.mean, std=protocol.std,
                test_average=str(args.get("test_average", "logits")), partial_bn=bool(args.get("partial_bn", True)))
    parameters = tsn_optim_policies if args.get("tsn_lr_policy", True) else None
    return Task(model, forward=whole_video_forward, parameters=parameters), ctx.train_set, ctx.test_set
