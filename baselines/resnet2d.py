"""2D ResNet-50/101 (He et al. 2016) as torchvision builds it, with the hooks the video papers add to it.

torchvision's layout (the "v1.5" bottleneck, stride on the 3x3 conv): conv1 7x7/2 64, BN, ReLU, max-pool 3/2;
stages of bottlenecks 1x1 -> 3x3 -> 1x1 (x4 expansion) with (3, 4, 6, 3) blocks for ResNet-50 and
(3, 4, 23, 3) for ResNet-101, widths 64/128/256/512; a 1x1 conv + BN projection where the shape changes;
global average pool; FC. ResNet-50 with 1000 classes has 25,557,032 parameters.

Hooks, each from the code of the paper that adds it:
- `shift`: a module applied to the input of every bottleneck's residual branch (TSM's "residual shift",
  mit-han-lab/temporal-shift-module ops/temporal_shift.py, `shift_place='blockres'`);
- `attention`: a module built per bottleneck, applied after its first conv (CGD, HolmesShuan/
  Compact-Global-Descriptor classification/models/imagenet/resnet.py);
- `insert`: modules inserted after given blocks, e.g. one non-local block in res4 after the 5th of its 6
  blocks (KaiyuYue/cgnl-network.pytorch model/resnet.py).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, shift: nn.Module | None = None,
                 attention: nn.Module | None = None):
        super().__init__()
        width, out = planes, planes * self.expansion
        self.shift = shift or nn.Identity()
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.attention = attention or nn.Identity()
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(self.shift(x))))
        y = self.attention(y)
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class ResNet2D(nn.Module):
    """The trunk, global average pool and FC; `features` gives the pooled 2048-d vector per image."""

    def __init__(self, depth: int = 50, num_classes: int = 1000, in_channels: int = 3,
                 shift: Callable[[int], nn.Module] | None = None, attention: Callable[[int], nn.Module] | None = None,
                 insert: dict[tuple[int, int], Callable[[int], nn.Module]] | None = None, dropout: float = 0.0):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth}")
        insert = insert or {}
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, inplanes = [], 64
        for stage, (blocks, planes) in enumerate(zip(DEPTHS[depth], (64, 128, 256, 512), strict=True)):
            layers: list[nn.Module] = []
            for index in range(blocks):
                layers.append(Bottleneck(inplanes, planes, 2 if index == 0 and stage > 0 else 1,
                                         shift(inplanes) if shift else None,
                                         attention(planes) if attention else None))
                inplanes = planes * Bottleneck.expansion
                if (stage, index) in insert:  # stage 2 is res4; the index counts the stage's blocks from 0
                    layers.append(insert[(stage, index)](inplanes))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(inplanes, num_classes)
        self.feature_dim = inplanes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))
