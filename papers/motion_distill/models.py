"""Lu et al., "Learning and Distilling the Internal Relationship of Motion Features in Action Recognition"
(ICONIP 2020): the Dual-action Stream student, its distillation losses, and the attention-based fusion.

Sec. 3.1-3.3: a frozen flow stream (the teacher, MARS's pre-trained model) is distilled into an RGB stream
(the Dual-action Stream, DS) with L_DS = CE(h_DS, y) + alpha (L_MAE + L_G), Eq. 4, alpha = 50 (Sec. 4.2).
MARS's baseline term is an MSE on the pooled feature before the classifier (Eq. 1; craston/MARS
MARS_train.py uses nn.MSELoss on output layer "avgpool", with MARS_alpha = 50).
Sec. 3.4: the fusion module concatenates the two streams' scores, passes them through two linear layers to
one value per stream, softmaxes those into stream weights and returns the weighted sum of the scores.

Backbone: Sec. 4.2 says "3D ResNet-101 network [32]", but [32] is the ResNeXt paper and the teacher is MARS's
pre-trained flow model, a 3D ResNeXt-101 (../shared/notes/sources.md, "Motion distillation backbones"). The
backbone is a keyword; the default is ResNeXt-101 so that student and teacher share the architecture the text
calls "a similar network" (Sec. 3.1). Both give the same tap shapes (256/512/1024/2048 channels).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from baselines.resnet3d import ResNet3D, resnet3d_101, resnext3d_101
from repro.models import register

BACKBONES = {"resnet3d_101": resnet3d_101, "resnext3d_101": resnext3d_101}
# Fig. 1 (the multi-level taps) was lost in the text extraction. Eq. 2 sums over layers i = 1..n-1, every
# layer before the final linear one; read at the granularity of the backbone's stages (MARS exposes
# layer3/layer4/avgpool as output layers), these are the six stage outputs below.
DEFAULT_TAPS = ("stem", "layer1", "layer2", "layer3", "layer4", "avgpool")


class DualActionStream(nn.Module):
    """A 3D CNN classifier whose `forward_features` also returns the tapped stage outputs (Sec. 3.2, Fig. 1).

    With in_channels=2 the same wrapper is the motion stream (teacher), so taps match level by level.
    """

    def __init__(self, backbone: ResNet3D, taps: Sequence[str] = DEFAULT_TAPS):
        super().__init__()
        self.backbone = backbone
        self.taps = tuple(taps)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits, [feature at each tap]) for one clip batch."""
        features = self.backbone.forward_features(x)
        return self.backbone.fc(features["avgpool"]), [features[name] for name in self.taps]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


