"""BN-Inception (Ioffe & Szegedy 2015, "Batch Normalization", Fig. 5 / appendix table), as TSN uses it.

TSN (Wang et al. 2016) and its PyTorch port yjxiong/tsn-pytorch load the Caffe BN-Inception described by
`tf_model_zoo/bninception/bn_inception.yaml`; every layer here follows that file (read in a copy at
shuangshuangguo/DeepRFL, same path), which agrees with the paper's table:

- conv1 7x7/2 -> 64, max-pool 3/2; conv2 1x1 -> 64 then 3x3 -> 192, max-pool 3/2;
- inception 3a, 3b, 3c (stride 2), 4a-4e (4e stride 2), 5a, 5b; 7x7 average pool; FC 1024 -> classes.
- Every conv has a bias (Caffe default) and is followed by BN and ReLU.
- Pooling is Caffe's: ceil mode; the 3x3/1 average pools count the zero padding.

Pooling choices (yaml and paper table agree): the 3c and 4e pass-through branches are max-pool 3x3/2 with
no padding; the projected pool branches are average pools in 3a-5a and a max pool in 5b ("Max + 128" in the
paper's table). `pool_5b="avg"` gives the all-average variant some re-implementations use.

Input: (N, 3, 224, 224) per TSN segment. `features` gives the (N, 1024) globally pooled feature that
MAiVAR takes per segment (Sec. III-B1, 25 segments x 1024).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from repro.models import register


class ConvBNReLU(nn.Sequential):
    """Caffe conv (with bias) + BN + ReLU, the unit of every BN-Inception layer."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=True),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class InceptionBN(nn.Module):
    """One inception module of the paper's table.

    Branches: 1x1; 1x1 reduce -> 3x3; 1x1 reduce -> 3x3 -> 3x3 ("double 3x3"); pool (-> 1x1 projection).
    With stride 2 (3c, 4e) the 1x1 branch is absent, the last 3x3 of each branch strides, and the pool
    branch is a plain 3x3/2 max pool passed through without projection.
    """

    def __init__(self, in_channels: int, c1x1: int, c3x3_reduce: int, c3x3: int, double_reduce: int,
                 double_3x3: int, pool: str, pool_proj: int, stride: int = 1):
        super().__init__()
        self.branch_1x1 = ConvBNReLU(in_channels, c1x1, 1) if c1x1 else None
        self.branch_3x3 = nn.Sequential(ConvBNReLU(in_channels, c3x3_reduce, 1),
                                        ConvBNReLU(c3x3_reduce, c3x3, 3, stride, 1))
        self.branch_double = nn.Sequential(ConvBNReLU(in_channels, double_reduce, 1),
                                           ConvBNReLU(double_reduce, double_3x3, 3, 1, 1),
                                           ConvBNReLU(double_3x3, double_3x3, 3, stride, 1))
        if stride == 2:  # pass-through: Caffe max pool 3x3/2, no padding, ceil mode
            self.branch_pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        else:
            pooling = nn.MaxPool2d(3, 1, 1, ceil_mode=True) if pool == "max" else nn.AvgPool2d(3, 1, 1, ceil_mode=True)
            self.branch_pool = nn.Sequential(pooling, ConvBNReLU(in_channels, pool_proj, 1))
        self.out_channels = c1x1 + c3x3 + double_3x3 + (pool_proj if stride == 1 else in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.branch_1x1(x)] if self.branch_1x1 is not None else []
        outs += [self.branch_3x3(x), self.branch_double(x), self.branch_pool(x)]
        return torch.cat(outs, 1)


# (name, 1x1, 3x3 reduce, 3x3, double reduce, double 3x3, pool, pool proj, stride): the paper's table = the yaml.
BN_INCEPTION_TABLE = [
    ("3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("5b", 352, 192, 320, 192, 224, "max", 128, 1),
]


class BNInception(nn.Module):
    """BN-Inception trunk, global average pool, dropout (TSN puts it before its new FC) and FC."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.0, pool_5b: str = "max"):
        super().__init__()
        if pool_5b not in ("max", "avg"):
            raise ValueError(f"pool_5b must be 'max' or 'avg', got {pool_5b!r}")
        self.stem = nn.Sequential(
            ConvBNReLU(in_channels, 64, 7, 2, 3), nn.MaxPool2d(3, 2, ceil_mode=True),
            ConvBNReLU(64, 64, 1), ConvBNReLU(64, 192, 3, 1, 1), nn.MaxPool2d(3, 2, ceil_mode=True))
        blocks, channels = [], 192
        for name, *widths in BN_INCEPTION_TABLE:
            if name == "5b":
                widths[5] = pool_5b
            block = InceptionBN(channels, *widths)
            blocks.append((f"inception_{name}", block))
            channels = block.out_channels
        self.inception = nn.Sequential(OrderedDict(blocks))
        # TSN's 7x7/1 average pool is global at 224; adaptive pooling keeps small test inputs usable.
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 1024): the pooled feature TSN feeds its consensus (MAiVAR Sec. III-C1)."""
        return self.global_pool(self.inception(self.stem(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))


@register(example_input=(1, 3, 64, 64), example_output=(1, 1000))
def bninception(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.0,
                pool_5b: str = "max") -> BNInception:
    """BN-Inception of TSN (Caffe model in yjxiong/tsn-pytorch, bn_inception.yaml; Ioffe & Szegedy 2015 table).

    Input: (N, 3, 224, 224) frames (one per TSN segment). Output: (N, num_classes); `features` gives (N, 1024).
    `pool_5b` picks the 5b pool branch ("max" as in the paper table and the yaml). Spatial sizes where a
    stride-2 module sees an odd map make the ceil-mode pass-through pool one smaller than the conv branches
    (as in Caffe), so use sides that stay even down to 4e (e.g. 64, 224).
    """
    return BNInception(num_classes, in_channels, dropout, pool_5b)
