"""Counting multiply-adds and parameters.

Convention: one multiply-add is one MAC, and the MAC count covers convolutions, linear layers,
matrix products and recurrent cells. This is what fvcore counts as a "flop" and what torchvision
publishes as GFLOPS: its r3d_18 at 16x112x112 is 40.70 G = conv + linear only
(../shared/notes/sources.md). Normalisation, pooling and element-wise ops are counted too, but
as `other_ops`, outside the MACs, so that a paper's convention can be matched either way.

fvcore is the primary counter; handles are registered here for the ops it skips (3D pooling,
GRU, LSTM, element-wise). ptflops with `backend="aten"` is the second opinion: it counts the same
aten matmul and convolution ops through a dispatch mode rather than a JIT trace.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

import torch
from torch import nn

MAC_OPS = ("conv", "linear", "matmul", "addmm", "bmm", "einsum", "mm", "gru", "lstm", "rnn")


@dataclass(frozen=True)
class Count:
    """MACs and parameters of one forward pass. `other_ops` holds non-MAC work by op."""

    macs: float
    params: int
    by_op: dict[str, float]
    other_ops: dict[str, float] = field(default_factory=dict)
    unsupported: dict[str, int] = field(default_factory=dict)
    second_opinion: float | None = None

    @property
    def disagreement(self) -> float | None:
        """Relative difference of the second counter from the first."""
        if self.second_opinion is None or not self.macs:
            return None
        return (self.second_opinion - self.macs) / self.macs


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- fvcore handles ------------------------------------------------------------------------------
# Each handle receives the JIT node's inputs and outputs (torch._C.Value) and returns a Counter.


def _shape(value: Any) -> list[int]:
    return value.type().sizes()


def _numel(value: Any) -> int:
    return math.prod(_shape(value))


def _elementwise(name: str):
    def handle(inputs: list, outputs: list) -> Counter:
        return Counter({name: _numel(outputs[0])})
    return handle


def _int_list(value: Any) -> list[int]:
    """A traced int list: a constant, or a prim::ListConstruct of constants."""
    constant = value.toIValue()
    if constant is not None:
        return [int(v) for v in constant]
    return [int(item.toIValue()) for item in value.node().inputs()]


def _window(name: str):
    """Windowed pooling: one op per input element each output reads (output elements x window)."""
    def handle(inputs: list, outputs: list) -> Counter:
        return Counter({name: _numel(outputs[0]) * math.prod(_int_list(inputs[1]))})
    return handle


def _whole_input(name: str):
    """Adaptive pooling and reductions read every input element once."""
    def handle(inputs: list, outputs: list) -> Counter:
        return Counter({name: _numel(inputs[0])})
    return handle


def _recurrent(name: str, gates: int):
    """aten::gru / aten::lstm: per step and layer, gates x (input x hidden + hidden x hidden) MACs.

    Both ops take (input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
    batch_first).
    """
    def handle(inputs: list, outputs: list) -> Counter:
        x_shape = _shape(inputs[0])
        batch_first = bool(inputs[8].toIValue())
        steps, batch = (x_shape[1], x_shape[0]) if batch_first else (x_shape[0], x_shape[1])
        n_layers = int(inputs[4].toIValue())
        directions = 2 if inputs[7].toIValue() else 1
        hidden = _shape(outputs[0])[-1] // directions
        macs = 0
        for layer in range(n_layers):
            layer_in = x_shape[-1] if layer == 0 else hidden * directions
            macs += directions * gates * (layer_in * hidden + hidden * hidden)
        return Counter({name: macs * steps * batch})
    return handle


def _no_arithmetic(inputs: list, outputs: list) -> Counter:
    return Counter()


HANDLES = {
    "aten::gru": _recurrent("gru", 3),
    "aten::lstm": _recurrent("lstm", 4),
    "aten::max_pool3d": _window("max_pool"), "aten::max_pool2d": _window("max_pool"),
    "aten::max_pool3d_with_indices": _window("max_pool"),
    "aten::avg_pool3d": _window("avg_pool"), "aten::avg_pool2d": _window("avg_pool"),
    **{f"aten::adaptive_avg_pool{d}d": _whole_input("adaptive_pool") for d in (1, 2, 3)},
    "aten::mean": _whole_input("mean"), "aten::sum": _whole_input("reduction"),
    "aten::amax": _whole_input("reduction"), "aten::max": _whole_input("reduction"),
    "aten::argmax": _whole_input("reduction"),
    **{f"aten::{op}": _elementwise("elementwise") for op in (
        "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "sigmoid", "sigmoid_", "tanh", "tanh_",
        "relu", "relu_", "hardtanh", "hardtanh_", "softmax", "rsub", "exp", "abs", "where", "reciprocal")},
    # Index and layout ops move data and do no arithmetic: counted as zero, explicitly, so that
    # `unsupported` only lists ops nobody has looked at.
    **{f"aten::{op}": _no_arithmetic for op in ("one_hot", "movedim", "ones_like", "new_ones", "zeros_like",
                                                "new_zeros", "gather", "scatter", "index_select")},
}


def _fvcore(model: nn.Module, inputs: tuple) -> tuple[Counter, dict[str, int]]:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, inputs)
    analysis.set_op_handle(**HANDLES)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_op = Counter(analysis.by_operator())
    return by_op, dict(analysis.unsupported_ops())


def _ptflops(model: nn.Module, inputs: tuple) -> float | None:
    """ptflops' aten backend; it feeds one input tensor, so multi-input models get no second opinion."""
    from ptflops import get_model_complexity_info

    if len(inputs) != 1:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = get_model_complexity_info(model, tuple(inputs[0].shape[1:]), as_strings=False,
                                            backend="aten", print_per_layer_stat=False, verbose=False)
    return float(macs)


def count(model: nn.Module, inputs: Sequence[torch.Tensor] | torch.Tensor, *, second_opinion: bool = True) -> Count:
    """Count `model` on `inputs` (batch of one). MACs follow the convention in the module docstring."""
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    model = model.eval()
    with torch.no_grad():
        by_op, unsupported = _fvcore(model, inputs)
        other = _ptflops(model, inputs) if second_opinion else None
    macs = float(sum(v for k, v in by_op.items() if k in MAC_OPS))
    return Count(macs=macs, params=count_params(model),
                 by_op={k: float(v) for k, v in by_op.items() if k in MAC_OPS},
                 other_ops={k: float(v) for k, v in by_op.items() if k not in MAC_OPS},
                 unsupported=unsupported,
                 second_opinion=other)
