"""MFNet-3D (KPSEM's backbone), AReSE, KPSEM, MF-KPSEM and R3D-KPSEM (../shared/seeds/kpsem.txt)."""
from __future__ import annotations

import math

import pytest
import torch

from baselines.mfnet_3d import mfnet_3d
from papers.kpsem.models import KPSEM, AReSE, R3D50, _regional_max, _regional_mean, mf_kpsem, r3d_kpsem


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Per-set MLP of the adaptive split (384 -> 24 -> 2), per-set embedding (2K=8 -> 24), and the two (1,3)
# reduction convs (384 -> 96 -> 96), counted by hand.
MLP_PER_SET = 384 * 24 + 24 + 24 * 2 + 2
EMBED_PER_SET = 8 * 24 + 24
REDUCTION = (384 * 96 * 3 + 96) + (96 * 96 * 3 + 96)
KPSEM_PARAMS = 8 * (MLP_PER_SET + EMBED_PER_SET) + REDUCTION


def test_mfnet_parameter_count_matches_sources():
    params = n_params(mfnet_3d())
    assert params == 7_996_368
    assert abs(params - 7.996e6) / 7.996e6 < 5e-4  # sources.md: 7.996M with 400 classes
    assert n_params(mfnet_3d(num_classes=200)) == 7_996_368 - (768 + 1) * 200


