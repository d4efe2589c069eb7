"""A tiny 3D CNN without batch norm for engine tests (DDP equals single-process only without BN),
built by `repro run` as the model `tinymodels:tiny3d`."""
from __future__ import annotations

import torch
from torch import nn


def tiny3d(num_classes: int = 8, width: int = 8) -> nn.Module:
    """Input: (N, 3, T, H, W). Two 3D convolutions, global pooling, a linear classifier."""
    torch_layers = [nn.Conv3d(3, width, 3, stride=(1, 2, 2), padding=1), nn.ReLU(inplace=True),
                    nn.Conv3d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(inplace=True),
                    nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(2 * width, num_classes)]
    return nn.Sequential(*torch_layers)


__all__ = ["tiny3d", "torch"]
