"""C3D (Tran et al., ICCV 2015, "Learning spatiotemporal features with 3D convolutional networks").

Layers from the authors' Sports-1M net (facebookarchive/C3D, C3D-v1.0/examples/c3d_feature_extraction/
prototxt/c3d_sport1m_feature_extractor_frm.prototxt), which MMAction2's `mmaction/models/backbones/c3d.py`
follows:

- eight 3x3x3 convs (pad 1, with bias, ReLU, no BN): conv1a 64, conv2a 128, conv3a/b 256, conv4a/b 512,
  conv5a/b 512;
- pool1 1x2x2 /(1,2,2); pool2-pool5 2x2x2 /2; Caffe rounds pool5 up, so a 16x112x112 clip gives 512x1x4x4
  = 8192 features. MMAction2 pads pool5 by (0,1,1) instead: the same size, but its windows start one pixel
  earlier, so its checkpoints need `pool5="mmaction2"` to give its outputs;
- fc6 8192 -> 4096, fc7 4096 -> 4096, each with ReLU and dropout 0.5; fc8 to the classes (487 on Sports-1M).

Input: (N, 3, 16, 112, 112); any T that pools to one time step (8 or 16) and 112x112.
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models import register

CHANNELS = ((64,), (128,), (256, 256), (512, 512), (512, 512))


POOL5 = {"caffe": dict(ceil_mode=True), "mmaction2": dict(padding=(0, 1, 1))}


class C3D(nn.Module):
    def __init__(self, num_classes: int = 487, in_channels: int = 3, dropout: float = 0.5, pool5: str = "caffe"):
        super().__init__()
        if pool5 not in POOL5:
            raise ValueError(f"pool5 must be one of {', '.join(POOL5)}, got {pool5!r}")
        layers: list[nn.Module] = []
        cin = in_channels
        for stage, widths in enumerate(CHANNELS):
            for cout in widths:
                layers += [nn.Conv3d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
                cin = cout
            if stage == 0:
                layers.append(nn.MaxPool3d((1, 2, 2), (1, 2, 2)))
            elif stage == len(CHANNELS) - 1:
                layers.append(nn.MaxPool3d(2, 2, **POOL5[pool5]))
            else:
                layers.append(nn.MaxPool3d(2, 2))
        self.features = nn.Sequential(*layers)
        self.fc6 = nn.Sequential(nn.Linear(8192, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.fc7 = nn.Sequential(nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.fc8 = nn.Linear(4096, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if x.shape[2:] != (1, 4, 4):
            raise ValueError(f"C3D's fc6 reads a 512x1x4x4 pool5 map (16 or 8 frames of 112x112); the input gave "
                             f"{tuple(x.shape[1:])}")
        return self.fc8(self.fc7(self.fc6(x.flatten(1))))


@register(example_input=(1, 3, 8, 112, 112), example_output=(1, 487), reference_input=(1, 3, 16, 112, 112))
def c3d(num_classes: int = 487, in_channels: int = 3, dropout: float = 0.5, pool5: str = "caffe") -> C3D:
    """C3D of the Sports-1M release (487 classes); MMAction2's UCF101 model is
    `c3d(num_classes=101, pool5="mmaction2")` (its pool5 padding, mmaction/models/backbones/c3d.py).

    Input (N, 3, 16, 112, 112). Output (N, num_classes)."""
    return C3D(num_classes, in_channels, dropout, pool5)
