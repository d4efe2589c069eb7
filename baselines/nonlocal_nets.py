"""Image ResNet-50s with a non-local block (Wang et al., CVPR 2018), a compact generalized non-local block
(CGNL; Yue et al., NeurIPS 2018) or compact global descriptors (CGD; He et al., arXiv 1907.09665).

KPSEM's Table 1 quotes "Res50-NL", "Res50-CGD" and "Res50-CGNL" rows; their parameters are those of these
ImageNet models (1000 classes, 224x224), each block written from its authors' code:

- Non-local (KaiyuYue/cgnl-network.pytorch model/resnet.py, SpatialNL): theta, phi and g are 1x1 convs
  C -> C/2 without bias; softmax over positions of theta^T phi scaled by 1/sqrt(C/2); a 1x1 conv C/2 -> C
  without bias, BN, and the residual sum. No subsampling.
- CGNL (same file, SpatialCGNL): theta, phi, g as above; 8 channel groups, each with the dot-product kernel
  (one scalar per group: the sum of theta * phi over its channels and positions) scaling g; a grouped 1x1 conv
  C/2 -> C (8 groups, no bias), GroupNorm(8, C), the residual sum.
- Either block sits in res4 after its 5th of 6 bottlenecks (`i == 5 and blocks == 6` in model/resnet.py).
- CGD (HolmesShuan/Compact-Global-Descriptor, the AttentionLayer after conv1 of every bottleneck): global
  average and max pooling, softmax of the average, two outer products with it squeezed by learned (C, 1)
  weights with biases and tanh, a third squeeze of their outer product, and x * (1 + attention): 6C weights.

Input: (N, 3, 224, 224). Output: (N, num_classes).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from repro.models import register

from .resnet2d import ResNet2D


class SpatialNonLocal(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        inner = channels // 2
        self.theta, self.phi, self.g = (nn.Conv2d(channels, inner, 1, bias=False) for _ in range(3))
        self.out = nn.Conv2d(inner, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.scale = 1.0 / math.sqrt(inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        t, p, g = (conv(x).flatten(2) for conv in (self.theta, self.phi, self.g))  # (N, C/2, HW)
        attention = torch.softmax(torch.bmm(t.transpose(1, 2), p) * self.scale, dim=-1)  # (N, HW, HW)
        y = torch.bmm(g, attention.transpose(1, 2)).view(n, -1, h, w)
        return x + self.bn(self.out(y))


class CompactNonLocal(nn.Module):
    """CGNL with the dot-product kernel, in `groups` channel groups."""

    def __init__(self, channels: int, groups: int = 8):
        super().__init__()
        inner = channels // 2
        self.theta, self.phi, self.g = (nn.Conv2d(channels, inner, 1, bias=False) for _ in range(3))
        self.out = nn.Conv2d(inner, channels, 1, groups=groups, bias=False)
        self.norm = nn.GroupNorm(groups, channels)
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, p, g = (conv(x) for conv in (self.theta, self.phi, self.g))
        n, c, h, w = t.shape
        grouped = [z.view(n, self.groups, c // self.groups * h * w) for z in (t, p, g)]
        weight = (grouped[0] * grouped[1]).sum(-1, keepdim=True)  # one scalar per group
        y = (weight * grouped[2]).view(n, c, h, w)
        return x + self.norm(self.out(y))


class CompactGlobalDescriptor(nn.Module):
    """CGD's attention: 6C weights, x * (1 + a) with a from pooled statistics and their outer products."""

    def __init__(self, channels: int):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(channels, 1)) for _ in range(3)])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(channels, 1, 1)) for _ in range(3)])
        for weight in self.weights:
            nn.init.xavier_uniform_(weight)

    def _squeeze(self, i: int, outer: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.matmul(outer, self.weights[i]).unsqueeze(-1) + self.biases[i])  # (N, C, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        mean, peak = x.mean(dim=(2, 3)), x.amax(dim=(2, 3))
        soft = torch.softmax(mean, dim=1)
        a0 = self._squeeze(0, torch.bmm(soft.view(n, c, 1), mean.view(n, 1, c)))
        a1 = self._squeeze(1, torch.bmm(soft.view(n, c, 1), peak.view(n, 1, c)))
        a2 = self._squeeze(2, torch.bmm(a0.view(n, c, 1), a1.view(n, 1, c)))
        return x * (a2 + 1)


BLOCKS = {"nl": SpatialNonLocal, "cgnl": CompactNonLocal}


@register(example_input=(1, 3, 64, 64), example_output=(1, 1000), reference_input=(1, 3, 224, 224))
def resnet50_nonlocal(num_classes: int = 1000, block: str = "nl") -> ResNet2D:
    """ResNet-50 with one non-local (`block="nl"`) or CGNL (`"cgnl"`) block in res4 after its 5th bottleneck.
    Input (N, 3, 224, 224)."""
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {sorted(BLOCKS)}, got {block!r}")
    return ResNet2D(50, num_classes, insert={(2, 4): BLOCKS[block]})


@register(example_input=(1, 3, 64, 64), example_output=(1, 1000), reference_input=(1, 3, 224, 224))
def resnet50_cgd(num_classes: int = 1000) -> ResNet2D:
    """ResNet-50 with a compact global descriptor after the first conv of every bottleneck.
    Input (N, 3, 224, 224)."""
    return ResNet2D(50, num_classes, attention=CompactGlobalDescriptor)
