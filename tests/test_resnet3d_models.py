"""Hara's 3D ResNet-101 / ResNeXt-101 / R(2+1)D-101: exact sizes against sources.md, shapes and switches."""
from __future__ import annotations

import pytest
import torch

from baselines.resnet3d import (
    Bottleneck,
    Bottleneck2Plus1D,
    ResNet3D,
    ResNeXtBottleneck,
    r2plus1d_101,
    resnet3d_101,
    resnext3d_101,
)
from repro.measure.flops import count_params


def _on_meta(build, **kwargs):
    """Build without allocating or initialising weights: parameter counts and structure only."""
    with torch.device("meta"):
        return build(**kwargs)


@pytest.fixture(scope="module")
def resnext():
    return _on_meta(resnext3d_101)


@pytest.mark.parametrize(("build", "expected", "published_millions"), [
    (resnet3d_101, 86_064_720, 86.07),  # sources.md: 86.07M (400 classes); 86.0647M, i.e. within 0.01M
    (resnext3d_101, 48_340_816, 48.34),  # sources.md and GCF-Net Table 3: 48.34M
])
def test_rgb_and_flow_parameter_counts(build, expected, published_millions):
    assert abs(expected / 1e6 - published_millions) < 0.01
    assert count_params(_on_meta(build)) == expected
    flow = _on_meta(build, in_channels=2)
    assert flow.conv1.weight.shape == (64, 2, 7, 7, 7)
    assert count_params(flow) == expected - 64 * 7 * 7 * 7  # one input channel fewer in conv1 only


def test_r2plus1d_101_mid_planes_variants():
    planes = _on_meta(r2plus1d_101)
    assert count_params(planes) == 50_917_016  # sources.md: 50.917M, GCF-Net Table 3 prints 50.91M
    matched = _on_meta(r2plus1d_101, mid_planes="param_matched")
    assert count_params(matched) == 86_511_096
    assert count_params(_on_meta(r2plus1d_101, mid_planes="param_matched", num_classes=400)) == 86_101_296  # 86.1M
    block = planes.layer1[0]
    assert isinstance(block, Bottleneck2Plus1D) and not hasattr(block, "conv2")
    assert block.conv2_s.kernel_size == (1, 3, 3) and block.conv2_t.kernel_size == (3, 1, 1)
    assert block.conv2_s.out_channels == 64
    assert matched.layer1[0].conv2_s.out_channels == 27 * 64 * 64 // (12 * 64) == 144
    assert planes.conv1.kernel_size == (7, 7, 7)  # Hara's resnet2p1d keeps a full 3D conv1
    with pytest.raises(ValueError, match="mid_planes"):
        r2plus1d_101(mid_planes="wide")


def test_resnext_block_is_grouped_with_shortcut_b(resnext):
    first = resnext.layer2[0]
    assert isinstance(first, ResNeXtBottleneck)
    assert first.conv2.groups == 32 and first.conv2.stride == (2, 2, 2) and first.conv2.out_channels == 256
    assert first.downsample[0].kernel_size == (1, 1, 1) and first.downsample[0].stride == (2, 2, 2)
    assert resnext.layer2[1].downsample is None
    assert resnext.layer1[0].downsample is not None  # 64 -> 256 channels: projection, not zero padding
    assert resnext.fc.in_features == 2048


@pytest.mark.parametrize(("frames", "layer4_frames"), [(16, 1), (64, 4)])
def test_feature_shapes_at_the_real_size(resnext, frames, layer4_frames):
    """Shapes at 112x112 through meta tensors (no arithmetic): T/16 x H/32 x W/32 at layer4."""
    features = resnext.forward_features(torch.empty(1, 3, frames, 112, 112, device="meta"))
    assert tuple(features["stem"].shape) == (1, 64, frames // 2, 28, 28)
    assert tuple(features["layer3"].shape) == (1, 1024, frames // 8, 7, 7)
    assert tuple(features["layer4"].shape) == (1, 2048, layer4_frames, 4, 4)
    assert tuple(features["avgpool"].shape) == (1, 2048)


@pytest.mark.parametrize("frames", [16, 64])
def test_fixed_mars_pooling_equals_adaptive_pooling(frames):
    """MARS's AvgPool3d((ceil(T/16), ceil(S/32), ceil(S/32))) covers the whole layer4 map at T = 16k."""
    kwargs = {"layers": (1, 1, 1, 1), "planes": (8, 16, 32, 64), "num_classes": 5,  # a narrow, shallow skeleton
              "sample_duration": frames, "sample_size": 32}
    torch.manual_seed(0)
    adaptive = ResNet3D(Bottleneck, pooling="adaptive", **kwargs).eval()
    fixed = ResNet3D(Bottleneck, pooling="fixed", **kwargs).eval()
    fixed.load_state_dict(adaptive.state_dict())
    assert fixed.avgpool.kernel_size == (frames // 16, 1, 1)
    x = torch.randn(1, 3, frames, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fixed(x), adaptive(x))
    with pytest.raises(ValueError, match="pooling"):
        ResNet3D(Bottleneck, pooling="max", **kwargs)


def test_r2plus1d_shapes_and_num_classes():
    model = _on_meta(r2plus1d_101, num_classes=7)
    features = model.forward_features(torch.empty(2, 3, 16, 112, 112, device="meta"))
    assert tuple(features["layer4"].shape) == (2, 2048, 1, 4, 4)
    assert tuple(model(torch.empty(2, 3, 16, 112, 112, device="meta")).shape) == (2, 7)
