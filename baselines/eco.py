"""ECO (Zolfaghari et al., ECCV 2018, "ECO: Efficient Convolutional Network for Online Video Understanding").

Layers from the authors' Caffe definitions (mzolfaghari/ECO-efficient-video-understanding,
models_ECO_Lite/kinetics/deploy.prototxt and models_ECO_Full/kinetics/deploy.prototxt; the same 13 Conv3d
layers as mzolfaghari/ECO-pytorch's ECO.yaml). Every conv, 2D or 3D, has a bias.

- 2D part, per frame: BN-Inception (baselines/bninception.py) up to inception 3b, then from inception 3c only
  its double-3x3 reduce (1x1, 64) and first 3x3 (96, stride 1): a 96 x 28 x 28 map per frame at 224x224.
- 3D part on (96, N, 28, 28), N frames: a 3D ResNet-18 from res3 on, every conv 3x3x3 with pad 1.
  res3a conv 96 -> 128; res3b two convs 128 -> 128; res4a conv 128 -> 256 stride 2 then 256 -> 256 with a
  3x3x3 stride-2 conv shortcut; res4b two convs; res5a/res5b likewise at 512. BN and ReLU follow each
  residual sum, and the identity path carries the sum before BN (res3b_bn, res4a_bn, ... in the prototxt).
  Average pool over (N/4, 7, 7), dropout, FC: ECO-Lite.
- ECO-Full adds the rest of BN-Inception on each frame (3c from its shared layers, 4a-5b), a global average
  pool and the mean over frames: 1024 features concatenated with the 3D part's 512 before one FC.

Input: (N, 3, T, 224, 224), T a multiple of 4 (16 in the Kinetics models).
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models import register

from .bninception import BNInception, ConvBNReLU


def _conv3d(cin: int, cout: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, 3, stride, 1, bias=True)


def _bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm3d(channels), nn.ReLU(inplace=True))


class ResStage3d(nn.Module):
    """Two residual units of ECO's 3D part; the first may change width and stride (with a conv shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.a1 = nn.Sequential(_conv3d(cin, cout, stride), _bn_relu(cout))
        self.a2 = _conv3d(cout, cout)
        self.down = _conv3d(cin, cout, stride)
        self.a_out = _bn_relu(cout)
        self.b1 = nn.Sequential(_conv3d(cout, cout), _bn_relu(cout))
        self.b2 = _conv3d(cout, cout)
        self.b_out = _bn_relu(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a2(self.a1(x)) + self.down(x)
        return self.b_out(self.b2(self.b1(self.a_out(a))) + a)


class ECO3d(nn.Module):
    """res3 (96 -> 128, whose first conv's output is the identity of res3b) then res4, res5 stages."""

    def __init__(self):
        super().__init__()
        self.res3a = _conv3d(96, 128)
        self.res3a_out = _bn_relu(128)
        self.res3b1 = nn.Sequential(_conv3d(128, 128), _bn_relu(128))
        self.res3b2 = _conv3d(128, 128)
        self.res3b_out = _bn_relu(128)
        self.res4, self.res5 = ResStage3d(128, 256, 2), ResStage3d(256, 512, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.res3a(x)
        x = self.res3b_out(self.res3b2(self.res3b1(self.res3a_out(a))) + a)
        x = self.res5(self.res4(x))
        return x.mean(dim=(2, 3, 4))  # the (N/4, 7, 7) average pool at 224x224


class ECO(nn.Module):
    def __init__(self, num_classes: int = 400, segments: int = 16, full: bool = False, dropout: float = 0.3):
        super().__init__()
        if segments % 4:
            raise ValueError(f"ECO's 3D part halves time twice: segments must be a multiple of 4, got {segments}")
        bn = BNInception()  # the 2D layers are BN-Inception's; only those used below are kept
        self.segments, self.full = segments, full
        self.stem, self.inc3a, self.inc3b = bn.stem, bn.inception.inception_3a, bn.inception.inception_3b
        if full:
            self.inc3c = bn.inception.inception_3c
            self.shared = self.inc3c.branch_double[:2]  # 3c's double-3x3 reduce and first 3x3, fed to the 3D part
            self.tail2d = nn.Sequential(*list(bn.inception)[3:])
            self.pool2d = nn.AdaptiveAvgPool2d(1)
        else:
            self.shared = nn.Sequential(ConvBNReLU(320, 64, 1), ConvBNReLU(64, 96, 3, 1, 1))
        self.part3d = ECO3d()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(512 + (1024 if full else 0), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        if t != self.segments:
            raise ValueError(f"this ECO was built for {self.segments} frames, the input has {t}")
        frames = self.inc3b(self.inc3a(self.stem(x.transpose(1, 2).reshape(n * t, c, h, w))))
        shared = self.shared(frames)
        clip = shared.view(n, t, *shared.shape[1:]).transpose(1, 2)
        features = [self.part3d(clip)]
        if self.full:
            inc = self.inc3c
            mixed = torch.cat([inc.branch_3x3(frames), inc.branch_double[2](shared), inc.branch_pool(frames)], 1)
            per_frame = self.pool2d(self.tail2d(mixed)).flatten(1)
            features.insert(0, per_frame.view(n, t, -1).mean(1))
        return self.fc(self.dropout(torch.cat(features, 1)))


@register(example_input=(1, 3, 16, 32, 32), example_output=(1, 400), reference_input=(1, 3, 16, 224, 224))
def eco_lite(num_classes: int = 400, segments: int = 16, dropout: float = 0.3) -> ECO:
    """ECO-Lite: the 2D part to inception 3c's first double 3x3, then the 3D ResNet part. Input (N, 3, T, 224,
    224) with T = segments."""
    return ECO(num_classes, segments, False, dropout)


@register(example_input=(1, 3, 16, 32, 32), example_output=(1, 400), reference_input=(1, 3, 16, 224, 224))
def eco_full(num_classes: int = 400, segments: int = 16, dropout: float = 0.3) -> ECO:
    """ECO-Full: ECO-Lite plus the rest of BN-Inception per frame, averaged over frames, beside the 3D part.
    Input (N, 3, T, 224, 224) with T = segments."""
    return ECO(num_classes, segments, True, dropout)