def test_mfnet_conv4_is_384_channels_8_frames_and_a_sixteenth_of_the_frame():
    with torch.no_grad():
        conv4 = mfnet_3d().eval().features(torch.zeros(1, 3, 16, 64, 64), until="conv4")
    # conv1, max-pool, conv3 and conv4 each halve H and W: 224 / 16 = 14, so 384 x 8 x 14 x 14 at 224.
    assert tuple(conv4.shape) == (1, 384, 8, 64 // 16, 64 // 16)


def test_kpsem_parameters_and_672_d_output_on_conv4():
    kpsem = KPSEM().eval()
    assert n_params(kpsem) == KPSEM_PARAMS
    with torch.no_grad():
        out = kpsem(torch.randn(1, 384, 8, 14, 14))
    assert tuple(out.shape) == (1, 672) and kpsem.output_dim(8) == 672


def _moving_point(dx: int, dy: int) -> torch.Tensor:
    """One channel, two 4x4 frames: a point of value 1 at (x=1, y=1) that moves by (dx, dy)."""
    x = torch.zeros(1, 1, 2, 4, 4)
    x[0, 0, 0, 1, 1] = 1.0
    x[0, 0, 1, 1 + dy, 1 + dx] = 1.0
    return x


@pytest.mark.parametrize(("dx", "dy"), [(1, 0), (0, 1), (-1, 2)])
def test_single_key_point_shift_is_the_displacement_of_the_maximum(dx, dy):
    rkps = AReSE(1, num_regions=1)(_moving_point(dx, dy))
    assert tuple(rkps.shape) == (1, 1, 1, 1, 2)  # (N, K, C, T-1, (x, y))
    assert rkps.flatten().tolist() == [dx, dy]


def test_regional_shift_follows_a_point_across_regions_by_hand():
    # Fixed 2x2 split at the frame centre (2, 2). Static points of 0.5 at (0,0), (3,0), (0,3), (3,3), one per
    # region; a point of 1 moves from (1,1) (top-left region) to (2,1) (top-right region), so every region
    # has a unique maximum. x is (column, row).
    x = torch.zeros(1, 1, 2, 4, 4)
    for col, row in [(0, 0), (3, 0), (0, 3), (3, 3)]:
        x[0, 0, :, row, col] = 0.5
    x[0, 0, 0, 1, 1] = 1.0
    x[0, 0, 1, 1, 2] = 1.0
    arese = AReSE(1, num_regions=4, region_mode="fixed")
    arese.fixed_offsets.zero_()
    rkps = arese(x)[0, :, 0, 0]  # (K, 2)
    # Key points of frame 1 per region: (0,0) v .5, (2,1) v 1, (0,3) v .5, (3,3) v .5. From frame 0's
    # top-left key point (1,1) v 1: Eq. 9 correlations 1/(|1-v|+0.1), Eq. 8 differences, Eq. 10 sum.
    corr = [1 / 0.6, 1 / 0.1, 1 / 0.6, 1 / 0.6]
    weights = [math.exp(c) / sum(math.exp(k) for k in corr) for c in corr]
    deltas = [(-1, -1), (1, 0), (-1, 2), (2, 2)]
    shift = [sum(w * d[axis] for w, d in zip(weights, deltas, strict=True)) for axis in (0, 1)]
    # Eq. 11: region means (over 4 pixels) averaged over the 2 frames: .25, .25, .125, .125; softmax over K.
    means = [0.25, 0.25, 0.125, 0.125]
    region_weight = math.exp(means[0]) / sum(math.exp(m) for m in means)
    assert rkps[0].tolist() == pytest.approx([region_weight * s for s in shift], rel=1e-5)
    assert rkps[0, 0] > 0.2 and abs(rkps[0, 1]) < 1e-2  # mostly a one-pixel move to the right


def test_adaptive_split_is_trained_through_the_regional_weights():
    torch.manual_seed(0)
    kpsem = KPSEM(channels=16, num_sets=2)
    kpsem(torch.randn(2, 16, 4, 8, 8)).square().sum().backward()
    grad = kpsem.extractors[0].offset_mlp[-1].weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_adaptive_boundaries_move_with_the_features_and_stay_inside_half_a_cell():
    torch.manual_seed(0)
    arese = AReSE(8, num_regions=4)
    bounds_x, bounds_y = arese.boundaries(torch.randn(1, 8, 3, 14, 14) * 5)
    assert not torch.allclose(bounds_x[0, 0], bounds_x[0, 1])  # per frame
    for bounds in (bounds_x, bounds_y):
        assert ((bounds - 7).abs() <= 3.0).all()  # centre 7 +- (7/2 - 0.5)


def test_each_ablation_switch_changes_the_model():
    default = n_params(mf_kpsem())
    assert default == n_params(mfnet_3d()) + KPSEM_PARAMS + 672 * 400
    # Single Key Point (Table 2a): no split MLP, shifts are 2-d instead of 2K-d.
    assert default - n_params(mf_kpsem(key_points="single")) == 8 * (MLP_PER_SET + 6 * 24)
    # Fixed Regions (Table 2b): the random split is a buffer, not an MLP.
    fixed = mf_kpsem(region_mode="fixed")
    assert default - n_params(fixed) == 8 * MLP_PER_SET
    assert fixed.kpsem.extractors[0].fixed_offsets.shape == (2,)
    # One Set of AReSE (Table 2c).
    assert default - n_params(mf_kpsem(num_sets=1)) == 7 * (MLP_PER_SET + EMBED_PER_SET)
    assert default - n_params(mf_kpsem(region_fusion="sum")) == 8 * 6 * 24
    conv3 = mf_kpsem(insert_after="conv3")  # Fig. 5a: 192 channels, 8 frames -> 48 x 7
    assert conv3.classifier.in_features == 768 + 48 * 7


def test_single_key_point_uses_one_region_and_keeps_the_output_size():
    torch.manual_seed(0)
    x = torch.randn(1, 64, 4, 8, 8)
    regional, single = KPSEM(64, num_sets=2), KPSEM(64, num_sets=2, key_points="single")
    assert regional(x).shape == single(x).shape == (1, 16 * 3)
    assert single.extractors[0].region_masks(x).shape[2] == 1
    assert regional.extractors[0].region_masks(x).shape[2] == 4


@pytest.mark.parametrize("num_regions", [1, 4, 9])
def test_axis_by_axis_reductions_equal_the_masked_map_ones(num_regions):
    """forward reduces each region axis by axis; Eq. 6-7 and 11 read directly reduce K masked copies of the
    map (region_masks). Same values, same argmax on ties (ReLU zeros), same gradients."""
    torch.manual_seed(0)
    arese = AReSE(6, num_regions=num_regions)
    x = torch.relu(torch.randn(2, 6, 3, 11, 13)).requires_grad_()  # zeros tie within regions
    x.data[0, 0, 0] = 0.0  # a whole frame of one channel tied
    masks = arese.region_masks(x).transpose(1, 2)[:, :, None]                    # (N, K, 1, T, H, W)
    hard = masks.detach() > 0.5
    expected_values, expected_index = torch.where(hard, x[:, None], float("-inf")).flatten(-2).max(dim=-1)
    expected_mean = (x[:, None] * masks).sum(dim=(4, 5)) / masks.sum(dim=(4, 5))
    hard_y, soft_y, hard_x, soft_x = arese.axis_masks(x)
    values, index = _regional_max(x, hard_y, hard_x)
    mean = _regional_mean(x, hard_y, soft_y, hard_x, soft_x)
    assert torch.equal(index, expected_index)
    assert torch.allclose(values, expected_values) and torch.allclose(mean, expected_mean, atol=1e-6)
    weights = torch.randn_like(mean)
    got = torch.autograd.grad((values.sum() + (weights * mean).sum()), [x, *arese.parameters()], allow_unused=True)
    want = torch.autograd.grad((expected_values.sum() + (weights * expected_mean).sum()), [x, *arese.parameters()],
                               allow_unused=True)
    for g, e in zip(got, want, strict=True):
        assert (g is None) == (e is None) and (g is None or torch.allclose(g, e, atol=1e-5))
    if num_regions > 1:
        assert got[1].abs().sum() > 0  # the boundary MLP learns through the soft masks


def test_fixed_regions_ignore_the_features():
    torch.manual_seed(0)
    fixed = AReSE(8, num_regions=9, region_mode="fixed")
    first, second = fixed.boundaries(torch.randn(1, 8, 3, 12, 12)), fixed.boundaries(torch.randn(1, 8, 3, 12, 12))
    assert torch.equal(first[0], second[0]) and torch.equal(first[0][0, 0], first[0][0, 2])
    assert not torch.allclose(first[0][0, 0], torch.tensor([4.0, 8.0]))  # random, not the even 3x3 grid


def test_mf_kpsem_forward():
    with torch.no_grad():
        out = mf_kpsem(num_classes=51).eval()(torch.randn(1, 3, 16, 32, 32))
    assert tuple(out.shape) == (1, 51) and torch.isfinite(out).all()


def test_r3d_resnet50_counts_and_r3d_kpsem_forward():
    # torchvision's ResNet-50 has 25,557,032 parameters with 1000 classes; 1xkxk inflation keeps them.
    assert n_params(R3D50(num_classes=1000)) == 25_557_032
    assert r3d_kpsem().classifier.in_features == 2048 + 128 * 15  # res3: 512 x 16 frames -> 128 x 15
    model = r3d_kpsem(num_classes=51, num_frames=4).eval()
    assert model.kpsem.extractors[0].offset_mlp[0].in_features == 512
    with torch.no_grad():
        out = model(torch.randn(1, 3, 4, 32, 32))
    assert tuple(out.shape) == (1, 51) and torch.isfinite(out).all()
