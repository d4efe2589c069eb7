"""ARTNet (Wang, Li, Li & Van Gool, CVPR 2018, "Appearance-and-Relation Networks for Video Classification").

Layers from the authors' released Kinetics model, wanglimin/ARTNet@d597eb6
models/112_artnet_resnet_18_deploy.prototxt (the README's "ARTNet (d) | ResNet18 | 112*112 | 69.2"):

- a ResNet-18 layout (2-2-2-2 blocks, widths 64-128-256-512) with no max-pool; the stem and every block of
  res2-res4 are SMART blocks, res5 is two plain 3x3x3 (C3D) blocks;
- SMART: an appearance branch (1xkxk conv, BN) beside a relation branch (3xkxk conv, BN, element-wise square
  (Caffe Power, power 2), a fixed 1x1x1 conv with C/2 groups and weight 0.5, lr_mult 0, i.e. the average of
  each adjacent channel pair, BN); the two concatenated, ReLU, and a 1x1x1 conv back to C channels;
- the stem is a SMART unit on the clip (1x7x7 and 3x7x7, stride 2); each block is a shared 3x3x3 conv, BN,
  ReLU (stride 2 opening res3, res4, res5), then the SMART unit or a second 3x3x3 conv;
- the raw sum is the residual stream and BN + ReLU follow each sum; shortcuts that change shape are 3x3x3
  stride-2 convs of the block's normalised input;
- convs of the stem and res2 have no bias, those of res3-res5 have Caffe's default bias (the pair-average
  conv has none);
- head: average pool (1, 7, 7), dropout 0.2, FC to 400 classes.

Input: (N, 3, 16, 112, 112), the prototxt's clip; the head's 1x7x7 pool leaves one time step there, which is
what the global average pool here gives.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repro.models import register

WIDTHS = (64, 128, 256, 512)


class PairAverageOfSquares(nn.Module):
    """The relation branch's square-pooling: (x_2j^2 + x_2j+1^2) / 2, a frozen grouped 1x1x1 conv in the
    prototxt. Kept a convolution so cost counters count its multiply-adds as the source's layer costs."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("weight", torch.full((channels // 2, 2, 1, 1, 1), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(x * x, self.weight, groups=self.weight.shape[0])


class SmartUnit(nn.Module):
    """Appearance (1xkxk) and relation (3xkxk, squared, pair-averaged) branches fused by a 1x1x1 conv."""

    def __init__(self, in_channels: int, channels: int, kernel: int, stride: int = 1, bias: bool = False):
        super().__init__()
        pad = kernel // 2
        self.appearance = nn.Sequential(
            nn.Conv3d(in_channels, channels, (1, kernel, kernel), stride, (0, pad, pad), bias=bias),
            nn.BatchNorm3d(channels))
        self.relation = nn.Sequential(
            nn.Conv3d(in_channels, channels, (3, kernel, kernel), stride, (1, pad, pad), bias=bias),
            nn.BatchNorm3d(channels), PairAverageOfSquares(channels), nn.BatchNorm3d(channels // 2))
        self.relu = nn.ReLU(inplace=True)
        self.reduce = nn.Conv3d(channels + channels // 2, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.relu(torch.cat([self.appearance(x), self.relation(x)], 1)))


class ResidualBlock(nn.Module):
    """A 3x3x3 conv, BN, ReLU, then a SMART unit (`smart=True`) or a second 3x3x3 conv; the sum with the
    residual stream (or a 3x3x3 projection of the input) is the next residual, and BN + ReLU of it the next
    input. Takes and returns (residual, activation)."""

    def __init__(self, in_channels: int, channels: int, stride: int, smart: bool, bias: bool):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv3d(in_channels, channels, 3, stride, 1, bias=bias),
                                   nn.BatchNorm3d(channels), nn.ReLU(inplace=True))
        self.conv2 = SmartUnit(channels, channels, 3, bias=bias) if smart else \
            nn.Conv3d(channels, channels, 3, 1, 1, bias=bias)
        self.down = None
        if stride != 1 or in_channels != channels:
            self.down = nn.Conv3d(in_channels, channels, 3, stride, 1, bias=bias)
        self.bn = nn.BatchNorm3d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        residual, x = state
        out = self.conv2(self.conv1(x)) + (residual if self.down is None else self.down(x))
        return out, self.relu(self.bn(out))


class ARTNet(nn.Module):
    def __init__(self, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.2):
        super().__init__()
        self.stem = SmartUnit(in_channels, WIDTHS[0], 7, stride=2)
        self.stem_bn = nn.Sequential(nn.BatchNorm3d(WIDTHS[0]), nn.ReLU(inplace=True))
        blocks, cin = [], WIDTHS[0]
        for stage, width in enumerate(WIDTHS):
            for index in range(2):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(ResidualBlock(cin, width, stride, smart=stage < 3, bias=stage > 0))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.stem(x)
        _, x = self.blocks((residual, self.stem_bn(residual)))
        return self.fc(self.dropout(self.pool(x).flatten(1)))


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 16, 112, 112))
def artnet_resnet18(num_classes: int = 400, in_channels: int = 3, dropout: float = 0.2) -> ARTNet:
    """ARTNet (d) with a ResNet-18 layout, as the authors released it for Kinetics (trained from scratch).

    Input (N, 3, 16, 112, 112). Output (N, num_classes). See the module docstring for each layer's source."""
    return ARTNet(num_classes, in_channels, dropout)
