"""A replica of the FLOP counter shipped with okankop/Efficient-3DCNNs (thop/count_hooks.py) from its first
commit (7595100, 2019-04-26) until db45ff8 (2021-10-18), whose message calls the stride division below a bug
inherited from pytorch-OpCounter and says the authors' paper was updated; read in the repository's history.

Some papers print FLOPs that no correct count gives. GCF-Net's Table 3 (446 / 360 / 6,932 MFLOPs) is
one: its backbones come from Efficient-3DCNNs, whose bundled thop differs from a MAC count in ways
found by reading that file (../shared/notes/sources.md lists the repository; its counts of the current,
fixed counter are higher):
- a convolution's output size is divided by its stride a second time, so strided convs are undercounted;
- batch norm adds 2 ops per input element, ReLU/ReLU6 1 per element;
- max pooling adds (kernel volume - 1) per output element, with an int kernel read as one element;
- a linear layer adds (2 * in_features - 1) per output element; a conv adds one more per output
  element when it has a bias.
This module reproduces that arithmetic with forward hooks so that a printed number can be explained
by running code. It is never the suite's measure of cost: `repro.measure.flops` is.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _conv(module: nn.Conv3d | nn.Conv2d, output: torch.Tensor) -> float:
    spatial = [size // stride for size, stride in zip(output.shape[2:], module.stride, strict=True)]
    per_output = math.prod(module.kernel_size) * module.in_channels // module.groups + (module.bias is not None)
    return output.shape[0] * module.out_channels * math.prod(spatial) * per_output


def _max_pool(module: nn.MaxPool3d | nn.MaxPool2d, output: torch.Tensor) -> float:
    kernel = module.kernel_size
    volume = math.prod(kernel) if isinstance(kernel, Sequence) else kernel  # thop reads an int kernel as is
    return (volume - 1) * output.numel()


def count(model: nn.Module, inputs: Sequence[torch.Tensor] | torch.Tensor) -> float:
    """Total "FLOPs" of one forward pass as Efficient-3DCNNs' thop reports them."""
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    total = [0.0]

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if isinstance(module, (nn.Conv3d, nn.Conv2d)):
            total[0] += _conv(module, output)
        elif isinstance(module, (nn.BatchNorm3d, nn.BatchNorm2d, nn.BatchNorm1d)):
            total[0] += 2 * args[0].numel()
        elif isinstance(module, (nn.ReLU, nn.ReLU6)):
            total[0] += args[0].numel()
        elif isinstance(module, (nn.MaxPool3d, nn.MaxPool2d)):
            total[0] += _max_pool(module, output)
        elif isinstance(module, nn.Linear):
            total[0] += (2 * module.in_features - 1) * output.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total[0]
