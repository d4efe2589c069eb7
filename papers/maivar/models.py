"""MAiVAR's MLP heads (Shaikh et al., VCIP 2022): audio MLP, video MLP and the fusion MLP.

The backbones are frozen feature extractors and live in `baselines/`: IRV2 gives a 1536-d feature per audio
image (Sec. III-B2, III-C2; `baselines/inception_resnet_v2`), TSN's BN-Inception gives 1024-d per segment
for 25 segments (Sec. III-B1, IV-B; `baselines/bninception`). The MLPs here take those features.

What the paper states:
- every hidden layer has a ReLU; the last FC has none (Sec. III-C3);
- the fusion network concatenates audio and video features and classifies them (Sec. III-C3, Eq. 2);
- it is initialised from the trained video MLP (Algorithm 1: psi^0 <- rho^N);
- it is trained with cross-entropy plus l1 regularisation (Eq. 3).
- TSN's consensus is removed, so the video feature is the 25 x 1024 sequence (Sec. III-B1); it is flattened.

What it does not state, and is chosen here (no MLP definition turned up in the authors' pymaivar files
read: README, models.txt, the IRv2 audio notebook; see ../shared/notes/sources.md, "MAiVAR"):
- depth and width: one hidden layer of 512 units (`hidden=`);
- dropout: 0.5 after each hidden ReLU (`dropout=`).

Eq. 3 survives the text extraction as L(x + z, y, W). A linear layer on the concatenation [x; z] is exactly
W_a x + W_v z + b, so the fusion's first layer is written as an audio projection plus a video projection.
This reads both ways at once and gives the fusion a video path with the video MLP's first-layer shape.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from repro.models import register

AUDIO_DIM = 1536  # IRV2 pooled feature
VIDEO_DIM = 1024  # BN-Inception pooled feature per TSN segment


def hidden_trunk(widths: Sequence[int], dropout: float) -> nn.Sequential:
    """Everything after the first linear layer up to the classifier.

    ReLU and dropout after the first layer, then [Linear, ReLU, Dropout] for each further hidden width.
    """
    layers: list[nn.Module] = [nn.ReLU(inplace=True), nn.Dropout(dropout)]
    for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(width_in, width_out), nn.ReLU(inplace=True), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


def _check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    if len(hidden) == 0:
        raise ValueError("the paper's MLPs have at least one hidden (ReLU) layer; pass hidden=(width, ...)")
    return tuple(hidden)


class FeatureMLP(nn.Module):
    """input_layer -> trunk (ReLU, dropout, more hidden layers) -> classifier, on flattened features.

    Used for the audio MLP (N, 1536) and the video MLP (N, 25, 1024), which it flattens to (N, 25600).
    """

    def __init__(self, in_features: int, num_classes: int, hidden: Sequence[int], dropout: float):
        super().__init__()
        hidden = _check_hidden(hidden)
        self.input_layer = nn.Linear(in_features, hidden[0])
        self.trunk = hidden_trunk(hidden, dropout)
        self.classifier = nn.Linear(hidden[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.trunk(self.input_layer(x.flatten(1))))


class FusionMLP(nn.Module):
    """Concatenation fusion (Eq. 2-3): Linear([audio; video]) written as audio_proj(a) + video_proj(z).

    `video_proj`, `trunk` and `classifier` have the video MLP's shapes, so Algorithm 1 can copy them.
    `audio_proj` has no bias: the concatenated layer's single bias sits in `video_proj`.
    """

    def __init__(self, num_classes: int, num_segments: int, hidden: Sequence[int], dropout: float):
        super().__init__()
        hidden = _check_hidden(hidden)
        video_features = num_segments * VIDEO_DIM
        self.audio_proj = nn.Linear(AUDIO_DIM, hidden[0], bias=False)
        self.video_proj = nn.Linear(video_features, hidden[0])
        self.trunk = hidden_trunk(hidden, dropout)
        self.classifier = nn.Linear(hidden[-1], num_classes)
        # Initialise the two halves as one nn.Linear on the concatenation (its fan-in is the sum).
        joint = nn.Linear(AUDIO_DIM + video_features, hidden[0])
        with torch.no_grad():
            self.audio_proj.weight.copy_(joint.weight[:, :AUDIO_DIM])
            self.video_proj.weight.copy_(joint.weight[:, AUDIO_DIM:])
            self.video_proj.bias.copy_(joint.bias)

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.trunk(self.audio_proj(audio.flatten(1)) + self.video_proj(video.flatten(1))))


@register(example_input=(2, AUDIO_DIM), example_output=(2, 51))
def audio_mlp(num_classes: int = 51, hidden: Sequence[int] = (512,), dropout: float = 0.5) -> FeatureMLP:
    """Audio MLP on the IRV2 feature of one audio image (Sec. III-C2, Table II "Audio" column).

    Input: (N, 1536). Output: (N, num_classes). Widths and dropout are not in the paper (module docstring).
    """
    return FeatureMLP(AUDIO_DIM, num_classes, hidden, dropout)


@register(example_input=(2, 25, VIDEO_DIM), example_output=(2, 51))
def video_mlp(num_classes: int = 51, num_segments: int = 25, hidden: Sequence[int] = (512,),
              dropout: float = 0.5) -> FeatureMLP:
    """Video (visual) MLP on TSN BN-Inception features without consensus (Sec. III-B1, III-C1; 75.67% video-only).

    Input: (N, 25, 1024), 25 segments x 1024 (flattened to 25,600). Output: (N, num_classes).
    """
    return FeatureMLP(num_segments * VIDEO_DIM, num_classes, hidden, dropout)


@register(example_input=((2, AUDIO_DIM), (2, 25, VIDEO_DIM)), example_output=(2, 51))
def fusion_mlp(num_classes: int = 51, num_segments: int = 25, hidden: Sequence[int] = (512,),
               dropout: float = 0.5) -> FusionMLP:
    """Fusion MLP on concatenated audio and video features (Sec. III-C3, Eq. 2-3, Fig. 3).

    Input: audio (N, 1536) and video (N, 25, 1024). Output: (N, num_classes). Initialise it from a trained
    `video_mlp` with `init_fusion_from_video` (Algorithm 1) and train it with `l1_penalty` added (Eq. 3).
    """
    return FusionMLP(num_classes, num_segments, hidden, dropout)


def init_fusion_from_video(fusion: FusionMLP, video: FeatureMLP, zero_audio: bool = False) -> FusionMLP:
    """Algorithm 1 (psi^0 <- rho^N): copy the trained video MLP into the fusion MLP's video path.

    The video MLP's first layer goes to `video_proj` (the video columns of the concatenated layer), its trunk
    and classifier to the fusion's. The audio columns have no counterpart in the video model; the paper does
    not say how they start, so they keep the fusion's own initialisation unless `zero_audio=True`, which
    makes the initialised fusion compute exactly the video MLP's output.
    """
    if fusion.video_proj.weight.shape != video.input_layer.weight.shape:
        raise ValueError(f"video MLP first layer {tuple(video.input_layer.weight.shape)} does not match the "
                         f"fusion's video path {tuple(fusion.video_proj.weight.shape)}")
    fusion.video_proj.load_state_dict(video.input_layer.state_dict())
    fusion.trunk.load_state_dict(video.trunk.state_dict())
    fusion.classifier.load_state_dict(video.classifier.state_dict())
    if zero_audio:
        with torch.no_grad():
            fusion.audio_proj.weight.zero_()
    return fusion


def l1_penalty(module: nn.Module, weight: float) -> torch.Tensor:
    """weight * sum |w| over every parameter of `module` (Eq. 3's l1 regularisation; W is all parameters).

    Add it to the cross-entropy loss. The paper gives no value for `weight`.
    """
    params = list(module.parameters())
    if not params:
        return torch.zeros(())
    return weight * sum(p.abs().sum() for p in params)
