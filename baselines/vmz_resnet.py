"""VMZ's bottleneck video ResNets as FASTER uses them: R(2+1)D-50, R3D-50 and R2D-26.

FASTER (Zhu et al.), Sec. 3.4 and Table 1: bottleneck blocks, a max-pool after conv1, R(2+1)D-50
as the expensive model and R2D-26 (temporal stride 8 in conv1) as the cheap one; both give a
L/8 x 7 x 7 x 2048 res5 map at 224x224. Layer details are from facebookresearch/VMZ
(c2/lib/models/r3d_model.py, builder/video_model.py) as collected in ../shared/notes/sources.md:
- stem (R(2+1)D): conv (1,7,7) 3->45 stride (1,2,2), BN, ReLU, conv (3,1,1) 45->64, BN, ReLU;
  max-pool (1,3,3) stride (1,2,2) pad (0,1,1). BN eps is 1e-3 (Caffe2's default).
- stages (out, base) = (256,64), (512,128), (1024,256), (2048,512) with (3,4,6,3) blocks;
  the (2+1)D middle conv has mid = int(3*base*base*9 / (base*9 + 3*base)) = 144, 288, 576, 1152.
- the first block of res3-res5 strides (2,2,2) (spatial on the 1x3x3 conv, temporal on the 3x1x1),
  with a 1x1x1 projection shortcut wherever channels or stride change, res2's first block included.
- R2D-26: conv1 8x7x7 stride (8,2,2) with no temporal padding, (2,2,2,2) blocks, every 3x3 conv
  as (1,3,3), and no temporal stride after conv1. VMZ's own depth-26 R2D does not match the
  paper's costs (2.13 GMACs); this configuration reproduces Table 1 (sources.md).

Input: (N, 3, L, 224, 224). `features` returns the res5 map (N, 2048, L/8, 7, 7), which is the
x_t that FASTER aggregates; `forward` adds global average pooling and the classifier.
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models import register

BN_EPS = 1e-3
STAGES = ((256, 64), (512, 128), (1024, 256), (2048, 512))


def _bn(channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=BN_EPS)


def _conv_bn_relu(cin: int, cout: int, kernel, stride=1, padding=0) -> list[nn.Module]:
    return [nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False), _bn(cout), nn.ReLU(inplace=True)]


def middle_conv(kind: str, base: int, stride: int, temporal_stride: int) -> nn.Sequential:
    """The bottleneck's middle conv: "2plus1d" (1x3x3 then 3x1x1), "3d" (3x3x3) or "2d" (1x3x3)."""
    if kind == "2plus1d":
        mid = int(3 * base * base * 9 / (base * 9 + 3 * base))
        return nn.Sequential(*_conv_bn_relu(base, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1)),
                             *_conv_bn_relu(mid, base, (3, 1, 1), (temporal_stride, 1, 1), (1, 0, 0)))
    if kind == "3d":
        return nn.Sequential(*_conv_bn_relu(base, base, 3, (temporal_stride, stride, stride), 1))
    if kind == "2d":
        return nn.Sequential(*_conv_bn_relu(base, base, (1, 3, 3), (1, stride, stride), (0, 1, 1)))
    raise ValueError(f"middle conv kind must be 2plus1d, 3d or 2d, got {kind!r}")


class Bottleneck(nn.Module):
    def __init__(self, cin: int, out: int, base: int, kind: str, stride: int = 1, temporal_stride: int = 1):
        super().__init__()
        self.reduce = nn.Sequential(*_conv_bn_relu(cin, base, 1))
        self.middle = middle_conv(kind, base, stride, temporal_stride)
        self.expand = nn.Sequential(nn.Conv3d(base, out, 1, bias=False), _bn(out))
        self.shortcut = None
        if cin != out or stride != 1 or temporal_stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv3d(cin, out, 1, stride=(temporal_stride, stride, stride), bias=False), _bn(out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.expand(self.middle(self.reduce(x))) + residual)


