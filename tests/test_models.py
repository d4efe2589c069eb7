"""The model registry and the forward shapes of every registered model."""
from __future__ import annotations

import pytest
import torch

from repro import models

SMALL_INPUT = {  # (input shape, output shape) on small inputs so the suite stays fast on CPU
    "baselines/r3d_18": ((1, 3, 8, 32, 32), (1, 400)),
    "baselines/mc3_18": ((1, 3, 8, 32, 32), (1, 400)),
    "baselines/r2plus1d_18": ((1, 3, 8, 32, 32), (1, 400)),
    "baselines/r2plus1d_50": ((1, 3, 8, 64, 64), (1, 400)),
    "baselines/r3d_50": ((1, 3, 8, 64, 64), (1, 400)),
    "baselines/r2d_26": ((1, 3, 8, 64, 64), (1, 400)),
}


def test_every_registered_model_has_a_shape_test():
    assert set(models.available()) == set(SMALL_INPUT)


@pytest.mark.parametrize("name", sorted(SMALL_INPUT))
def test_forward_shape(name):
    shape, out = SMALL_INPUT[name]
    model = models.build(name).eval()
    with torch.no_grad():
        assert tuple(model(torch.zeros(shape)).shape) == out
    assert "Input" in models.describe(name)


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
