"""3D-MobileNetV2, the "3D-MobileNet" backbone of GCF-Net (Table 3: 3.12M params, 600 classes).

Written to okankop/Efficient-3DCNNs models/mobilenetv2.py (Köpüklü et al. 2019), as summarised in
../shared/notes/sources.md ("GCF-Net backbones"): MobileNetV2 (Sandler et al. 2018) with every 2D
kernel made 3D, strides in all three dimensions except the stem's (1, 2, 2), ReLU6, and dropout 0.2
before the classifier.

GCF-Net Sec. 3.1.1 says its backbones apply no temporal stride; Efficient-3DCNNs' model (whose
parameter count the paper prints) does stride in time, and global pooling makes the clip descriptor
the same size either way. This module follows Efficient-3DCNNs.

Cost at (1, 3, 16, 112, 112), 600 classes: 3,122,648 params; 519.05M MACs (repro.measure.flops). The paper's
446 MFLOPs is what Efficient-3DCNNs' own counter (thop/count_hooks.py) prints: it divides each conv's
output size by the stride a second time, and adds BN (2/element), ReLU6 (1/element) and 2*in-1 per
linear output; re-running that arithmetic on this model gives 445.9M.

Input: (N, 3, T, H, W), e.g. (N, 3, 16, 112, 112). Output: (N, num_classes) logits.
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models import register

Stride = tuple[int, int, int]

# (expansion t, output channels c, repeats n, stride s of the first repeat): Efficient-3DCNNs'
# interverted_residual_setting, i.e. MobileNetV2's Table 2 with every stride made 3D.
INVERTED_RESIDUAL_SETTING: list[tuple[int, int, int, Stride]] = [
    (1, 16, 1, (1, 1, 1)),
    (6, 24, 2, (2, 2, 2)),
    (6, 32, 3, (2, 2, 2)),
    (6, 64, 4, (2, 2, 2)),
    (6, 96, 3, (1, 1, 1)),
    (6, 160, 3, (2, 2, 2)),
    (6, 320, 1, (1, 1, 1)),
]


def conv_bn_relu6(in_channels: int, out_channels: int, kernel_size: int, stride: Stride = (1, 1, 1),
                  groups: int = 1) -> nn.Sequential:
    """Conv3d (no bias, 'same' padding) + BN + ReLU6."""
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm3d(out_channels), nn.ReLU6(inplace=True))


class InvertedResidual3d(nn.Module):
    """1x1x1 expand (skipped when t = 1), 3x3x3 depthwise (carries the stride), linear 1x1x1 project.

    The identity shortcut is used only when the stride is 1 and the channels are unchanged
    (MobileNetV2 Sec. 3.3; Efficient-3DCNNs `use_res_connect`).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: Stride, expand_ratio: int):
        super().__init__()
        hidden = round(in_channels * expand_ratio)
        self.use_residual = stride == (1, 1, 1) and in_channels == out_channels
        expand = [conv_bn_relu6(in_channels, hidden, 1)] if expand_ratio != 1 else []
        self.conv = nn.Sequential(
            *expand,
            conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv3d(hidden, out_channels, 1, bias=False), nn.BatchNorm3d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNet3D(nn.Module):
    """3D-MobileNetV2: stem, 17 inverted residual blocks, 1x1x1 conv to 1280, global pool, dropout, FC."""

    def __init__(self, num_classes: int = 600, width_mult: float = 1.0):
        super().__init__()
        in_channels = int(32 * width_mult)
        # As in Efficient-3DCNNs (and MobileNetV2): the last conv is only widened, never narrowed.
        self.feature_dim = int(1280 * width_mult) if width_mult > 1.0 else 1280
        layers: list[nn.Module] = [conv_bn_relu6(3, in_channels, 3, stride=(1, 2, 2))]
        for expand_ratio, channels, repeats, stride in INVERTED_RESIDUAL_SETTING:
            out_channels = int(channels * width_mult)
            for i in range(repeats):
                layers.append(InvertedResidual3d(in_channels, out_channels, stride if i == 0 else (1, 1, 1),
                                                 expand_ratio))
                in_channels = out_channels
        layers.append(conv_bn_relu6(in_channels, self.feature_dim, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.feature_dim, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The globally pooled clip descriptor, (N, feature_dim): what GCF-Net's head consumes."""
        # Efficient-3DCNNs pools with avg_pool3d over the whole map: the same as adaptive pooling to 1.
        return nn.functional.adaptive_avg_pool3d(self.features(x), 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


@register(example_input=(1, 3, 8, 16, 16), example_output=(1, 600))
def mobilenetv2_3d(num_classes: int = 600, width_mult: float = 1.0, sample_size: int = 112) -> MobileNet3D:
    """3D-MobileNetV2 1.0x, GCF-Net's "3D-MobileNet" (Sec. 4.2, Table 3; Efficient-3DCNNs mobilenetv2.py,
    ../shared/notes/sources.md).

    Input: (N, 3, 16, 112, 112) (16-frame clips, 112x112 as in Efficient-3DCNNs). Four stride-2
    stages take 16x56x56 after the stem to 1x4x4.
    `sample_size` is only checked (Efficient-3DCNNs asserts it is divisible by 16); the global
    pooling adapts to any size.
    """
    if sample_size % 16:
        raise ValueError(f"sample_size must be divisible by 16, got {sample_size}")
    return MobileNet3D(num_classes=num_classes, width_mult=width_mult)
