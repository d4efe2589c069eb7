"""Motion distillation (Lu et al. 2020): fusion module, distillation losses against hand counts, DS taps."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from baselines.resnet3d import ResNet3D, ResNeXtBottleneck
from papers.motion_distill.models import (
    DualActionStream,
    attention_fusion,
    dual_action_stream,
    dual_action_stream_loss,
    gram_loss,
    gram_matrix,
    mar_mse_loss,
    multi_level_mae,
)
from repro.measure.flops import count_params


def _scores(n=4, k=101, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g), torch.randn(n, k, generator=g)


def test_attention_fusion_shape_weights_and_size():
    torch.manual_seed(0)
    fusion = attention_fusion()
    ds, flow = _scores()
    assert fusion(ds, flow).shape == (4, 101)
    weights = fusion.stream_weights(ds, flow)
    assert weights.shape == (4, 2)
    torch.testing.assert_close(weights.sum(1), torch.ones(4))  # softmax over the streams (Sec. 3.4)
    assert not torch.allclose(weights[0], weights[1])  # the weights depend on the scores
    assert count_params(fusion) == (2 * 101 * 128 + 128) + (128 * 2 + 2)
    assert count_params(attention_fusion(hidden_dim=16)) == (2 * 101 * 16 + 16) + (16 * 2 + 2)
    three = attention_fusion(num_streams=3)
    assert three(*_scores(), _scores(seed=1)[0]).shape == (4, 101)
    with pytest.raises(ValueError, match="expected 2"):
        fusion(ds)


def test_attention_fusion_is_the_softmax_weighted_sum():
    fusion = attention_fusion(num_classes=3, hidden_dim=2)
    with torch.no_grad():
        for p in fusion.parameters():
            p.zero_()
        fusion.weights_net[2].bias.copy_(torch.tensor([math.log(3.0), 0.0]))  # softmax -> (0.75, 0.25)
    ds, flow = torch.tensor([[4.0, 0.0, 8.0]]), torch.tensor([[0.0, 4.0, -8.0]])
    torch.testing.assert_close(fusion(ds, flow), torch.tensor([[3.0, 1.0, 4.0]]))


def test_average_switch_is_the_plain_mean_and_differs_from_attention():
    torch.manual_seed(0)
    average = attention_fusion(fusion="average")
    ds, flow = _scores()
    torch.testing.assert_close(average(ds, flow), (ds + flow) / 2)
    assert count_params(average) == 0
    assert not torch.allclose(attention_fusion()(ds, flow), (ds + flow) / 2)
    torch.manual_seed(0)
    linear = attention_fusion()
    torch.manual_seed(0)
    relu = attention_fusion(activation="relu")
    assert not torch.allclose(linear(ds, flow), relu(ds, flow))
    with pytest.raises(ValueError, match="fusion"):
        attention_fusion(fusion="max")


def test_fusion_gradients_reach_only_the_fusion_parameters():
    torch.manual_seed(0)
    fusion = attention_fusion()
    ds, flow = _scores()
    F.cross_entropy(fusion(ds, flow), torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in fusion.parameters())


def _levels():
    student = [torch.tensor([[1.0, 2.0, 3.0, 4.0]]).view(1, 2, 1, 1, 2), torch.tensor([[1.0, 2.0]])]
    teacher = [torch.zeros(1, 2, 1, 1, 2), torch.zeros(1, 2)]
    return student, teacher


def test_multi_level_mae_by_hand():
    student, teacher = _levels()
    # level means |.|: 10/4 = 2.5 and 3/2 = 1.5; Eq. 2 averages over the n-1 = 2 levels
    torch.testing.assert_close(multi_level_mae(student, teacher), torch.tensor(2.0))
    torch.testing.assert_close(multi_level_mae(student, teacher, reduction="sum"), torch.tensor((10.0 + 3.0) / 2))
    with pytest.raises(ValueError, match="same non-zero number"):
        multi_level_mae(student, teacher[:1])


def test_gram_matrix_and_gram_loss_by_hand():
    student, teacher = _levels()
    torch.testing.assert_close(gram_matrix(student[0]), torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]))
    torch.testing.assert_close(gram_matrix(student[1]), torch.tensor([[[1.0, 2.0], [2.0, 4.0]]]))
    # Eq. 3: level 1 |G| sums to 52, divided by (n-1) C T H W = 2*2*1*1*2 = 8; level 2: 9 / (2*2) = 2.25
    torch.testing.assert_close(gram_loss(student, teacher), torch.tensor(52 / 8 + 9 / 4))
    torch.testing.assert_close(gram_loss(student, teacher, reduction="mean"), torch.tensor(52 / 8 / 4 + 9 / 4 / 4))
    x = torch.randn(3, 5, 2, 3, 3)
    g = gram_matrix(x)
    torch.testing.assert_close(g, torch.einsum("nci,ndi->ncd", x.flatten(2), x.flatten(2)))
    torch.testing.assert_close(g, g.transpose(1, 2))
    assert gram_loss([x], [x.clone()]) == 0
    with torch.autocast("cpu", dtype=torch.bfloat16):  # kept in float32: G sums T*H*W squares
        assert gram_matrix(x).dtype == torch.float32


def test_mar_mse_and_total_loss_switches():
    student, teacher = _levels()
    logits, labels = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    ce = F.cross_entropy(logits, labels)
    torch.testing.assert_close(mar_mse_loss(student[1], teacher[1]), torch.tensor(2.5))  # (1 + 4) / 2
    torch.testing.assert_close(dual_action_stream_loss(logits, labels, student, teacher, terms=()), ce)
    full = dual_action_stream_loss(logits, labels, student, teacher)
    torch.testing.assert_close(full, ce + 50 * (2.0 + 52 / 8 + 9 / 4))  # Eq. 4, alpha = 50
    baseline = dual_action_stream_loss(logits, labels, student, teacher, terms=("mse",), alpha=1.0)
    torch.testing.assert_close(baseline, ce + 2.5)
    with pytest.raises(ValueError, match="unknown loss terms"):
        dual_action_stream_loss(logits, labels, student, teacher, terms=("kl",))


def test_dual_action_stream_sizes_and_backbone_switch():
    with torch.device("meta"):  # counts only: no weights allocated
        resnext, resnet = dual_action_stream(), dual_action_stream(backbone="resnet3d_101")
        teacher = dual_action_stream(in_channels=2)
    assert count_params(resnext) == 48_340_816 - 2049 * (400 - 101)  # ResNeXt-101 with a 101-way classifier
    assert count_params(resnet) == 86_064_720 - 2049 * (400 - 101)
    assert teacher.backbone.conv1.in_channels == 2
    with pytest.raises(ValueError, match="backbone"):
        dual_action_stream(backbone="vgg")


@pytest.mark.parametrize("frames", [16, 64])
def test_dual_action_stream_taps_at_the_real_size(frames):
    """Tap shapes at 112x112 through meta tensors (no arithmetic); the teacher's must match level by level."""
    with torch.device("meta"):
        student, teacher = dual_action_stream(sample_duration=frames), dual_action_stream(in_channels=2)
        logits, features = student.forward_features(torch.empty(1, 3, frames, 112, 112))
        _, teacher_features = teacher.forward_features(torch.empty(1, 2, frames, 112, 112))
    t = frames // 16
    assert logits.shape == (1, 101)
    assert [tuple(f.shape) for f in features] == [
        (1, 64, 8 * t, 28, 28), (1, 256, 8 * t, 28, 28), (1, 512, 4 * t, 14, 14), (1, 1024, 2 * t, 7, 7),
        (1, 2048, t, 4, 4), (1, 2048)]
    assert [f.shape for f in features] == [f.shape for f in teacher_features]


def _shallow_stream(in_channels):
    """The DS wrapper on a narrow one-block-per-stage ResNeXt: the same taps at a fraction of the cost."""
    return DualActionStream(ResNet3D(ResNeXtBottleneck, (1, 1, 1, 1), (32, 64, 128, 256), 101, in_channels))


def test_distillation_gradients_reach_the_student_not_the_teacher():
    torch.manual_seed(0)
    student, teacher = _shallow_stream(3), _shallow_stream(2).eval()
    rgb, flow = torch.randn(2, 3, 8, 16, 16), torch.randn(2, 2, 8, 16, 16)
    logits, features = student.forward_features(rgb)
    _, teacher_features = teacher.forward_features(flow)
    assert [f.shape for f in features] == [f.shape for f in teacher_features]  # level-by-level targets
    dual_action_stream_loss(logits, torch.tensor([0, 5]), features, teacher_features).backward()
    assert student.backbone.conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
