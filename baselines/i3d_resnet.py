"""I3D on ResNet-50, with and without non-local blocks, as MMAction2 builds it (the build its model zoo's
published FLOPs and parameters count).

From open-mmlab/mmaction2 configs/_base_/models/i3d_r50.py and mmaction/models/backbones/resnet3d.py:
- conv1 5x7x7, stride (2,2,2), pad (2,3,3), BN, ReLU; max-pool 1x3x3, stride (2,2,2), pad (0,1,1);
- ResNet-50 bottlenecks (3, 4, 6, 3), the spatial stride on the 1x3x3 conv; a block "inflated" by the pattern
  ((1,1,1), (1,0,1,0), (1,0,1,0,1,0), (0,1,0)) has a 3x1x1 first conv (pad (1,0,0)), the others 1x1x1;
  a 1x1x1 projection + BN where the shape changes; a 2x1x1 /(2,1,1) max-pool after res2 (`with_pool2`);
- head: global average pool, dropout 0.5, FC 2048 -> 400.
Non-local (Wang et al., CVPR 2018), `non_local=True`: mmcv's NonLocal3d after blocks (0,1,0,1) of res3 and
(0,1,0,1,0,1) of res4 (5 blocks), embedded Gaussian: theta, phi and g 1x1x1 convs C -> C/2 with bias, a
1x2x2 max-pool on the phi and g maps (`sub_sample`), softmax of theta^T phi unscaled (`use_scale=False` in
configs/recognition/i3d/i3d_imagenet-pretrained-r50-nl-embedded-gaussian_8xb8-32x2x1-100e_kinetics400-rgb.py),
a 1x1x1 conv back to C without bias, BN, and the residual sum.

`build="caffe2"` follows the authors' original code instead (facebookresearch/video-nonlocal-net,
lib/models/resnet_video_org.py and nonlocal_helper.py, the paper's models): pool1 2x3x3 /2 without padding;
the non-local max-pool before the phi and g convs; theta^T phi scaled by 1/sqrt(C/2) (`USE_SCALE`); the
output conv with a bias. For 128-frame inputs the
code computes res3's non-local blocks within groups of 4 frames (`add_nonlocal_group`, group_size 4 in the
affine 128-frame config): `nl_groups_res3=4`.

`depth=101` (NL I3D-101) follows the authors' code (video-nonlocal-net, README "MODEL.DEPTH 101";
resnet_helper.py): blocks (3, 4, 23, 3), res4's every other block inflated from the first, and its 5 non-local
blocks after res3 blocks 1 and 3 and res4 blocks 6, 13 and 20 (NONLOCAL.LAYER_MOD 2 for res3, 2 * 4 - 1 for a
101-layer res4). The paper's "10 blocks" variant is in no code read here, so it is not built.

Input: (N, 3, 32, 224, 224) (MMAction2's metafile counts the 256x256 test crop).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from repro.models import register

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def inflated(stage: int, index: int) -> bool:
    """Whether block `index` of `stage` (0 = res2) has a 3x1x1 first conv: all of res2, every other block of
    res3 and res4 from the first, the middle block of res5."""
    return (True, index % 2 == 0, index % 2 == 0, index == 1)[stage]


def has_non_local(depth: int, stage: int, index: int) -> bool:
    """The non-local positions of the authors' code: after every second block of res3 (1, 3), and of res4 (1,
    3, 5) for ResNet-50 or every seventh (6, 13, 20) for ResNet-101."""
    mod = {1: 2, 2: 2 if depth == 50 else 7}.get(stage)
    return mod is not None and index % mod == mod - 1


class NonLocal3d(nn.Module):
    """Embedded-Gaussian non-local block; `pool_first` pools before the phi and g convs (the Caffe2 code),
    else after them (mmcv); `use_scale` divides theta^T phi by sqrt(C/2); `groups` splits time into that many
    groups, each attending only within itself."""

    def __init__(self, channels: int, pool_first: bool = False, out_bias: bool = False, groups: int = 1,
                 use_scale: bool = True):
        super().__init__()
        inner = channels // 2
        self.theta, self.phi, self.g = (nn.Conv3d(channels, inner, 1) for _ in range(3))
        self.pool = nn.MaxPool3d((1, 2, 2))
        self.out = nn.Conv3d(inner, channels, 1, bias=out_bias)
        self.bn = nn.BatchNorm3d(channels)
        self.scale = 1.0 / math.sqrt(inner) if use_scale else 1.0
        self.pool_first, self.groups = pool_first, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        if t % self.groups:
            raise ValueError(f"a non-local block with {self.groups} time groups needs a frame count divisible by "
                             f"{self.groups} at its stage, got {t}")
        theta = self.theta(x)
        if self.pool_first:
            pooled = self.pool(x)
            phi, g = self.phi(pooled), self.g(pooled)
        else:
            phi, g = self.pool(self.phi(x)), self.pool(self.g(x))
        k = self.groups  # time split into k groups: (N*k, C/2, T/k * HW)
        theta, phi, g = (z.view(n, z.shape[1], k, t // k, *z.shape[3:]).transpose(1, 2).flatten(3)
                         .reshape(n * k, z.shape[1], -1) for z in (theta, phi, g))
        attention = torch.softmax(torch.bmm(theta.transpose(1, 2), phi) * self.scale, dim=-1)
        y = torch.bmm(g, attention.transpose(1, 2)).view(n, k, -1, t // k, h, w).transpose(1, 2)
        return x + self.bn(self.out(y.reshape(n, -1, t, h, w)))


class Bottleneck3d(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, inflate: bool, non_local: nn.Module | None):
        super().__init__()
        out = planes * self.expansion
        kernel, pad = ((3, 1, 1), (1, 0, 0)) if inflate else (1, 0)
        self.conv1 = nn.Sequential(nn.Conv3d(inplanes, planes, kernel, 1, pad, bias=False), nn.BatchNorm3d(planes),
                                   nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(nn.Conv3d(planes, planes, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
                                   nn.BatchNorm3d(planes), nn.ReLU(inplace=True))
        self.conv3 = nn.Sequential(nn.Conv3d(planes, out, 1, bias=False), nn.BatchNorm3d(out))
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv3d(inplanes, out, 1, (1, stride, stride), bias=False),
                                            nn.BatchNorm3d(out))
        self.relu = nn.ReLU(inplace=True)
        self.non_local = non_local or nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.non_local(self.relu(self.conv3(self.conv2(self.conv1(x))) + identity))


class I3DResNet(nn.Module):
    def __init__(self, num_classes: int = 400, in_channels: int = 3, non_local: bool = False, dropout: float = 0.5,
                 build: str = "mmaction2", nl_groups_res3: int = 1, depth: int = 50):
        super().__init__()
        if build not in ("mmaction2", "caffe2"):
            raise ValueError(f"build must be 'mmaction2' or 'caffe2', got {build!r}")
        if depth not in BLOCKS:
            raise ValueError(f"depth must be one of {sorted(BLOCKS)}, got {depth}")
        if depth != 50 and build != "caffe2":
            raise ValueError("only the authors' code (build='caffe2') defines the 101-layer I3D read here")
        caffe2 = build == "caffe2"
        pool1 = nn.MaxPool3d((2, 3, 3), (2, 2, 2)) if caffe2 else nn.MaxPool3d((1, 3, 3), (2, 2, 2), (0, 1, 1))
        self.stem = nn.Sequential(nn.Conv3d(in_channels, 64, (5, 7, 7), (2, 2, 2), (2, 3, 3), bias=False),
                                  nn.BatchNorm3d(64), nn.ReLU(inplace=True), pool1)
        stages, inplanes = [], 64
        for stage, (blocks, planes) in enumerate(zip(BLOCKS[depth], (64, 128, 256, 512), strict=True)):
            layers = []
            for i in range(blocks):
                block = None
                if non_local and has_non_local(depth, stage, i):
                    block = NonLocal3d(planes * Bottleneck3d.expansion, pool_first=caffe2, out_bias=caffe2,
                                       groups=nl_groups_res3 if stage == 1 else 1, use_scale=caffe2)
                layers.append(Bottleneck3d(inplanes, planes, 2 if i == 0 and stage > 0 else 1,
                                           inflated(stage, i), block))
                inplanes = planes * Bottleneck3d.expansion
            stages.append(nn.Sequential(*layers))
            if stage == 0:
                stages.append(nn.MaxPool3d((2, 1, 1), (2, 1, 1)))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(self.stages(self.stem(x))).flatten(1)))


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 32, 224, 224))
def i3d_resnet50(num_classes: int = 400, in_channels: int = 3, non_local: bool = False, dropout: float = 0.5,
                 build: str = "mmaction2", nl_groups_res3: int = 1) -> I3DResNet:
    """I3D ResNet-50 of MMAction2 (28,043,472 parameters with 400 classes); `non_local=True` adds its 5
    embedded-Gaussian non-local blocks (NL I3D-50); `build="caffe2"` is the authors' original code.
    Input (N, 3, 32, 224, 224), or 128 frames for the paper's long model."""
    return I3DResNet(num_classes, in_channels, non_local, dropout, build, nl_groups_res3)


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 32, 224, 224))
def i3d_resnet101(num_classes: int = 400, in_channels: int = 3, non_local: bool = False, dropout: float = 0.5,
                  nl_groups_res3: int = 1) -> I3DResNet:
    """I3D ResNet-101 as the authors' code builds it (NL I3D-101 with `non_local=True`: 5 non-local blocks);
    see the module docstring for the source of each detail. Input (N, 3, 32, 224, 224), or 128 frames."""
    return I3DResNet(num_classes, in_channels, non_local, dropout, "caffe2", nl_groups_res3, depth=101)
