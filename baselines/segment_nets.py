"""Segment networks: a 2D CNN on each sampled frame, scores averaged over the frames.

- TSN (Wang et al., ECCV 2016; yjxiong/tsn-pytorch models.py): one frame per segment through BN-Inception or
  ResNet-50, dropout, an FC, and the average ("avg consensus"). tsn-pytorch applies the FC to each frame and
  averages the scores; MMAction2's TSNHead (configs/_base_/models/tsn_r50.py) averages the features and
  applies the FC once, which is where its published FLOPs count the FC (`fc="video"`).
- TSM (Lin et al., ICCV 2019; mit-han-lab/temporal-shift-module ops/temporal_shift.py and ops/models.py):
  TSN on ResNet-50 with a temporal shift on the input of every bottleneck's residual branch: with
  `fold = channels // 8`, frame t takes channels [0, fold) from frame t+1 and [fold, 2 fold) from frame t-1,
  zeros at the ends; the identity path is not shifted (`shift_place='blockres'`, `shift_div=8`). The shift
  has no parameters and no multiply-adds. TSM applies the FC per frame before averaging.

Input: (N, 3, T, H, W) video, T = the number of segments (8 in TSM's and TSN's Kinetics models), 224x224.
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models import register

from .bninception import BNInception
from .resnet2d import ResNet2D


class TemporalShift(nn.Module):
    """TSM's shift over (N*T, C, H, W) frames of clips of `segments` frames; no weights."""

    def __init__(self, segments: int, fold_div: int = 8):
        super().__init__()
        self.segments, self.fold_div = segments, fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames, channels = x.shape[0], x.shape[1]
        clip = x.view(frames // self.segments, self.segments, *x.shape[1:])
        fold = channels // self.fold_div
        out = torch.zeros_like(clip)
        out[:, :-1, :fold] = clip[:, 1:, :fold]  # from the next frame
        out[:, 1:, fold:2 * fold] = clip[:, :-1, fold:2 * fold]  # from the previous frame
        out[:, :, 2 * fold:] = clip[:, :, 2 * fold:]
        return out.view_as(x)


class SegmentNet(nn.Module):
    """A 2D backbone with `features` and `fc` run on each frame of (N, 3, T, H, W), scores averaged."""

    def __init__(self, backbone: nn.Module, segments: int, fc: str = "frame"):
        super().__init__()
        if fc not in ("frame", "video"):
            raise ValueError(f"fc must be 'frame' (per frame, then the average) or 'video' (once), got {fc!r}")
        self.backbone, self.segments, self.fc_where = backbone, segments, fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        if t != self.segments:
            raise ValueError(f"this network was built for {self.segments} segments, the input has {t} frames")
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        features = self.backbone.features(frames)
        if self.fc_where == "video":
            return self.backbone.fc(self.backbone.dropout(features.view(n, t, -1).mean(1)))
        return self.backbone.fc(self.backbone.dropout(features)).view(n, t, -1).mean(1)


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 8, 224, 224))
def tsn_resnet50(num_classes: int = 400, segments: int = 8, fc: str = "video", dropout: float = 0.4) -> SegmentNet:
    """TSN with ResNet-50, as MMAction2 builds it (tsn_r50.py: dropout 0.4, the FC after the average).
    Input (N, 3, T, 224, 224) with T = segments."""
    return SegmentNet(ResNet2D(50, num_classes, dropout=dropout), segments, fc)


@register(example_input=(1, 3, 8, 64, 64), example_output=(1, 400), reference_input=(1, 3, 8, 224, 224))
def tsn_bninception(num_classes: int = 400, segments: int = 8, dropout: float = 0.8) -> SegmentNet:
    """TSN with BN-Inception (yjxiong/tsn-pytorch: dropout 0.8 before the new FC, the FC per frame).
    Input (N, 3, T, 224, 224) with T = segments."""
    return SegmentNet(BNInception(num_classes, dropout=dropout), segments, "frame")


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 8, 224, 224))
def tsm_resnet50(num_classes: int = 400, segments: int = 8, shift_div: int = 8, dropout: float = 0.5,
                 depth: int = 50) -> SegmentNet:
    """TSM on ResNet-50 (or `depth=101`): residual shift in every bottleneck, the FC per frame.
    Input (N, 3, T, 224, 224) with T = segments."""
    backbone = ResNet2D(depth, num_classes, shift=lambda _: TemporalShift(segments, shift_div), dropout=dropout)
    return SegmentNet(backbone, segments, "frame")
