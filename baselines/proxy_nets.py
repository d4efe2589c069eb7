"""Small video CNNs for the proxy checks only: the papers' own modules on top of a backbone that trains
in seconds on CPU. Never used for a published cell.

`small3d` convolves over time (3x3x3 kernels, the "expensive" kind of model); `small2d` is the same
network with 1x3x3 kernels, so it sees frames one at a time and pools over time only at the end (the
"cheap" kind, like FASTER's R2D). Both expose `features` (pooled, (N, C)) and `feature_map`
((N, C, t, h, w)) for heads that aggregate clips or distil features, and `fc`, the classifier.
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models import register


def _stage(in_channels: int, out_channels: int, temporal: bool, stride: tuple[int, int, int]) -> nn.Sequential:
    kernel, padding = ((3, 3, 3), (1, 1, 1)) if temporal else ((1, 3, 3), (0, 1, 1))
    return nn.Sequential(nn.Conv3d(in_channels, out_channels, kernel, stride, padding, bias=False),
                         nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True))


class SmallVideoNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, width: int, temporal: bool):
        super().__init__()
        time_stride = 2 if temporal else 1
        self.stages = nn.Sequential(
            _stage(in_channels, width, temporal, (1, 2, 2)),
            _stage(width, 2 * width, temporal, (time_stride, 2, 2)),
            _stage(2 * width, 4 * width, temporal, (time_stride, 2, 2)),
            _stage(4 * width, 8 * width, temporal, (1, 2, 2)),
        )
        self.out_channels = 8 * width
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(self.out_channels, num_classes)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.feature_map(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 8), reference_input=(1, 3, 8, 64, 64))
def small3d(num_classes: int = 8, in_channels: int = 3, width: int = 16) -> SmallVideoNet:
    """Proxy-only 3D CNN: four 3x3x3 conv-BN-ReLU stages (widths w, 2w, 4w, 8w), average pooling, fc.

    Input: (N, C, T, H, W), e.g. (N, 3, 8, 64, 64) on the synthetic datasets. Not from any paper: the
    smallest network with temporal kernels that learns the synthetic direction classes on CPU.
    """
    return SmallVideoNet(num_classes, in_channels, width, temporal=True)


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 8), reference_input=(1, 3, 8, 64, 64))
def small2d(num_classes: int = 8, in_channels: int = 3, width: int = 16) -> SmallVideoNet:
    """Proxy-only frame-wise CNN: `small3d` with 1x3x3 kernels and no temporal stride, so it cannot see
    motion until the final average over time (the cheap model in FASTER-style proxies).

    Input: (N, C, T, H, W), e.g. (N, 3, 8, 64, 64).
    """
    return SmallVideoNet(num_classes, in_channels, width, temporal=False)