@register(example_input=(1, 3, 16, 32, 32), example_output=(1, 101))
def dual_action_stream(backbone: str = "resnext3d_101", num_classes: int = 101, in_channels: int = 3,
                       sample_duration: int = 16, taps: tuple[str, ...] = DEFAULT_TAPS) -> DualActionStream:
    """Dual-action Stream (Sec. 3, Fig. 1): an RGB 3D CNN exposing multi-level features for L_MAE and L_G.

    backbone: "resnext3d_101" (default: MARS's teacher architecture) or "resnet3d_101" (the name Sec. 4.2
    prints). in_channels=2 builds the motion stream (TV-L1 flow, Sec. 2.2). 16 or 64 frames (Sec. 4.2).
    Input: (N, 3, 16, 112, 112) or (N, 3, 64, 112, 112).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
    net = BACKBONES[backbone](num_classes=num_classes, in_channels=in_channels, sample_duration=sample_duration)
    return DualActionStream(net, taps)


# --- losses (Eq. 1-4) --------------------------------------------------------------------------------------


def mar_mse_loss(student_feature: torch.Tensor, teacher_feature: torch.Tensor) -> torch.Tensor:
    """MARS's L_MSE (Eq. 1) on the pooled features before the classifier.

    Eq. 1 prints an L2 norm but names it MSE; MARS's code uses nn.MSELoss (mean of squared differences).
    """
    return F.mse_loss(student_feature, teacher_feature.detach())


def multi_level_mae(student_features: Sequence[torch.Tensor], teacher_features: Sequence[torch.Tensor],
                    reduction: str = "mean") -> torch.Tensor:
    """L_MAE (Eq. 2) = 1/(n-1) sum_i ||f_DS(i) - f_FLOW(i)||_1 over the n-1 tapped levels.

    reduction="mean": each level's mean absolute error, as the loss is named (Sec. 3.2); "sum": the literal
    L1 norm of Eq. 2 per sample. Both are averaged over the batch. The teacher is frozen (Sec. 4.2).
    """
    _check_levels(student_features, teacher_features)
    levels = [_l1(s, t.detach(), reduction) for s, t in zip(student_features, teacher_features, strict=True)]
    return torch.stack(levels).mean()


def gram_matrix(feature: torch.Tensor) -> torch.Tensor:
    """G(f) for f of shape (N, C, *dims): inner products of the C flattened channel vectors, (N, C, C).

    Sec. 3.3, after Gatys et al. [9] / Johnson et al. [15]. Not normalised here; Eq. 3 divides by C T H W.
    """
    flat = feature.flatten(2) if feature.dim() > 2 else feature.unsqueeze(-1)  # a pooled (N, C) vector: T=H=W=1
    with torch.autocast(feature.device.type, enabled=False):  # sums of T*H*W squares overflow float16
        flat = flat.float()
        return flat @ flat.transpose(1, 2)


def gram_loss(student_features: Sequence[torch.Tensor], teacher_features: Sequence[torch.Tensor],
              reduction: str = "sum") -> torch.Tensor:
    """L_G (Eq. 3) = sum_i || (G(f_DS(i)) - G(f_FLOW(i))) / ((n-1) C_i T_i H_i W_i) ||_1.

    reduction="sum" is Eq. 3 as printed (the L1 norm over the C_i x C_i entries, per sample); "mean" averages
    the entries instead. Both are averaged over the batch.
    """
    _check_levels(student_features, teacher_features)
    n_levels = len(student_features)
    total = student_features[0].new_zeros(())
    for student, teacher in zip(student_features, teacher_features, strict=True):
        size = student[0].numel()  # C_i T_i H_i W_i
        difference = (gram_matrix(student) - gram_matrix(teacher.detach())) / (n_levels * size)
        total = total + _l1(difference, torch.zeros_like(difference), reduction)
    return total


def dual_action_stream_loss(logits: torch.Tensor, labels: torch.Tensor, student_features: Sequence[torch.Tensor],
                            teacher_features: Sequence[torch.Tensor], alpha: float = 50.0,
                            terms: tuple[str, ...] = ("mae", "gram")) -> torch.Tensor:
    """L_DS = CE(h_DS, y) + alpha (L_MAE + L_G) (Eq. 4), alpha = 50 (Sec. 4.2).

    `terms` selects the Table 2 rows: ("mse",) the MAR baseline (Eq. 1 on the last tap, the pooled "avgpool"
    vector with the default taps), ("mae",), ("gram",), ("mae", "gram") the full Dual-action Stream.
    """
    unknown = set(terms) - {"mse", "mae", "gram"}
    if unknown:
        raise ValueError(f"unknown loss terms {sorted(unknown)}")
    distill = logits.new_zeros(())
    if "mse" in terms:
        distill = distill + mar_mse_loss(student_features[-1], teacher_features[-1])
    if "mae" in terms:
        distill = distill + multi_level_mae(student_features, teacher_features)
    if "gram" in terms:
        distill = distill + gram_loss(student_features, teacher_features)
    return F.cross_entropy(logits, labels) + alpha * distill


def _l1(a: torch.Tensor, b: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return F.l1_loss(a, b)
    if reduction == "sum":
        return (a - b).abs().flatten(1).sum(1).mean()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def _check_levels(student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor]) -> None:
    if len(student) != len(teacher) or not student:
        raise ValueError(f"need the same non-zero number of levels, got {len(student)} and {len(teacher)}")
    for s, t in zip(student, teacher, strict=True):
        if s.shape != t.shape:
            raise ValueError(f"student and teacher features differ in shape: {tuple(s.shape)} vs {tuple(t.shape)}")


# --- fusion (Sec. 3.4) -------------------------------------------------------------------------------------


class AttentionFusion(nn.Module):
    """Attention-based fusion of S streams' class scores (Sec. 3.4, Fig. 2).

    concat(scores) (N, S*K) -> Linear(S*K, hidden) -> Linear(hidden, S) -> softmax -> w (N, S);
    output = sum_s w_s * scores_s. The text calls the two layers "a twin-layer linear model" and names no
    activation between them or hidden width (Fig. 2 was lost): activation="none" and hidden_dim are keywords.
    fusion="average" is the averaging baseline (Table 1 "Mimic+Flow"; MARS test_two_stream.py averages the
    raw scores) and has no parameters.
    """

    def __init__(self, num_classes: int = 101, num_streams: int = 2, hidden_dim: int = 128,
                 activation: str = "none", fusion: str = "attention"):
        super().__init__()
        if fusion not in ("attention", "average"):
            raise ValueError(f"fusion must be 'attention' or 'average', got {fusion!r}")
        if activation not in ("none", "relu"):
            raise ValueError(f"activation must be 'none' or 'relu', got {activation!r}")
        self.num_streams = num_streams
        self.fusion = fusion
        self.weights_net = None
        if fusion == "attention":
            middle = nn.ReLU(inplace=True) if activation == "relu" else nn.Identity()
            self.weights_net = nn.Sequential(nn.Linear(num_streams * num_classes, hidden_dim), middle,
                                             nn.Linear(hidden_dim, num_streams))

    def stream_weights(self, *scores: torch.Tensor) -> torch.Tensor:
        """Importance weight of each stream, (N, S), rows summing to 1."""
        if len(scores) != self.num_streams:
            raise ValueError(f"expected {self.num_streams} score tensors, got {len(scores)}")
        if self.weights_net is None:
            return scores[0].new_full((scores[0].shape[0], self.num_streams), 1.0 / self.num_streams)
        return self.weights_net(torch.cat(scores, dim=1)).softmax(dim=1)

    def forward(self, *scores: torch.Tensor) -> torch.Tensor:
        weights = self.stream_weights(*scores)
        return torch.einsum("ns,nsk->nk", weights, torch.stack(scores, dim=1))  # sum_s w_s * scores_s


@register(example_input=((1, 101), (1, 101)), example_output=(1, 101))
def attention_fusion(num_classes: int = 101, num_streams: int = 2, hidden_dim: int = 128, activation: str = "none",
                     fusion: str = "attention") -> AttentionFusion:
    """Fusion of the Dual-action Stream and motion-stream scores (Sec. 3.4; Table 2 last row).

    Trained with cross-entropy while both streams stay frozen (Sec. 4.2). fusion="average" gives Table 1's
    averaging ("Mimic+Flow"). hidden_dim and activation are not given by the paper.
    Input: num_streams tensors of scores, each (N, num_classes), e.g. (N, 101), (N, 101) for UCF-101.
    """
    return AttentionFusion(num_classes, num_streams, hidden_dim, activation, fusion)
