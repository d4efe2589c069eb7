"""Inception-ResNet-v2 (Szegedy et al. 2017, "Inception-v4, Inception-ResNet ...", Figs. 3, 7, 16-20).

The layout is TF-slim's, which Keras `InceptionResNetV2` and the PyTorch port Cadene/pretrained-models.pytorch
(`pretrainedmodels/models/inceptionresnetv2.py`) both copy:

- stem: 3x3/2 32 (valid), 3x3 32 (valid), 3x3 64 (same), max-pool 3/2, 1x1 80, 3x3 192 (valid), max-pool 3/2;
- mixed_5b (320 ch): 1x1 96 | 1x1 48 -> 5x5 64 | 1x1 64 -> 3x3 96 -> 3x3 96 | avg-pool 3/1 -> 1x1 64;
- 10 x block35 (scale 0.17), mixed_6a (reduction A, 1088 ch), 20 x block17 (scale 0.10), mixed_7a (reduction
  B, 2080 ch), 9 x block8 (scale 0.20) plus a final block8 with scale 1.0 and no ReLU;
- conv_7b 1x1 1536, global average pool, FC.
- Convs have no bias and are followed by BN (eps 1e-3) and ReLU; the 1x1 "up" conv closing each residual
  block has a bias and no BN.

MAiVAR (Sec. III-B2, III-C2) takes the 1536-d pooled feature of an ImageNet IRV2 on each audio image. The
authors' notebook (mbilalshaikh/pymaivar, "ucf101 IRv2 audio rep classifier rep 8.ipynb") loads it as
`pretrainedmodels.__dict__['inceptionresnetv2'](num_classes=1000, pretrained='imagenet')` with
`last_linear = nn.Identity()`, so Cadene's port (BN with scale and shift) is the default here.

`bn_scale=False` drops BN's scale (gamma), as TF-slim and Keras do (`scale=False`). Parameter counts:
Cadene/PyTorch 55,843,464 (1000 classes); Keras 55,873,736 total = 55,813,192 trainable (= this model with
`bn_scale=False`) + 60,544 BN moving statistics (buffers here); Keras without top 54,336,736.

Input: (N, 3, 299, 299). Any side >= 75 works (Keras' minimum).
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models import register


class BasicConv(nn.Sequential):
    """Conv (no bias) + BN (eps 1e-3, optional scale) + ReLU, TF-slim's conv2d_bn."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0, bn_scale: bool = True):
        bn = nn.BatchNorm2d(out_channels, eps=1e-3)
        if not bn_scale:  # TF-slim / Keras: BN with shift (beta) only
            del bn.weight
            bn.register_parameter("weight", None)
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False), bn,
                         nn.ReLU(inplace=True))


