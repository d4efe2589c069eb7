"""The Inception-v1 video family: I3D (Carreira & Zisserman, CVPR 2017) and S3D / S3D-G (Xie et al., ECCV 2018).

One skeleton, Inception-v1 (GoogLeNet) inflated to 3D, with the branch widths of deepmind/kinetics-i3d
`i3d.py` (lines 168-479, the Mixed_3b ... Mixed_5c endpoints), which torchvision's S3D and kylemin/S3D share:

- conv1 7x7x7 stride 2; max-pool 1x3x3 /(1,2,2); conv 1x1x1 64; conv 3x3x3 192; max-pool 1x3x3 /(1,2,2);
- Mixed_3b, 3c; max-pool 3x3x3 /2; Mixed_4b-4f; max-pool 2x2x2 /2; Mixed_5b, 5c (1024 channels);
- each Mixed block: 1x1 | 1x1 -> 3x3x3 | 1x1 -> 3x3x3 | max-pool 3x3x3 /1 -> 1x1, concatenated;
- head: average pool (2,7,7) stride 1, dropout, a 1x1x1 conv with bias to the classes, then the mean over
  the remaining time steps (i3d.py line 472): at 64 frames the logits conv runs at 7 temporal positions.
- Every conv has no bias and is followed by BN and ReLU. TF "SAME" padding is written as symmetric padding,
  which gives the same sizes (and MACs) for even inputs such as 64x224x224.

I3D (`variant="i3d"`): every k>1 conv is a full 3D conv. DeepMind's BN has a shift but no scale (the released
checkpoints hold only `batch_norm/beta`), so `bn_scale=False` reproduces their parameter count; PyTorch
ports (piergiaj/pytorch-i3d) use BN with scale and shift, the default. Two-stream I3D is an RGB network and a
flow network (2 input channels) whose logits are added (README lines 100-104): `i3d_two_stream`.

S3D (`variant="s3d"`): every k>1 conv, conv1 included, is separable: a (1,k,k) spatial conv + BN + ReLU, then
a (k,1,1) temporal conv + BN + ReLU (torchvision/models/video/s3d.py, kylemin/S3D model.py; BN eps 1e-3).
S3D-G (`gating=True`): each branch output of every Mixed block is multiplied by a sigmoid gate computed from
its space-time average by a linear layer with bias (TengdaHan/CoCLR `backbone/s3dg.py`, the layout whose
parameter count TengdaHan/ActionClassification's README publishes). TF-slim's `s3dg.py` differs (a full
3x7x7 conv1, a bias instead of BN after temporal convs, bias-free gates also after Conv2d_2c); the
docstrings of the builders say which layout each reproduces.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repro.models import register

# (name, 1x1, 3x3 reduce, 3x3, 3x3b reduce, 3x3b, pool proj): i3d.py's branch widths, Mixed_3b ... Mixed_5c.
MIXED = (("3b", 64, 96, 128, 16, 32, 32), ("3c", 128, 128, 192, 32, 96, 64),
         ("4b", 192, 96, 208, 16, 48, 64), ("4c", 160, 112, 224, 24, 64, 64), ("4d", 128, 128, 256, 24, 64, 64),
         ("4e", 112, 144, 288, 32, 64, 64), ("4f", 256, 160, 320, 32, 128, 128),
         ("5b", 256, 160, 320, 32, 128, 128), ("5c", 384, 192, 384, 48, 128, 128))


def _bn(channels: int, scale: bool) -> nn.BatchNorm3d:
    bn = nn.BatchNorm3d(channels, eps=1e-3, momentum=0.01)
    if not scale:  # DeepMind's Sonnet BatchNorm: shift (beta) only
        del bn.weight
        bn.register_parameter("weight", None)
    return bn


class Unit3d(nn.Sequential):
    """Conv3d (no bias) + BN + ReLU: i3d.py's Unit3D."""

    def __init__(self, cin: int, cout: int, kernel=1, stride=1, padding=0, bn_scale: bool = True):
        super().__init__(nn.Conv3d(cin, cout, kernel, stride, padding, bias=False), _bn(cout, bn_scale),
                         nn.ReLU(inplace=True))


class SepConv3d(nn.Sequential):
    """A (1,k,k) spatial conv then a (k,1,1) temporal conv, each with BN and ReLU (S3D's separable conv)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, bn_scale: bool = True):
        super().__init__(Unit3d(cin, cout, (1, k, k), (1, stride, stride), (0, padding, padding), bn_scale),
                         Unit3d(cout, cout, (k, 1, 1), (stride, 1, 1), (padding, 0, 0), bn_scale))


def _kxk(cin: int, cout: int, k: int, stride: int, padding: int, separable: bool, bn_scale: bool) -> nn.Module:
    if separable:
        return SepConv3d(cin, cout, k, stride, padding, bn_scale)
    return Unit3d(cin, cout, k, stride, padding, bn_scale)


class SelfGating(nn.Module):
    """S3D-G's feature gating: x * sigmoid(W mean(x) + b), one weight per channel pair."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))
        return x * weights[:, :, None, None, None]


