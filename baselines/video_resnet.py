"""torchvision's video ResNets: r3d_18, mc3_18 and r2plus1d_18.

Written to torchvision.models.video.resnet's published definitions (torchvision cannot be imported
with the torch pinned here). They are the independent check of the FLOP counter: torchvision
documents their parameters and GFLOPS at 16x112x112 (../shared/notes/sources.md, "FLOP
conventions"): r3d_18 33,371,472 params and 40.70 GFLOPS, mc3_18 11,695,440 and 43.34,
r2plus1d_18 31,505,325 params.

Input: (N, 3, T, H, W), e.g. (1, 3, 16, 112, 112). Output: (N, num_classes) logits.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from repro.models import register

ConvBuilder = Callable[..., nn.Module]


def conv3d_simple(in_planes: int, out_planes: int, mid_planes: int | None = None, stride: int = 1) -> nn.Module:
    """A full 3x3x3 convolution (R3D)."""
    return nn.Conv3d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv3d_no_temporal(in_planes: int, out_planes: int, mid_planes: int | None = None, stride: int = 1) -> nn.Module:
    """A 1x3x3 convolution that never strides in time (the 2D part of MC3)."""
    return nn.Conv3d(in_planes, out_planes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)


def conv2plus1d(in_planes: int, out_planes: int, mid_planes: int | None = None, stride: int = 1) -> nn.Module:
    """A (2+1)D convolution: 1x3x3 spatial to `mid_planes`, BN, ReLU, then 3x1x1 temporal."""
    return nn.Sequential(
        nn.Conv3d(in_planes, mid_planes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
        nn.BatchNorm3d(mid_planes), nn.ReLU(inplace=True),
        nn.Conv3d(mid_planes, out_planes, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
    )


def _downsample_stride(builder: ConvBuilder, stride: int) -> tuple[int, int, int]:
    return (1, stride, stride) if builder is conv3d_no_temporal else (stride, stride, stride)


class BasicBlock(nn.Module):
    """Two convolutions and a shortcut. As in torchvision, conv2 reuses conv1's mid-planes."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, builder: ConvBuilder, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        mid_planes = (in_planes * planes * 3 * 3 * 3) // (in_planes * 3 * 3 + 3 * planes)
        self.conv1 = nn.Sequential(builder(in_planes, planes, mid_planes, stride), nn.BatchNorm3d(planes),
                                   nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(builder(planes, planes, mid_planes), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + residual)


def basic_stem() -> nn.Module:
    """3x7x7 conv, 64 channels, stride (1, 2, 2)."""
    return nn.Sequential(nn.Conv3d(3, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                         nn.BatchNorm3d(64), nn.ReLU(inplace=True))


def r2plus1d_stem() -> nn.Module:
    """(2+1)D stem: 1x7x7 to 45 channels (fixed), then 3x1x1 to 64."""
    return nn.Sequential(
        nn.Conv3d(3, 45, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False), nn.BatchNorm3d(45),
        nn.ReLU(inplace=True),
        nn.Conv3d(45, 64, (3, 1, 1), stride=1, padding=(1, 0, 0), bias=False), nn.BatchNorm3d(64),
        nn.ReLU(inplace=True))


class VideoResNet(nn.Module):
    def __init__(self, builders: list[ConvBuilder], layers: list[int], stem: nn.Module, num_classes: int = 400):
        super().__init__()
        self.in_planes = 64
        self.stem = stem
        self.layer1 = self._make_layer(builders[0], 64, layers[0], stride=1)
        self.layer2 = self._make_layer(builders[1], 128, layers[1], stride=2)
        self.layer3 = self._make_layer(builders[2], 256, layers[2], stride=2)
        self.layer4 = self._make_layer(builders[3], 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(512 * BasicBlock.expansion, num_classes)

    def _make_layer(self, builder: ConvBuilder, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_planes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                nn.Conv3d(self.in_planes, planes, 1, stride=_downsample_stride(builder, stride), bias=False),
                nn.BatchNorm3d(planes))
        layers = [BasicBlock(self.in_planes, planes, builder, stride, downsample)]
        self.in_planes = planes * BasicBlock.expansion
        layers += [BasicBlock(self.in_planes, planes, builder) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(self.avgpool(x).flatten(1))


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 16, 112, 112))
def r3d_18(num_classes: int = 400) -> VideoResNet:
    """R3D-18 (Tran et al. 2018): 3x3x3 convs throughout. Input (N, 3, 16, 112, 112)."""
    return VideoResNet([conv3d_simple] * 4, [2, 2, 2, 2], basic_stem(), num_classes)


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 16, 112, 112))
def mc3_18(num_classes: int = 400) -> VideoResNet:
    """MC3-18: 3D convs in layer1, 2D (1x3x3) convs after. Input (N, 3, 16, 112, 112)."""
    return VideoResNet([conv3d_simple] + [conv3d_no_temporal] * 3, [2, 2, 2, 2], basic_stem(), num_classes)


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 16, 112, 112))
def r2plus1d_18(num_classes: int = 400) -> VideoResNet:
    """R(2+1)D-18: every 3x3x3 conv factorised into 1x3x3 then 3x1x1. Input (N, 3, 16, 112, 112)."""
    return VideoResNet([conv2plus1d] * 4, [2, 2, 2, 2], r2plus1d_stem(), num_classes)