class Concat(nn.ModuleList):
    """Parallel branches concatenated on channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self], 1)


class ResidualBlock(nn.Module):
    """x + scale * up(concat(branches(x))), then ReLU unless it is the last block8 (Fig. 16, 17, 19)."""

    def __init__(self, branches: Concat, mixed_channels: int, channels: int, scale: float, relu: bool = True):
        super().__init__()
        self.branches = branches
        self.up = nn.Conv2d(mixed_channels, channels, 1, bias=True)
        self.scale = scale
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.scale * self.up(self.branches(x)))


def block35(scale: float, s: bool) -> ResidualBlock:
    """Inception-ResNet-A (35x35 grid, 320 channels)."""
    return ResidualBlock(Concat([
        BasicConv(320, 32, 1, bn_scale=s),
        nn.Sequential(BasicConv(320, 32, 1, bn_scale=s), BasicConv(32, 32, 3, padding=1, bn_scale=s)),
        nn.Sequential(BasicConv(320, 32, 1, bn_scale=s), BasicConv(32, 48, 3, padding=1, bn_scale=s),
                      BasicConv(48, 64, 3, padding=1, bn_scale=s))]), 128, 320, scale)


def block17(scale: float, s: bool) -> ResidualBlock:
    """Inception-ResNet-B (17x17 grid, 1088 channels)."""
    return ResidualBlock(Concat([
        BasicConv(1088, 192, 1, bn_scale=s),
        nn.Sequential(BasicConv(1088, 128, 1, bn_scale=s), BasicConv(128, 160, (1, 7), padding=(0, 3), bn_scale=s),
                      BasicConv(160, 192, (7, 1), padding=(3, 0), bn_scale=s))]), 384, 1088, scale)


def block8(scale: float, s: bool, relu: bool = True) -> ResidualBlock:
    """Inception-ResNet-C (8x8 grid, 2080 channels)."""
    return ResidualBlock(Concat([
        BasicConv(2080, 192, 1, bn_scale=s),
        nn.Sequential(BasicConv(2080, 192, 1, bn_scale=s), BasicConv(192, 224, (1, 3), padding=(0, 1), bn_scale=s),
                      BasicConv(224, 256, (3, 1), padding=(1, 0), bn_scale=s))]), 448, 2080, scale, relu)


class InceptionResNetV2(nn.Module):
    """Stem, mixed_5b, 10 x A, reduction A, 20 x B, reduction B, 10 x C, conv_7b, pool, FC."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, bn_scale: bool = True):
        super().__init__()
        s = bn_scale
        self.stem = nn.Sequential(
            BasicConv(in_channels, 32, 3, 2, bn_scale=s), BasicConv(32, 32, 3, bn_scale=s),
            BasicConv(32, 64, 3, padding=1, bn_scale=s), nn.MaxPool2d(3, 2),
            BasicConv(64, 80, 1, bn_scale=s), BasicConv(80, 192, 3, bn_scale=s), nn.MaxPool2d(3, 2))
        self.mixed_5b = Concat([
            BasicConv(192, 96, 1, bn_scale=s),
            nn.Sequential(BasicConv(192, 48, 1, bn_scale=s), BasicConv(48, 64, 5, padding=2, bn_scale=s)),
            nn.Sequential(BasicConv(192, 64, 1, bn_scale=s), BasicConv(64, 96, 3, padding=1, bn_scale=s),
                          BasicConv(96, 96, 3, padding=1, bn_scale=s)),
            nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), BasicConv(192, 64, 1, bn_scale=s))])
        self.repeat_a = nn.Sequential(*[block35(0.17, s) for _ in range(10)])
        self.mixed_6a = Concat([
            BasicConv(320, 384, 3, 2, bn_scale=s),
            nn.Sequential(BasicConv(320, 256, 1, bn_scale=s), BasicConv(256, 256, 3, padding=1, bn_scale=s),
                          BasicConv(256, 384, 3, 2, bn_scale=s)),
            nn.MaxPool2d(3, 2)])
        self.repeat_b = nn.Sequential(*[block17(0.10, s) for _ in range(20)])
        self.mixed_7a = Concat([
            nn.Sequential(BasicConv(1088, 256, 1, bn_scale=s), BasicConv(256, 384, 3, 2, bn_scale=s)),
            nn.Sequential(BasicConv(1088, 256, 1, bn_scale=s), BasicConv(256, 288, 3, 2, bn_scale=s)),
            nn.Sequential(BasicConv(1088, 256, 1, bn_scale=s), BasicConv(256, 288, 3, padding=1, bn_scale=s),
                          BasicConv(288, 320, 3, 2, bn_scale=s)),
            nn.MaxPool2d(3, 2)])
        self.repeat_c = nn.Sequential(*[block8(0.20, s) for _ in range(9)], block8(1.0, s, relu=False))
        self.conv_7b = BasicConv(2080, 1536, 1, bn_scale=s)
        self.global_pool = nn.AdaptiveAvgPool2d(1)  # = Cadene's 8x8 average pool at 299
        self.fc = nn.Linear(1536, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 1536): the pooled feature MAiVAR's audio network uses (Sec. III-C2)."""
        x = self.mixed_7a(self.repeat_b(self.mixed_6a(self.repeat_a(self.mixed_5b(self.stem(x))))))
        return self.global_pool(self.conv_7b(self.repeat_c(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@register(example_input=(1, 3, 75, 75), example_output=(1, 1000))
def inception_resnet_v2(num_classes: int = 1000, in_channels: int = 3, bn_scale: bool = True) -> InceptionResNetV2:
    """Inception-ResNet-v2, TF-slim/Keras layout as ported by Cadene/pretrained-models.pytorch.

    Input: (N, 3, 299, 299) (at least 75x75). Output: (N, num_classes); `features` gives (N, 1536).
    `bn_scale=False` removes BN's gamma as in TF-slim/Keras (their trainable-parameter count).
    """
    return InceptionResNetV2(num_classes, in_channels, bn_scale)
