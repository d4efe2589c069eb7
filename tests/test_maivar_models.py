"""MAiVAR: the two frozen backbones (BN-Inception for TSN, Inception-ResNet-v2) and the paper's MLP heads."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from repro import models
from papers.maivar.models import init_fusion_from_video, l1_penalty


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bn_moving_stats(module: nn.Module) -> int:
    return sum(b.numel() for name, b in module.named_buffers() if name.endswith(("running_mean", "running_var")))


# --- backbones: exact published parameter counts ------------------------------------------------


def test_bninception_params_match_the_caffe_port():
    # osmr/imgclsmob lists Cadene's BN-Inception (the TSN Caffe model) at 11,295,240 params, 1000 classes.
    model = models.build("baselines/bninception")
    assert n_params(model) == 11_295_240
    assert n_params(model) - n_params(model.fc) == 10_270_240  # 1024 * 1000 + 1000 = 1,025,000 in the FC


def test_inception_resnet_v2_params_match_pytorch_and_keras():
    model = models.build("baselines/inception_resnet_v2")
    assert n_params(model) == 55_843_464  # Cadene/timm PyTorch, BN with gamma and beta
    keras = models.build("baselines/inception_resnet_v2", bn_scale=False)
    assert n_params(keras) == 55_813_192  # Keras trainable (BN scale=False)
    assert n_params(keras) + bn_moving_stats(keras) == 55_873_736  # Keras total with moving mean/var
    assert n_params(keras) + bn_moving_stats(keras) - n_params(keras.fc) == 54_336_736  # Keras include_top=False


def test_in_channels_and_num_classes_change_the_first_and_last_layers():
    bn = models.build("baselines/bninception", num_classes=51, in_channels=2)
    assert bn.stem[0][0].in_channels == 2 and bn.fc.out_features == 51
    irv2 = models.build("baselines/inception_resnet_v2", num_classes=51, in_channels=1)
    assert irv2.stem[0][0].in_channels == 1 and irv2.fc.out_features == 51


# --- backbones: feature shapes ------------------------------------------------------------------


def test_bninception_features_are_1024_and_pool_5b_switch_changes_output():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    max_model = models.build("baselines/bninception").eval()
    avg_model = models.build("baselines/bninception", pool_5b="avg").eval()
    avg_model.load_state_dict(max_model.state_dict())  # same weights: only the 5b pool differs
    with torch.no_grad():
        features = max_model.features(x)
        assert features.shape == (2, 1024)
        assert not torch.allclose(features, avg_model.features(x))
    assert isinstance(max_model.inception.inception_5b.branch_pool[0], nn.MaxPool2d)
    assert isinstance(max_model.inception.inception_5a.branch_pool[0], nn.AvgPool2d)
    with pytest.raises(ValueError):
        models.build("baselines/bninception", pool_5b="min")


def test_bninception_channel_widths_follow_the_table():
    model = models.build("baselines/bninception")
    widths = {name: block.out_channels for name, block in model.inception.named_children()}
    assert widths == {"inception_3a": 256, "inception_3b": 320, "inception_3c": 576, "inception_4a": 576,
                      "inception_4b": 576, "inception_4c": 608, "inception_4d": 608, "inception_4e": 1056,
                      "inception_5a": 1024, "inception_5b": 1024}


def test_inception_resnet_v2_features_at_its_smallest_input():
    model = models.build("baselines/inception_resnet_v2").eval()
    with torch.no_grad():
        assert model.features(torch.randn(2, 3, 75, 75)).shape == (2, 1536)
        with pytest.raises(RuntimeError):
            model.features(torch.randn(1, 3, 74, 74))  # reduction B has nothing left to stride over


def test_inception_resnet_v2_bn_scale_switch_removes_gamma_only():
    with_scale = models.build("baselines/inception_resnet_v2")
    without = models.build("baselines/inception_resnet_v2", bn_scale=False)
    gammas = sum(m.weight.numel() for m in with_scale.modules() if isinstance(m, nn.BatchNorm2d))
    assert n_params(with_scale) - n_params(without) == gammas == 30_272
    bn = next(m for m in without.modules() if isinstance(m, nn.BatchNorm2d))
    assert bn.weight is None and bn.bias is not None


# --- MAiVAR MLPs ------------------------------------------------------------------------------


def test_mlp_forward_shapes():
    torch.manual_seed(0)
    audio, video = torch.randn(3, 1536), torch.randn(3, 25, 1024)
    assert models.build("maivar/audio_mlp")(audio).shape == (3, 51)
    assert models.build("maivar/video_mlp")(video).shape == (3, 51)
    assert models.build("maivar/fusion_mlp")(audio, video).shape == (3, 51)
    deeper = models.build("maivar/video_mlp", num_segments=3, hidden=(64, 32), num_classes=7)
    assert deeper(torch.randn(3, 3, 1024)).shape == (3, 7)
    assert n_params(deeper) == (3 * 1024 * 64 + 64) + (64 * 32 + 32) + (32 * 7 + 7)
    with pytest.raises(ValueError):
        models.build("maivar/audio_mlp", hidden=())


def test_mlp_param_counts():
    assert n_params(models.build("maivar/audio_mlp")) == 1536 * 512 + 512 + 512 * 51 + 51
    assert n_params(models.build("maivar/video_mlp")) == 25600 * 512 + 512 + 512 * 51 + 51
    # one linear layer on the 27,136-d concatenation: audio columns carry no separate bias
    assert n_params(models.build("maivar/fusion_mlp")) == 27136 * 512 + 512 + 512 * 51 + 51


def test_fusion_first_layer_is_a_linear_layer_on_the_concatenation():
    torch.manual_seed(0)
    fusion = models.build("maivar/fusion_mlp", num_segments=2, hidden=(16,)).eval()
    audio, video = torch.randn(4, 1536), torch.randn(4, 2, 1024)
    joint = nn.Linear(1536 + 2048, 16)
    with torch.no_grad():
        joint.weight.copy_(torch.cat([fusion.audio_proj.weight, fusion.video_proj.weight], 1))
        joint.bias.copy_(fusion.video_proj.bias)
        expected = fusion.classifier(torch.relu(joint(torch.cat([audio, video.flatten(1)], 1))))
        torch.testing.assert_close(fusion(audio, video), expected)


def test_init_fusion_from_video_copies_the_video_path():
    torch.manual_seed(0)
    video_model = models.build("maivar/video_mlp", num_segments=4, hidden=(32, 16)).eval()
    fusion = models.build("maivar/fusion_mlp", num_segments=4, hidden=(32, 16)).eval()
    audio, video = torch.randn(5, 1536), torch.randn(5, 4, 1024)
    with torch.no_grad():
        before = fusion(torch.zeros_like(audio), video)
        audio_weights = fusion.audio_proj.weight.clone()
        init_fusion_from_video(fusion, video_model)
        # the video path computes the video MLP's layers ...
        torch.testing.assert_close(fusion.video_proj(video.flatten(1)), video_model.input_layer(video.flatten(1)))
        # ... so with silent audio the fusion's output is the video MLP's, which it was not before
        expected = video_model(video)
        torch.testing.assert_close(fusion(torch.zeros_like(audio), video), expected)
        assert not torch.allclose(before, expected)
        # the audio columns keep their own initialisation and still change the output
        torch.testing.assert_close(fusion.audio_proj.weight, audio_weights)
        assert not torch.allclose(fusion(audio, video), expected)
        # zero_audio makes the fused model the video model for any audio input
        init_fusion_from_video(fusion, video_model, zero_audio=True)
        torch.testing.assert_close(fusion(audio, video), expected)


def test_init_fusion_from_video_rejects_a_mismatched_video_model():
    fusion = models.build("maivar/fusion_mlp", num_segments=4, hidden=(8,))
    with pytest.raises(ValueError):
        init_fusion_from_video(fusion, models.build("maivar/video_mlp", num_segments=3, hidden=(8,)))


def test_l1_penalty_matches_hand_computation():
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
        layer.bias.copy_(torch.tensor([-3.0, 0.25]))
    # |1| + |-2| + |0.5| + |0| + |-3| + |0.25| = 6.75
    assert l1_penalty(layer, 0.1).item() == pytest.approx(0.675)
    penalty = l1_penalty(layer, 1.0)
    penalty.backward()
    torch.testing.assert_close(layer.weight.grad, torch.tensor([[1.0, -1.0], [1.0, 0.0]]))
    assert l1_penalty(nn.ReLU(), 1.0).item() == 0.0
