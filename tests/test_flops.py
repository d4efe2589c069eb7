"""The MAC counter: each op handle against a hand count, and torchvision's published references."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from repro import models
from repro.measure.flops import count


class _Wrap(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def _ops(fn, x):
    return count(_Wrap(fn), x, second_opinion=False)


def test_max_pool3d_handle():
    c = _ops(lambda x: nn.functional.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1)), torch.zeros(1, 4, 2, 8, 8))
    assert c.other_ops == {"max_pool": 4 * 2 * 4 * 4 * 9} and c.macs == 0  # output 4x2x4x4, window 9


def test_adaptive_avg_pool3d_handle_reads_every_input_once():
    c = _ops(lambda x: nn.functional.adaptive_avg_pool3d(x, 1), torch.zeros(1, 8, 2, 7, 7))
    assert c.other_ops == {"adaptive_pool": 8 * 2 * 7 * 7}


def test_elementwise_handles():
    c = _ops(lambda x: torch.sigmoid(x) * x + x, torch.zeros(1, 3, 4, 5))
    assert c.other_ops == {"elementwise": 3 * 60} and c.unsupported == {}


def test_gru_handle():
    gru = nn.GRU(16, 8)
    c = count(gru, torch.zeros(5, 2, 16), second_opinion=False)  # 5 steps, batch 2
    assert c.by_op == {"gru": 5 * 2 * 3 * (16 * 8 + 8 * 8)} and c.macs == c.by_op["gru"]


def test_lstm_handle_two_layers_bidirectional_batch_first():
    lstm = nn.LSTM(16, 8, num_layers=2, bidirectional=True, batch_first=True)
    c = count(lstm, torch.zeros(3, 4, 16), second_opinion=False)  # batch 3, 4 steps
    per_step = 2 * 4 * (16 * 8 + 8 * 8) + 2 * 4 * (16 * 8 + 8 * 8)  # layer 2 reads 2*8 = 16 inputs
    assert c.by_op == {"lstm": 3 * 4 * per_step}


def test_conv_and_linear_are_macs_and_batch_norm_is_not():
    model = nn.Sequential(nn.Conv3d(2, 4, 3, padding=1, bias=False), nn.BatchNorm3d(4), nn.Flatten(),
                          nn.Linear(4 * 27, 5))
    c = count(model.eval(), torch.zeros(1, 2, 3, 3, 3))
    assert c.by_op == {"conv": 4 * 27 * 2 * 27, "linear": 4 * 27 * 5}
    assert c.other_ops["batch_norm"] > 0 and c.params == 2 * 4 * 27 + 8 + 4 * 27 * 5 + 5
    assert c.second_opinion == pytest.approx(c.macs, rel=1e-3)


# torchvision's documented references at 16x112x112 (../shared/notes/sources.md, FLOP conventions).
TORCHVISION = {"baselines/r3d_18": (33_371_472, 40.70), "baselines/mc3_18": (11_695_440, 43.34),
               "baselines/r2plus1d_18": (31_505_325, None)}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_references(name):
    params, gflops = TORCHVISION[name]
    c = count(models.build(name), torch.zeros(1, 3, 16, 112, 112))
    assert c.params == params
    if gflops is not None:
        assert c.macs / 1e9 == pytest.approx(gflops, rel=0.005)
    assert abs(c.disagreement) < 0.01  # ptflops' aten backend agrees


@pytest.mark.parametrize("name, params_m, gmacs", [
    ("baselines/r2plus1d_50", 46.99, 29.98), ("baselines/r3d_50", 46.98, 29.46), ("baselines/r2d_26", 14.82, 3.167)])
def test_vmz_backbones_match_the_rederived_costs_at_8x224(name, params_m, gmacs):
    """sources.md re-derives these from VMZ's builder; FASTER prints 30.0 and 3.2 GFLOPs at 8 frames."""
    c = count(models.build(name), torch.zeros(1, 3, 8, 224, 224), second_opinion=False)
    assert c.macs / 1e9 == pytest.approx(gmacs, rel=1e-3)
    assert c.params / 1e6 == pytest.approx(params_m, rel=1e-3)


def test_reduction_and_elementwise_handles_used_by_kpsem():
    def fn(x):
        positions = torch.nn.functional.one_hot(x.flatten(2).argmax(-1), 6).movedim(-1, 1)
        return torch.where(x > 0, torch.reciprocal(x.abs() + 1), torch.ones_like(x)).sum(), positions
    c = _ops(fn, torch.randn(1, 2, 2, 3))  # 12 elements
    assert c.unsupported == {} and c.macs == 0
    assert c.other_ops["reduction"] == 12 + 12  # argmax and sum each read every element once
    assert c.other_ops["elementwise"] == 12 * 4  # abs, add, reciprocal, where (the comparison is not counted)


def test_avg_pool_and_mean_handles():
    c = _ops(lambda x: nn.functional.avg_pool3d(x, (2, 2, 2)).mean(dim=(2, 3, 4)), torch.zeros(1, 3, 4, 4, 4))
    assert c.other_ops == {"avg_pool": 3 * 2 * 2 * 2 * 8, "mean": 3 * 2 * 2 * 2}  # 8-element windows, then the mean
    assert c.unsupported == {} and c.macs == 0