class Mixed(nn.Module):
    """One Inception-v1 block in 3D: four branches concatenated on channels, each optionally gated."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c3br: int, c3b: int, cp: int, separable: bool,
                 gating: bool, bn_scale: bool):
        super().__init__()
        self.branches = nn.ModuleList([
            Unit3d(cin, c1, bn_scale=bn_scale),
            nn.Sequential(Unit3d(cin, c3r, bn_scale=bn_scale), _kxk(c3r, c3, 3, 1, 1, separable, bn_scale)),
            nn.Sequential(Unit3d(cin, c3br, bn_scale=bn_scale), _kxk(c3br, c3b, 3, 1, 1, separable, bn_scale)),
            nn.Sequential(nn.MaxPool3d(3, 1, 1), Unit3d(cin, cp, bn_scale=bn_scale))])
        self.gates = nn.ModuleList([SelfGating(c) for c in (c1, c3, c3b, cp)]) if gating else None
        self.out_channels = c1 + c3 + c3b + cp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        if self.gates is not None:
            outs = [gate(out) for gate, out in zip(self.gates, outs, strict=True)]
        return torch.cat(outs, 1)


class InceptionVideo(nn.Module):
    """The I3D / S3D trunk, then the logits head of i3d.py (average pool (2,7,7) /1, 1x1x1 conv, mean over T)."""

    def __init__(self, num_classes: int = 400, in_channels: int = 3, variant: str = "i3d", gating: bool = False,
                 bn_scale: bool = True, dropout: float = 0.5):
        super().__init__()
        if variant not in ("i3d", "s3d"):
            raise ValueError(f"variant must be 'i3d' or 's3d', got {variant!r}")
        separable = variant == "s3d"
        self.stem = nn.Sequential(
            _kxk(in_channels, 64, 7, 2, 3, separable, bn_scale), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            Unit3d(64, 64, bn_scale=bn_scale), _kxk(64, 192, 3, 1, 1, separable, bn_scale),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        blocks, channels = [], 192
        for name, *widths in MIXED:
            if name == "4b":
                blocks.append(nn.MaxPool3d(3, 2, 1))
            elif name == "5b":
                blocks.append(nn.MaxPool3d(2, 2))
            block = Mixed(channels, *widths, separable=separable, gating=gating, bn_scale=bn_scale)
            blocks.append(block)
            channels = block.out_channels
        self.mixed = nn.Sequential(*blocks)
        self.pool = nn.AvgPool3d((2, 7, 7), stride=1)
        self.dropout = nn.Dropout(dropout)
        self.logits = nn.Conv3d(channels, num_classes, 1, bias=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, H, W) -> (N, 1024, T/8, H/32, W/32), the Mixed_5c map."""
        return self.mixed(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if x.shape[2] >= 2 and x.shape[3] == x.shape[4] == 7:
            x = self.pool(x)  # i3d.py: avg_pool [2, 7, 7] stride 1, VALID (224x224 inputs)
        else:  # a smaller map (a small test input) pools whole in space
            x = F.adaptive_avg_pool3d(x, (1, 1, 1))
        return self.logits(self.dropout(x)).mean(dim=(2, 3, 4))


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 64, 224, 224))
def i3d_inception(num_classes: int = 400, in_channels: int = 3, bn_scale: bool = True,
                  dropout: float = 0.5) -> InceptionVideo:
    """I3D, Inception-v1 inflated (Carreira & Zisserman 2017; deepmind/kinetics-i3d i3d.py).

    Input (N, 3, 64, 224, 224) as the paper trains and tests (flow: in_channels=2). `bn_scale=False` is
    DeepMind's layout: 12,689,984 parameters with 400 classes, as their released checkpoints hold."""
    return InceptionVideo(num_classes, in_channels, "i3d", False, bn_scale, dropout)


class TwoStream(nn.Module):
    """Two networks on RGB and on optical flow (2 channels), their logits added (I3D README lines 100-104)."""

    def __init__(self, rgb: nn.Module, flow: nn.Module):
        super().__init__()
        self.rgb, self.flow = rgb, flow

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return self.rgb(rgb) + self.flow(flow)


@register(example_input=((1, 3, 8, 32, 32), (1, 2, 8, 32, 32)), example_output=(1, 400),
          reference_input=((1, 3, 64, 224, 224), (1, 2, 64, 224, 224)))
def i3d_two_stream(num_classes: int = 400, bn_scale: bool = True) -> TwoStream:
    """Two-stream I3D: an RGB I3D and a flow I3D (2 input channels, TV-L1 x and y), logits added.
    Input: an RGB clip (N, 3, 64, 224, 224) and a flow clip (N, 2, 64, 224, 224)."""
    return TwoStream(i3d_inception(num_classes, 3, bn_scale), i3d_inception(num_classes, 2, bn_scale))


@register(example_input=(1, 3, 8, 32, 32), example_output=(1, 400), reference_input=(1, 3, 64, 224, 224))
def s3d(num_classes: int = 400, in_channels: int = 3, gating: bool = False, dropout: float = 0.2) -> InceptionVideo:
    """S3D (Xie et al. 2018), separable convolutions everywhere, conv1 included (torchvision s3d.py layout:
    8,320,048 parameters with 400 classes, its weights' metadata). `gating=True` is S3D-G with CoCLR's gates
    (a linear layer with bias on each Mixed-block branch): 9,098,000 parameters without the classifier, as
    TengdaHan/ActionClassification's README publishes. Input (N, 3, 64, 224, 224)."""
    return InceptionVideo(num_classes, in_channels, "s3d", gating, True, dropout)
