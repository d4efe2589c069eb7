"""FASTER's aggregators and pipeline: shapes, the N-1 recurrent steps of Eq. 1, hand counts, switches."""
from __future__ import annotations

import pytest
import torch

from papers.faster.models import ConcatCell, FastGRUCell, expensive_clips
from repro import models
from repro.measure.flops import count

C, R = 2048, 4


def test_fast_gru_parameters_by_hand():
    squeeze = 2 * (2 * C * (C // R) + C // R)  # U_r, U_z over [x, o]: 2c -> c/r
    expand = 2 * ((C // R) * C + C)  # W_r, W_z: c/r -> c
    candidate = 2 * (C * C + C)  # V_x, V_o: c -> c
    assert sum(p.numel() for p in FastGRUCell(C, R).parameters()) == squeeze + expand + candidate
    with_classifier = sum(p.numel() for p in models.build("faster/fast_gru").parameters())
    assert with_classifier == squeeze + expand + candidate + C * 400 + 400


@pytest.mark.parametrize("clips", [2, 5])
def test_n_clips_take_n_minus_1_steps(clips):
    """Eq. 1: o_0 = x_0, then one step per further clip; each step is 14.68M MACs per position."""
    per_position = 2 * 2 * C * (C // R) + 2 * (C // R) * C + 2 * C * C
    positions = 1 * 2 * 2  # l x h x w of the map
    counted = count(models.build("faster/fast_gru"), torch.zeros(1, clips, C, 1, 2, 2), second_opinion=False)
    assert counted.by_op["conv"] == (clips - 1) * per_position * positions
    assert counted.by_op["linear"] == C * 400


def test_first_clip_alone_is_just_pooled_and_classified():
    model = models.build("faster/fast_gru", num_classes=3).eval()
    x = torch.randn(1, 1, C, 1, 2, 2)
    with torch.no_grad():
        assert torch.allclose(model(x), model.fc(x[:, 0].mean(dim=(2, 3, 4))))


def test_update_gate_closed_keeps_the_state():
    """o_t = (1 - z) o_{t-1} + z o_bar: with z = 0 the state passes through unchanged."""
    cell = FastGRUCell(8, 4)
    with torch.no_grad():
        cell.update_expand.weight.zero_()
        cell.update_expand.bias.fill_(-1e4)
    state, x = torch.randn(1, 8, 1, 2, 2), torch.randn(1, 8, 1, 2, 2)
    assert torch.allclose(cell(state, x), state)


def test_pooled_rnn_baselines_use_the_recurrent_ops():
    x = torch.zeros(1, 4, C, 1, 2, 2)
    gru = count(models.build("faster/gru"), x, second_opinion=False)
    lstm = count(models.build("faster/lstm"), x, second_opinion=False)
    assert gru.by_op["gru"] == 4 * 3 * (C * C + C * C)  # 4 steps over all N clips
    assert lstm.by_op["lstm"] == 4 * 4 * (C * C + C * C)


def test_average_pooling_averages_clip_scores():
    model = models.build("faster/avg_pool", num_classes=5).eval()
    x = torch.randn(2, 3, C, 1, 2, 2)
    with torch.no_grad():
        per_clip = torch.stack([model.fc(x[:, t].mean(dim=(2, 3, 4))) for t in range(3)], dim=1)
        assert torch.allclose(model(x), per_clip.mean(dim=1), atol=1e-6)


def test_concat_keeps_resolution_and_differs_from_fast_gru():
    state = torch.randn(2, C, 2, 3, 3)
    with torch.no_grad():
        assert ConcatCell(C).eval()(state, torch.randn_like(state)).shape == state.shape
    x = torch.randn(1, 3, C, 1, 2, 2)
    torch.manual_seed(0)
    concat = models.build("faster/concat", num_classes=4).eval()
    torch.manual_seed(0)
    fast = models.build("faster/fast_gru", num_classes=4).eval()
    with torch.no_grad():
        assert concat(x).shape == fast(x).shape == (1, 4)
        assert not torch.allclose(concat(x), fast(x))


@pytest.mark.parametrize("pattern, expected", [
    ("All E", [True] * 4), ("All C", [False] * 4), ("1:1", [True, False, True, False]),
    ("1:3", [True, False, False, False, True, False, False, False]),
])
def test_input_patterns(pattern, expected):
    assert expensive_clips(len(expected), pattern) == expected


@pytest.mark.parametrize("bad", ["2", "1:x", "0:3"])
def test_bad_pattern_is_named(bad):
    with pytest.raises(ValueError, match="pattern"):
        expensive_clips(4, bad)


def test_pipeline_sends_each_clip_to_the_scheduled_backbone(monkeypatch):
    model = models.build("faster/faster", pattern="1:1", aggregator="avg_pool").eval()
    seen = []
    for name in ("expensive", "cheap"):
        backbone = getattr(model, name)
        original = backbone.features
        monkeypatch.setattr(backbone, "features", lambda x, n=name, f=original: seen.append(n) or f(x))
    with torch.no_grad():
        assert model(torch.zeros(1, 4, 3, 8, 32, 32)).shape == (1, 400)
    assert seen == ["expensive", "cheap", "expensive", "cheap"]
    with pytest.raises(ValueError, match="aggregator"):
        models.build("faster/faster", aggregator="max")
