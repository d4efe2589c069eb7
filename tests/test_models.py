"""The model registry and the forward shape of every registered model on its small example."""
from __future__ import annotations

import pytest
import torch

from repro import models


def _example_inputs(name):
    shapes, _ = models.example(name)
    return [torch.randn(shape) for shape in shapes]


def test_every_registered_model_declares_a_small_example():
    missing = [name for name in models.available() if models.example(name) is None]
    assert not missing, f"register these with example_input= and example_output=: {missing}"


@pytest.mark.parametrize("name", models.available())
def test_forward_shape(name):
    _, out = models.example(name)
    torch.manual_seed(0)
    model = models.build(name).eval()
    with torch.no_grad():
        result = model(*_example_inputs(name))
    assert tuple(result.shape) == out
    assert torch.isfinite(result).all()
    assert "Input" in models.describe(name), f"{name}'s docstring must state its input shape"


@pytest.mark.parametrize("name", ["baselines/r2plus1d_50", "baselines/r2d_26"])
def test_faster_backbones_give_the_l_over_8_feature_map(name):
    with torch.no_grad():
        features = models.build(name).eval().features(torch.zeros(1, 3, 16, 64, 64))
    assert tuple(features.shape) == (1, 2048, 2, 2, 2)


def test_num_classes_and_unknown_names():
    assert models.build("baselines/r3d_18", num_classes=51).fc.out_features == 51
    with pytest.raises(KeyError, match="close matches: baselines/r3d_18"):
        models.build("baselines/r3d18")
    with pytest.raises(TypeError, match="unknown classes"):
        models.build("baselines/r3d_18", classes=5)
    with pytest.raises(KeyError, match="unknown model"):
        models.example("nope/nothing")
