"""MFNet-3D, the multi-fiber network of Chen et al. (ECCV 2018), KPSEM's backbone.

Written to cypw/PyTorch-MFNet network/mfnet_3d.py as summarised in ../shared/notes/sources.md
("KPSEM backbone: MFNet-3D"); module names follow that file so its checkpoints load:
- conv1: 3->16, kernel (3,5,5), pad (1,2,2), stride (1,2,2), BN, ReLU; max-pool (1,3,3) stride (1,2,2).
- conv2..conv5: (3,4,6,3) multi-fiber units, num_mid = num_out = 96/192/384/768, 16 fibers (groups).
- MF unit: every conv is BN-ReLU-Conv without bias. A multiplexer (1x1x1 in->mid/4, 1x1x1 back to
  in) is added to the input; conv_m1 (3,3,3) g=16 carries the stride; conv_m2 is 1x1x1 in the first
  unit and (1,3,3) g=16 in the others; the first unit has a strided 1x1x1 shortcut conv.
- Strides: the first unit of conv2 strides (2,1,1) (16 frames -> 8); those of conv3-5 (1,2,2).
- Head: BN-ReLU, average pool, Linear 768 -> classes. cypw pools with a fixed (8,7,7) kernel; this
  uses global average pooling, identical at 16x224x224 and valid on the small test inputs.
sources.md: 7.996M params and 11.045 GMACs at (1, 3, 16, 224, 224) with 400 classes; conv4 output
384x8x14x14. Weights use PyTorch's default init (cypw applies Xavier; it changes no shape).

`STAGES` names the conv stages; `run_stage(name, x)` runs one, so a module can be inserted after any
of them (KPSEM, Sec. 4.4 Fig. 5a). `features(x, until=...)` returns a stage output,
`pooled_features(x)` the 768-d pooled conv5 feature (KPSEM's F_out, Eq. 1).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from repro.models import register

STAGES = ("conv1", "conv2", "conv3", "conv4", "conv5")


class BNReLUConv3d(nn.Module):
    """Pre-activation conv: BN, ReLU, then a bias-free Conv3d (cypw's BN_AC_CONV3D)."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), pad=(0, 0, 0), stride=(1, 1, 1), groups: int = 1):
        super().__init__()
        self.bn = nn.BatchNorm3d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=pad, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.relu(self.bn(x)))


class MFUnit(nn.Module):
    """One multi-fiber unit: multiplexer, two grouped convs, identity or strided 1x1x1 shortcut."""

    def __init__(self, cin: int, mid: int, cout: int, groups: int, stride=(1, 1, 1), first: bool = False):
        super().__init__()
        self.conv_i1 = BNReLUConv3d(cin, mid // 4)
        self.conv_i2 = BNReLUConv3d(mid // 4, cin)
        self.conv_m1 = BNReLUConv3d(cin, mid, (3, 3, 3), (1, 1, 1), stride, groups)
        if first:
            self.conv_m2 = BNReLUConv3d(mid, cout)
            self.conv_w1 = BNReLUConv3d(cin, cout, stride=stride)
        else:
            self.conv_m2 = BNReLUConv3d(mid, cout, (1, 3, 3), (0, 1, 1), groups=groups)
            self.conv_w1 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_m2(self.conv_m1(x + self.conv_i2(self.conv_i1(x))))
        return h + (x if self.conv_w1 is None else self.conv_w1(x))


class MFNet3D(nn.Module):
    """MFNet-3D with named stages conv1..conv5 (see the module docstring)."""

    def __init__(self, num_classes: int = 400, in_channels: int = 3, groups: int = 16,
                 blocks: tuple[int, ...] = (3, 4, 6, 3), widths: tuple[int, ...] = (96, 192, 384, 768),
                 conv1_channels: int = 16):
        super().__init__()
        self.conv1 = nn.Sequential(OrderedDict([
            ("conv", nn.Conv3d(in_channels, conv1_channels, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2),
                               bias=False)),
            ("bn", nn.BatchNorm3d(conv1_channels)),
            ("relu", nn.ReLU(inplace=True)),
        ]))
        self.maxpool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        cin = conv1_channels
        for index, (width, n_units) in enumerate(zip(widths, blocks, strict=True)):
            stride = (2, 1, 1) if index == 0 else (1, 2, 2)
            units = [(f"B{i:02d}", MFUnit(cin if i == 1 else width, width, width, groups,
                                          stride if i == 1 else (1, 1, 1), first=i == 1))
                     for i in range(1, n_units + 1)]
            setattr(self, f"conv{index + 2}", nn.Sequential(OrderedDict(units)))
            cin = width
        self.stage_channels = dict(zip(STAGES, (conv1_channels, *widths), strict=True))
        self.tail = nn.Sequential(OrderedDict([("bn", nn.BatchNorm3d(cin)), ("relu", nn.ReLU(inplace=True))]))
        self.globalpool = nn.AdaptiveAvgPool3d(1)
        self.classifier = nn.Linear(cin, num_classes)

    def run_stage(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Run one conv stage; conv2 starts with conv1's max-pool, so "conv1" is the 112x112 map."""
        if name == "conv1":
            return self.conv1(x)
        if name == "conv2":
            x = self.maxpool(x)
        return getattr(self, name)(x)

    def features(self, x: torch.Tensor, until: str = "conv5") -> torch.Tensor:
        """The output of stage `until`, e.g. conv4: (N, 384, T/2, H/16, W/16)."""
        if until not in STAGES:
            raise ValueError(f"until must be one of {STAGES}, got {until!r}")
        for name in STAGES[: STAGES.index(until) + 1]:
            x = self.run_stage(name, x)
        return x

    def pooled_features(self, conv5: torch.Tensor) -> torch.Tensor:
        """BN-ReLU and global average pooling of the conv5 map: (N, 768)."""
        return self.globalpool(self.tail(conv5)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooled_features(self.features(x)))


@register(example_input=(1, 3, 16, 32, 32), example_output=(1, 400))
def mfnet_3d(num_classes: int = 400, in_channels: int = 3) -> MFNet3D:
    """MFNet-3D (Chen et al. 2018; cypw/PyTorch-MFNet, ../shared/notes/sources.md).

    Input: (N, 3, 16, 224, 224). Output: (N, num_classes) logits.
    """
    return MFNet3D(num_classes=num_classes, in_channels=in_channels)
