"""GCF-Net: its 3D-MobileNetV2 / 3D-ShuffleNetV2 backbones and its head (fusion, gate, sparsity loss)."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from baselines.mobilenet3d import InvertedResidual3d, mobilenetv2_3d
from baselines.shufflenet3d import ShuffleUnit3d, channel_shuffle, shufflenetv2_3d
from papers.gcfnet.models import ClipWiseGate, InterClipFusion, gcf_head, gcf_loss, sparsity_loss
from repro.measure.flops import count, count_params

# --- backbones -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("builder", "exact", "printed"), [
    (mobilenetv2_3d, 3_122_648, 3.12),   # GCF-Net Table 3, 3D-MobileNet, 600 classes
    (shufflenetv2_3d, 6_639_816, 6.64),  # GCF-Net Table 3, 3D-ShuffleNet, 600 classes
])
def test_backbone_params_match_table3(builder, exact, printed):
    params = count_params(builder(num_classes=600))
    assert params == exact
    assert round(params / 1e6, 2) == printed


@pytest.mark.parametrize(("builder", "feature_dim"), [(mobilenetv2_3d, 1280), (shufflenetv2_3d, 2048)])
def test_backbone_forward_shapes(builder, feature_dim):
    model = builder(num_classes=101).eval()
    x = torch.randn(2, 3, 16, 16, 16)
    with torch.no_grad():
        assert model(x).shape == (2, 101)
        assert model.forward_features(x).shape == (2, feature_dim)
        assert model(torch.randn(1, 3, 4, 32, 48)).shape == (1, 101)  # any T, H, W pool to one vector


def test_backbone_sample_size_must_divide_by_16():
    with pytest.raises(ValueError, match="divisible by 16"):
        mobilenetv2_3d(sample_size=100)
    with pytest.raises(ValueError, match="divisible by 16"):
        shufflenetv2_3d(sample_size=100)


def test_mobilenet_width_multiplier_and_residuals():
    narrow = mobilenetv2_3d(width_mult=0.5)
    assert narrow.features[0][0].out_channels == 16 and narrow.feature_dim == 1280  # last conv never narrowed
    assert mobilenetv2_3d(width_mult=2.0).feature_dim == 2560
    assert InvertedResidual3d(24, 24, (1, 1, 1), 6).use_residual
    assert not InvertedResidual3d(24, 24, (2, 2, 2), 6).use_residual
    assert not InvertedResidual3d(16, 24, (1, 1, 1), 6).use_residual
    assert len(InvertedResidual3d(32, 16, (1, 1, 1), 1).conv) == 3  # t = 1: no expansion conv


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(6.0).view(1, 6, 1, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


def test_shuffle_unit_stride1_passes_half_the_channels_through():
    unit = ShuffleUnit3d(8, 8, stride=1).eval()
    x = torch.randn(1, 8, 2, 4, 4)
    with torch.no_grad():
        out = unit(x)
    assert out.shape == x.shape
    assert torch.equal(out[:, 0::2], x[:, :4])  # the untouched half lands on even channels after the shuffle
    assert ShuffleUnit3d(8, 16, stride=2)(x).shape == (1, 16, 1, 2, 2)


def test_shufflenet_width_multipliers():
    assert shufflenetv2_3d(width_mult=1.0).feature_dim == 1024
    with pytest.raises(ValueError, match="width_mult"):
        shufflenetv2_3d(width_mult=0.75)


# --- head ------------------------------------------------------------------------------------------


def _head(**kwargs):
    torch.manual_seed(0)
    return gcf_head(**kwargs).eval()


def test_head_output_and_gate_shapes():
    head = _head(feature_dim=1280, num_clips=10, num_classes=51, embed_dim=64)
    logits, gates = head.forward_with_gates(torch.randn(3, 10, 1280))
    assert logits.shape == (3, 51) and gates.shape == (3, 10)
    with pytest.raises(ValueError, match="expected 10 clips"):
        head(torch.randn(3, 8, 1280))


@pytest.mark.parametrize(("feature_dim", "embed_dim", "exact"), [
    (2048, 1024, 6_906_656), (1280, 1024, 4_547_360), (2048, 128, 864_032), (1280, 192, 853_280)])
def test_head_params(feature_dim, embed_dim, exact):
    # 3 D x d projections + C x C gate (two FCs) + d x 600 classifier with bias.
    assert exact == 3 * feature_dim * embed_dim + 2 * 10 * 10 + embed_dim * 600 + 600
    assert count_params(gcf_head(feature_dim=feature_dim, embed_dim=embed_dim)) == exact


def test_head_macs_at_default():
    macs = count(gcf_head(), torch.zeros(1, 10, 2048), second_opinion=False).macs
    # projections 3 x 10 x 2048 x 1024, QK^T and AV 2 x 10 x 10 x 1024, gate 2 x 10 x 10, classifier 1024 x 600
    assert macs == 3 * 10 * 2048 * 1024 + 2 * 10 * 10 * 1024 + 2 * 10 * 10 + 1024 * 600


def test_ablation_switches_change_structure_and_output():
    clips = torch.randn(2, 10, 256)
    variants = {
        "full": _head(feature_dim=256, embed_dim=32),
        "fusion only": _head(feature_dim=256, embed_dim=32, clip_attention=False),
        "attention only": _head(feature_dim=256, embed_dim=32, inter_clip_fusion=False),
        "neither": _head(feature_dim=256, embed_dim=32, inter_clip_fusion=False, clip_attention=False),
    }
    params = {name: count_params(m) for name, m in variants.items()}
    assert len(set(params.values())) == 4
    assert variants["fusion only"].gate is None and len(variants["attention only"].fusion) == 0
    with torch.no_grad():
        outputs = [m(clips) for m in variants.values()]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not torch.allclose(outputs[i], outputs[j])
    assert variants["fusion only"].forward_with_gates(clips)[1] is None
    deeper = _head(feature_dim=256, embed_dim=32, fusion_layers=2)
    assert count_params(deeper) - params["full"] == 3 * 32 * 32


def test_both_switches_off_is_dense_clip_averaging():
    head = _head(feature_dim=64, num_classes=7, inter_clip_fusion=False, clip_attention=False)
    clips = torch.randn(3, 10, 64)
    with torch.no_grad():
        per_clip_logits = head.classifier(clips)
        assert torch.allclose(head(clips), per_clip_logits.mean(dim=1), atol=1e-6)
    assert count_params(head) == 64 * 7 + 7


def test_attention_only_rescales_raw_descriptors_by_one_plus_gate():
    head = _head(feature_dim=16, num_classes=5, inter_clip_fusion=False)
    clips = torch.randn(2, 10, 16)
    with torch.no_grad():
        logits, gates = head.forward_with_gates(clips)
        expected = head.classifier(((1 + gates.unsqueeze(-1)) * clips).mean(dim=1))
    assert torch.allclose(logits, expected, atol=1e-6)


def test_gates_lie_in_unit_interval():
    head = _head(feature_dim=32, embed_dim=16)
    for scale in (1.0, 1e3):
        _, gates = head.forward_with_gates(scale * torch.randn(4, 10, 32))
        assert gates.min() >= 0 and gates.max() <= 1


def test_gate_against_hand_computation():
    gate = ClipWiseGate(num_clips=2, hidden=1)
    with torch.no_grad():
        gate.squeeze_to_hidden.weight.copy_(torch.tensor([[1.0, -1.0]]))
        gate.hidden_to_gates.weight.copy_(torch.tensor([[2.0], [-1.0]]))
    clips = torch.tensor([[[1.0, 3.0], [0.0, 1.0]]])  # clip means 2 and 0.5 -> hidden relu(1.5) = 1.5
    expected = torch.tensor([[1 / (1 + math.exp(-3.0)), 1 / (1 + math.exp(1.5))]])
    assert torch.allclose(gate(clips), expected)


def test_fusion_against_hand_computation_and_is_bidirectional():
    fusion = InterClipFusion(2, 2)
    with torch.no_grad():
        for layer in (fusion.query, fusion.key, fusion.value):
            layer.weight.copy_(torch.eye(2))
    x = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    # clip 0: scores [1, 0] / sqrt 2; clip 1: scores [0, 4] / sqrt 2; softmax rows weight the clips.
    w0 = torch.softmax(torch.tensor([1.0, 0.0]) / math.sqrt(2), 0)
    w1 = torch.softmax(torch.tensor([0.0, 4.0]) / math.sqrt(2), 0)
    expected = torch.stack([w0[0] * x[0, 0] + w0[1] * x[0, 1], w1[0] * x[0, 0] + w1[1] * x[0, 1]])[None]
    assert torch.allclose(fusion(x), expected)
    later_changed = x.clone()
    later_changed[0, 1] += 1
    assert not torch.allclose(fusion(later_changed)[0, 0], fusion(x)[0, 0])  # clip 0 sees the clip after it


def test_sparsity_loss_is_l1_norm_per_video_averaged():
    gates = torch.tensor([[0.2, 0.9, 0.0], [0.5, 0.1, 1.0]])
    assert sparsity_loss(gates).item() == pytest.approx((1.1 + 1.6) / 2)


def test_gcf_loss_adds_weighted_sparsity_to_cross_entropy():
    logits = torch.zeros(2, 4)
    labels = torch.tensor([1, 3])
    gates = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    assert gcf_loss(logits, labels, gates, sparsity_weight=0.1).item() == pytest.approx(math.log(4) + 0.1 * 1.0)
    assert gcf_loss(logits, labels, None, sparsity_weight=0.1).item() == pytest.approx(math.log(4))
    head = _head(feature_dim=8, num_classes=4, embed_dim=4)
    logits, gates = head.forward_with_gates(torch.randn(2, 10, 8))
    loss = gcf_loss(logits, labels, gates, sparsity_weight=1e-2)
    loss.backward()
    assert head.gate.squeeze_to_hidden.weight.grad is not None
    assert loss.item() == pytest.approx((F.cross_entropy(logits, labels) + 1e-2 * gates.sum(1).mean()).item())
