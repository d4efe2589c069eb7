"""3D-ShuffleNetV2, the "3D-ShuffleNet" backbone of GCF-Net (Table 3: 6.64M params, 600 classes).

Written to okankop/Efficient-3DCNNs models/shufflenetv2.py (Köpüklü et al. 2019), as summarised in
../shared/notes/sources.md ("GCF-Net backbones"): ShuffleNetV2 (Ma et al. 2018) with 3D kernels.
The stem is a 3x3x3 conv with stride (1, 2, 2) and a 3x3x3 max-pool with stride 2; every stage's
first unit strides 2 in T, H and W. Channel shuffle is a reshape/transpose and carries no MACs.

Cost at (1, 3, 16, 112, 112), 600 classes: 6,639,816 params; 424.91M MACs (repro.measure.flops). The paper's
360 MFLOPs is what Efficient-3DCNNs' own counter (thop/count_hooks.py) prints: it divides each conv's
output size by the stride a second time, and adds BN, ReLU, max-pool (2 per output: its kernel_size is
the int 3) and 2*in-1 per linear output; re-running that arithmetic on this model gives 360.4M.

Input: (N, 3, T, H, W), e.g. (N, 3, 16, 112, 112). Output: (N, num_classes) logits.
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models import register

# Channels of (stem, stage2, stage3, stage4, conv_last) per width multiplier (Efficient-3DCNNs).
STAGE_OUT_CHANNELS: dict[float, tuple[int, int, int, int, int]] = {
    0.25: (24, 32, 64, 128, 1024),
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 224, 488, 976, 2048),
}
STAGE_REPEATS = (4, 8, 4)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(N, g*c, T, H, W) -> interleave the g groups channel-wise (ShuffleNet Sec. 3.1)."""
    n, channels, t, h, w = x.shape
    return x.view(n, groups, channels // groups, t, h, w).transpose(1, 2).reshape(n, channels, t, h, w)


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int | tuple[int, int, int] = 1,
            groups: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv3d (no bias, 'same' padding) + BN (+ ReLU). The depthwise convs have no ReLU (ShuffleNetV2 Fig. 3)."""
    layers: list[nn.Module] = [
        nn.Conv3d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm3d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ShuffleUnit3d(nn.Module):
    """ShuffleNetV2 unit (Ma et al. Fig. 3c/d), 3D.

    Stride 1: split the channels in half, transform one half (1x1x1, 3x3x3 depthwise, 1x1x1), concat.
    Stride 2: both branches see the whole input; branch 1 is depthwise 3x3x3 + 1x1x1. Then shuffle.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        branch_channels = out_channels // 2
        branch2_in = in_channels if stride == 2 else branch_channels
        self.branch1 = nn.Sequential(
            conv_bn(in_channels, in_channels, 3, stride, groups=in_channels, relu=False),
            conv_bn(in_channels, branch_channels, 1)) if stride == 2 else None
        self.branch2 = nn.Sequential(
            conv_bn(branch2_in, branch_channels, 1),
            conv_bn(branch_channels, branch_channels, 3, stride, groups=branch_channels, relu=False),
            conv_bn(branch_channels, branch_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch1 is None:
            kept, transformed = x.chunk(2, dim=1)
            out = torch.cat((kept, self.branch2(transformed)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNet3D(nn.Module):
    """3D-ShuffleNetV2: stem conv + max-pool, stages of (4, 8, 4) units, 1x1x1 conv_last, pool, dropout, FC."""

    def __init__(self, num_classes: int = 600, width_mult: float = 2.0):
        super().__init__()
        if width_mult not in STAGE_OUT_CHANNELS:
            raise ValueError(f"width_mult must be one of {sorted(STAGE_OUT_CHANNELS)}, got {width_mult}")
        stem, *stage_channels, last = STAGE_OUT_CHANNELS[width_mult]
        self.feature_dim = last
        self.conv1 = conv_bn(3, stem, 3, stride=(1, 2, 2))
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        units: list[nn.Module] = []
        in_channels = stem
        for repeats, out_channels in zip(STAGE_REPEATS, stage_channels, strict=True):
            for i in range(repeats):
                units.append(ShuffleUnit3d(in_channels, out_channels, 2 if i == 0 else 1))
                in_channels = out_channels
        self.features = nn.Sequential(*units)
        self.conv_last = conv_bn(in_channels, last, 1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The globally pooled clip descriptor, (N, feature_dim): what GCF-Net's head consumes."""
        x = self.conv_last(self.features(self.maxpool(self.conv1(x))))
        return nn.functional.adaptive_avg_pool3d(x, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


@register(example_input=(1, 3, 8, 16, 16), example_output=(1, 600))
def shufflenetv2_3d(num_classes: int = 600, width_mult: float = 2.0, sample_size: int = 112) -> ShuffleNet3D:
    """3D-ShuffleNetV2 2.0x, GCF-Net's "3D-ShuffleNet" (Sec. 4.2, Table 3; Efficient-3DCNNs shufflenetv2.py,
    ../shared/notes/sources.md).

    Input: (N, 3, 16, 112, 112). The stem, max-pool and three stride-2 stages take it to 1x4x4 before
    conv_last; `sample_size` is only checked (divisible by 16, as Efficient-3DCNNs asserts).
    """
    if sample_size % 16:
        raise ValueError(f"sample_size must be divisible by 16, got {sample_size}")
    return ShuffleNet3D(num_classes=num_classes, width_mult=width_mult)