class VMZResNet(nn.Module):
    def __init__(self, stem: nn.Sequential, kind: str, blocks: tuple[int, ...], temporal_stride: int,
                 num_classes: int = 400):
        super().__init__()
        self.stem = stem
        stages, cin = [], 64
        for index, ((out, base), n_blocks) in enumerate(zip(STAGES, blocks, strict=True)):
            stride = 1 if index == 0 else 2
            t_stride = 1 if index == 0 else temporal_stride
            layer = [Bottleneck(cin, out, base, kind, stride, t_stride)]
            layer += [Bottleneck(out, out, base, kind) for _ in range(1, n_blocks)]
            stages.append(nn.Sequential(*layer))
            cin = out
        self.res2, self.res3, self.res4, self.res5 = stages
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(2048, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The res5 feature map, (N, 2048, L/8, H/32, W/32)."""
        return self.res5(self.res4(self.res3(self.res2(self.stem(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def _pool1() -> nn.MaxPool3d:
    return nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))


@register(example_input=(1, 3, 8, 64, 64), example_output=(1, 400))
def r2plus1d_50(num_classes: int = 400) -> VMZResNet:
    """R(2+1)D-50, FASTER's expensive clip model (Table 1). Input (N, 3, L, 224, 224), L in {8, 16, 32}."""
    stem = nn.Sequential(*_conv_bn_relu(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3)),
                         *_conv_bn_relu(45, 64, (3, 1, 1), 1, (1, 0, 0)), _pool1())
    return VMZResNet(stem, "2plus1d", (3, 4, 6, 3), temporal_stride=2, num_classes=num_classes)


@register(example_input=(1, 3, 8, 64, 64), example_output=(1, 400))
def r3d_50(num_classes: int = 400) -> VMZResNet:
    """R3D-50, FASTER's alternative expensive model (Table 6): 3x3x3 middle convs, 3x7x7 conv1.
    Input (N, 3, L, 224, 224)."""
    stem = nn.Sequential(*_conv_bn_relu(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3)), _pool1())
    return VMZResNet(stem, "3d", (3, 4, 6, 3), temporal_stride=2, num_classes=num_classes)


@register(example_input=(1, 3, 8, 64, 64), example_output=(1, 400))
def r2d_26(num_classes: int = 400) -> VMZResNet:
    """R2D-26, FASTER's cheap clip model (Table 1): conv1 8x7x7 with temporal stride 8, 2D bottlenecks.
    Input (N, 3, L, 224, 224) with L a multiple of 8."""
    stem = nn.Sequential(*_conv_bn_relu(3, 64, (8, 7, 7), (8, 2, 2), (0, 3, 3)), _pool1())
    return VMZResNet(stem, "2d", (2, 2, 2, 2), temporal_stride=1, num_classes=num_classes)


def _mid(cin: int, cout: int) -> int:
    """VMZ's (2+1)D middle width for a 3x3x3 conv from cin to cout: the parameters of the full 3D conv."""
    return int(3 * cin * cout * 9 / (9 * cin + 3 * cout))


def conv2plus1d(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    """(1,3,3) spatial conv, BN, ReLU, (3,1,1) temporal conv: the middle width computed per conv."""
    mid = _mid(cin, cout)
    return [*_conv_bn_relu(cin, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1)),
            nn.Conv3d(mid, cout, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False)]


class BasicBlock2Plus1D(nn.Module):
    """VMZ's simple block with (2+1)D convs (r3d_model.py, block_type '2.5d'), stride (2,2,2) to downsample."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Sequential(*conv2plus1d(cin, cout, stride), _bn(cout), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(*conv2plus1d(cout, cout), _bn(cout))
        self.shortcut = None
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=stride, bias=False), _bn(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.conv2(self.conv1(x)) + residual)


class VMZBasicResNet(nn.Module):
    """VMZ's basic-block R(2+1)D (depth 18 or 34): a (2+1)D stem without max-pool, widths 64-512."""

    def __init__(self, blocks: tuple[int, ...], num_classes: int = 400):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn_relu(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3)),
                                  *_conv_bn_relu(45, 64, (3, 1, 1), 1, (1, 0, 0)))
        stages, cin = [], 64
        for index, (cout, n_blocks) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            layer = [BasicBlock2Plus1D(cin, cout, 1 if index == 0 else 2)]
            layer += [BasicBlock2Plus1D(cout, cout) for _ in range(1, n_blocks)]
            stages.append(nn.Sequential(*layer))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 32, 112, 112))
def r2plus1d_34(num_classes: int = 400) -> VMZBasicResNet:
    """R(2+1)D-34 of VMZ (Tran et al., CVPR 2018; facebookresearch/VMZ c2/lib/models/r3d_model.py, depth 34:
    (3,4,6,3) simple blocks, no pool1, the first block of res3-res5 striding (2,2,2)). VMZ's model zoo counts
    its parameters without BN. Input (N, 3, 32, 112, 112) or 8 frames."""
    return VMZBasicResNet((3, 4, 6, 3), num_classes)
