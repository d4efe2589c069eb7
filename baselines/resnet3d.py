"""Kensho Hara's 3D ResNets with shortcut type B: 3D ResNet-101, 3D ResNeXt-101 and R(2+1)D-101.

One skeleton, three bottlenecks, as in kenshohara/3D-ResNets-PyTorch (models/resnet.py, resnext.py,
resnet2p1d.py) and craston/MARS (models/resnext.py); details collected in ../shared/notes/sources.md
("Motion distillation backbones", "GCF-Net backbones"):
- conv1 7x7x7, stride (1,2,2), pad 3, in_channels -> 64 (3 for RGB, 2 for TV-L1 flow as in MARS), BN, ReLU;
  max-pool 3x3x3, stride 2, pad 1;
- four stages of (3, 4, 23, 3) bottlenecks; the first block of stages 2-4 strides 2 in T, H and W;
  shortcut B: a 1x1x1 conv + BN projection wherever channels or stride change, identity otherwise;
- average pool over the remaining T x H x W, then one linear layer.
Module names follow Hara/MARS (conv1, bn1, layer1..4, fc, conv2_s/conv2_t) so their checkpoints load.

Final pooling. Hara's 2018 code and MARS use nn.AvgPool3d((ceil(T/16), ceil(S/32), ceil(S/32)), stride=1),
which at T = 16k and S = 112 is exactly the whole layer4 map (1x4x4 at 16 frames, 4x4x4 at 64), i.e. a
global average. The default here is the modern equivalent nn.AdaptiveAvgPool3d(1) (Hara's 2020 code),
which also accepts small test inputs; `pooling="fixed"` rebuilds the source's kernel from sample_duration
and sample_size. Pooling has no multiply-adds, so the MAC count is the same either way.

Input: (N, in_channels, T, H, W), e.g. (1, 3, 16, 112, 112); layer4 is (N, 2048, T/16, H/32, W/32).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from repro.models import register

STAGE_BLOCKS_101 = (3, 4, 23, 3)


def conv1x1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class Bottleneck(nn.Module):
    """3D ResNet bottleneck (Hara, models/resnet.py): 1x1x1 -> 3x3x3 (strided) -> 1x1x1 to planes x4.

    Subclasses change the width and the middle conv only (`width`, `build_middle`, `middle`).
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 **middle_kwargs):
        super().__init__()
        width = self.width(planes, **middle_kwargs)
        self.conv1 = conv1x1x1(in_planes, width)
        self.bn1 = nn.BatchNorm3d(width)
        self.build_middle(width, stride, **middle_kwargs)
        self.conv3 = conv1x1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def width(self, planes: int, **middle_kwargs) -> int:
        return planes

    def build_middle(self, width: int, stride: int) -> None:
        self.conv2 = nn.Conv3d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(width)

    def middle(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn2(self.conv2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.middle(self.relu(self.bn1(self.conv1(x))))
        return self.relu(self.bn3(self.conv3(out)) + residual)


class ResNeXtBottleneck(Bottleneck):
    """ResNeXt bottleneck (MARS models/resnext.py): width cardinality * planes/32, grouped 3x3x3, planes x2 out."""

    expansion = 2

    def width(self, planes: int, cardinality: int = 32) -> int:
        return cardinality * (planes // 32)

    def build_middle(self, width: int, stride: int, cardinality: int = 32) -> None:
        self.conv2 = nn.Conv3d(width, width, kernel_size=3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm3d(width)


class Bottleneck2Plus1D(Bottleneck):
    """(2+1)D bottleneck (Hara, models/resnet2p1d.py): the 3x3x3 becomes 1x3x3 -> BN, ReLU -> 3x1x1.

    `mid_planes="param_matched"` is Hara's mid = 27 p^2 // (9 p + 3 p), which keeps the 3x3x3 conv's
    parameter count; `"planes"` sets mid = p, the only configuration found that gives GCF-Net's 50.91M
    (../shared/notes/sources.md, "GCF-Net backbones": unconfirmed).
    """

    def width(self, planes: int, mid_planes: str = "planes") -> int:
        return planes

    def build_middle(self, width: int, stride: int, mid_planes: str = "planes") -> None:
        if mid_planes == "planes":
            mid = width
        elif mid_planes == "param_matched":
            mid = (width * width * 3 * 3 * 3) // (width * 3 * 3 + 3 * width)
        else:
            raise ValueError(f"mid_planes must be 'planes' or 'param_matched', got {mid_planes!r}")
        self.conv2_s = nn.Conv3d(width, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
        self.bn2_s = nn.BatchNorm3d(mid)
        self.conv2_t = nn.Conv3d(mid, width, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False)
        self.bn2_t = nn.BatchNorm3d(width)

    def middle(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn2_t(self.conv2_t(self.relu(self.bn2_s(self.conv2_s(x))))))


class ResNet3D(nn.Module):
    """Hara's ResNet skeleton. `forward_features` returns every stage output, for distillation taps."""

    def __init__(self, block: type[Bottleneck], layers: tuple[int, ...], planes: tuple[int, ...],
                 num_classes: int = 400, in_channels: int = 3, sample_duration: int = 16, sample_size: int = 112,
                 pooling: str = "adaptive", **block_kwargs):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv3d(in_channels, 64, kernel_size=7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        # a tuple, as Hara's and Efficient-3DCNNs' code write it (models/resnext.py): the same pooling, and the
        # FLOP counter Efficient-3DCNNs ships (repro.measure.thop_replica) reads an int kernel as one element
        self.maxpool = nn.MaxPool3d(kernel_size=(3, 3, 3), stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0], 1, block_kwargs)
        self.layer2 = self._make_layer(block, planes[1], layers[1], 2, block_kwargs)
        self.layer3 = self._make_layer(block, planes[2], layers[2], 2, block_kwargs)
        self.layer4 = self._make_layer(block, planes[3], layers[3], 2, block_kwargs)
        if pooling == "adaptive":
            self.avgpool = nn.AdaptiveAvgPool3d(1)
        elif pooling == "fixed":  # Hara 2018 / MARS: the kernel is derived from the training clip size
            last_size = math.ceil(sample_size / 32)
            self.avgpool = nn.AvgPool3d((math.ceil(sample_duration / 16), last_size, last_size), stride=1)
        else:
            raise ValueError(f"pooling must be 'adaptive' or 'fixed', got {pooling!r}")
        self.fc = nn.Linear(self.in_planes, num_classes)
        for m in self.modules():  # Hara's initialisation
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block: type[Bottleneck], planes: int, blocks: int, stride: int,
                    block_kwargs: dict) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:  # shortcut B
            downsample = nn.Sequential(conv1x1x1(self.in_planes, planes * block.expansion, stride),
                                       nn.BatchNorm3d(planes * block.expansion))
        layers = [block(self.in_planes, planes, stride, downsample, **block_kwargs)]
        self.in_planes = planes * block.expansion
        layers += [block(self.in_planes, planes, **block_kwargs) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stage outputs: stem (after the max-pool), layer1..layer4 and the pooled vector `avgpool`."""
        features = {"stem": self.maxpool(self.relu(self.bn1(self.conv1(x))))}
        x = features["stem"]
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = features[name] = getattr(self, name)(x)
        features["avgpool"] = self.avgpool(x).flatten(1)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x)["avgpool"])


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400))
def resnet3d_101(num_classes: int = 400, in_channels: int = 3, sample_duration: int = 16, sample_size: int = 112,
                 pooling: str = "adaptive") -> ResNet3D:
    """3D ResNet-101 (Hara et al. CVPR 2018, models/resnet.py), shortcut B, planes 64/128/256/512 x4.

    sources.md: 86.07M params (400 classes), 13.89 / 55.56 GMACs at 16 / 64 frames, 112x112.
    Input: (N, 3, 16, 112, 112) or (N, 3, 64, 112, 112); in_channels=2 for a flow stream.
    """
    return ResNet3D(Bottleneck, STAGE_BLOCKS_101, (64, 128, 256, 512), num_classes, in_channels,
                    sample_duration, sample_size, pooling)


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400))
def resnext3d_101(num_classes: int = 400, in_channels: int = 3, cardinality: int = 32, sample_duration: int = 16,
                  sample_size: int = 112, pooling: str = "adaptive") -> ResNet3D:
    """3D ResNeXt-101 32x4d (MARS models/resnext.py = Hara's resnext.py), shortcut B, planes 128..1024 x2.

    The MARS RGB / flow streams (in_channels 3 / 2) and GCF-Net's 3D-ResNeXt-101 backbone (600 classes).
    sources.md: 48.34M params (400 classes), 9.57 / 38.27 GMACs at 16 / 64 frames, 112x112.
    Input: (N, 3, 16, 112, 112) or (N, 3, 64, 112, 112); (N, 2, T, 112, 112) flow with in_channels=2.
    """
    return ResNet3D(ResNeXtBottleneck, STAGE_BLOCKS_101, (128, 256, 512, 1024), num_classes, in_channels,
                    sample_duration, sample_size, pooling, cardinality=cardinality)


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 600))
def r2plus1d_101(num_classes: int = 600, mid_planes: str = "planes", in_channels: int = 3, sample_duration: int = 16,
                 sample_size: int = 112, pooling: str = "adaptive") -> ResNet3D:
    """R(2+1)D-101 as GCF-Net uses it (GCF-Net Sec. 4.2: 3D-ResNet-101 with each 3x3x3 kernel replaced by
    1x3x3 and 3x1x1), built on Hara's models/resnet2p1d.py: full 7x7x7 conv1, (2+1)D bottleneck middles.

    mid_planes="planes" (default) gives 50,917,016 params and 9.77 GMACs at 600 classes and 16x112x112: the
    only configuration found that matches the 50.91M of GCF-Net's Table 3, so it is the default, but it is
    unconfirmed (../shared/notes/sources.md, "GCF-Net backbones"). mid_planes="param_matched" is Hara's
    formula: 86,511,096 params at 600 classes (86,101,296 = Hara's 86.1M at 400). GCF-Net Sec. 3.3 states
    16-frame clips; the spatial size was lost in its text extraction, 112x112 is Efficient-3DCNNs' (sources.md).
    Input: (N, 3, 16, 112, 112).
    """
    return ResNet3D(Bottleneck2Plus1D, STAGE_BLOCKS_101, (64, 128, 256, 512), num_classes, in_channels,
                    sample_duration, sample_size, pooling, mid_planes=mid_planes)
