"""GCF-Net's head (Hsiao et al., ECCV-W 2020, Sec. 3): bi-directional inter-clip fusion and gated clip-wise
attention over the clip descriptors of a 3D-CNN backbone.

The backbone (baselines/mobilenet3d.py, baselines/shufflenet3d.py, ...) turns each of C = 10
non-overlapping 16-frame clips (Sec. 3.3) into a globally pooled descriptor x_i of D dimensions
(Sec. 3.1.1): 1280 for 3D-MobileNetV2, 2048 for 3D-ShuffleNetV2 2.0x and 3D-ResNeXt-101. The head:

1. Bi-directional inter-clip fusion, Eq. (1): b_i = 1/N(x) sum_j f(W_q x_i, W_k x_j) W_v x_j over all
   clips j (before and after i), b_i in R^d. Eqs. (11)-(12) stack L such layers.
2. Gated clip-wise attention: z_i = mean_k b_i(k) (Eq. 2), s = sigmoid(W_2 relu(W_1 z)) (Eq. 3),
   b~_i = s_i b_i (Eqs. 4-5), residual r_i = b_i + b~_i (Eq. 6).
3. v = mean_i r_i (Eq. 7); y = softmax(W_c v) (Eq. 8): the head returns the logits W_c v.

The text extraction lost Eqs. (1)-(8) and (10): the forms above are the standard ones the text names
(Sec. 3.1.2 cites Vaswani et al. [24]; Sec. 3.1.3 describes a squeeze-and-excitation-style gate over clips).
Each choice the text leaves open is marked "unstated" where it is made.

Table 2's ablations: `inter_clip_fusion=False` feeds x_i to the attention (b_i = x_i);
`clip_attention=False` uses b_i directly (r_i = b_i). With both off, v is the mean clip descriptor and
the logits are the mean of the clip logits W_c x_i: D-Clips averaging (before softmax).

Table 3 prints the head at 15 MFLOPs and 0.86M params. Measured with repro.measure.flops.count (C = 10, 600 classes,
d = 1024, L = 1): 6,906,656 params and 63.73M MACs for D = 2048; 4,547,360 params and 40.14M MACs for
D = 1280. The printed pair needs d well below the 256 that Sec. 4.4 names as its smallest d: d = 128 with
D = 2048 gives 864,032 params (0.86M) but 7.97M MACs; d = 192 with D = 1280 gives 853,280 params and 7.53M
MACs (15.05M at 2 FLOPs per MAC). The default d is not chosen to fit either.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from repro.models import register


class InterClipFusion(nn.Module):
    """One bi-directional inter-clip fusion layer, Eq. (1) (Sec. 3.1.2).

    f(x_i, x_j) / N(x) is a softmax over j of scaled dot products of W_q x_i and W_k x_j (Vaswani et al.'s
    attention, which the paper cites; the 1/sqrt(d) scale is theirs). "Linear transform matrices": no biases.
    No mask: every clip sees clips before and after it ("bi-directional").
    """

    def __init__(self, in_dim: int, embed_dim: int):
        super().__init__()
        self.query = nn.Linear(in_dim, embed_dim, bias=False)
        self.key = nn.Linear(in_dim, embed_dim, bias=False)
        self.value = nn.Linear(in_dim, embed_dim, bias=False)
        self.scale = 1.0 / math.sqrt(embed_dim)

    def relations(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, C, in_dim) -> (N, C, C): row i holds f(x_i, x_j) / N(x) over j."""
        return torch.softmax(self.query(clips) @ self.key(clips).transpose(1, 2) * self.scale, dim=-1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.relations(clips) @ self.value(clips)


class ClipWiseGate(nn.Module):
    """Gated clip-wise attention weights s in [0, 1]^C, Eqs. (2)-(3) (Sec. 3.1.3).

    Squeeze: average each clip descriptor over its features (Eq. 2). Excite: FC-ReLU-FC-sigmoid over the
    C clip statistics (Eq. 3, "W_1 and W_2 are the fully connected layer weights": no biases). The hidden
    width is unstated; it defaults to C (no reduction; a reduction of 16 as in SE-Net cannot apply to C = 10).
    """

    def __init__(self, num_clips: int, hidden: int):
        super().__init__()
        self.squeeze_to_hidden = nn.Linear(num_clips, hidden, bias=False)
        self.hidden_to_gates = nn.Linear(hidden, num_clips, bias=False)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        statistics = clips.mean(dim=-1)
        return torch.sigmoid(self.hidden_to_gates(F.relu(self.squeeze_to_hidden(statistics))))


class GCFHead(nn.Module):
    """GCF-Net without its backbone: clip descriptors (N, C, D) -> video logits (N, num_classes)."""

    def __init__(self, feature_dim: int, num_clips: int, num_classes: int, inter_clip_fusion: bool,
                 clip_attention: bool, embed_dim: int, fusion_layers: int, gate_hidden: int):
        super().__init__()
        self.num_clips = num_clips
        dims = [feature_dim] + [embed_dim] * fusion_layers if inter_clip_fusion else [feature_dim]
        # Eqs. (11)-(12): layer l fuses the output of layer l-1.
        self.fusion = nn.Sequential(*(InterClipFusion(i, o) for i, o in zip(dims[:-1], dims[1:], strict=True)))
        self.gate = ClipWiseGate(num_clips, gate_hidden) if clip_attention else None
        self.classifier = nn.Linear(dims[-1], num_classes)

    def forward_with_gates(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and the clip-wise attention weights s, (N, C) (None without clip attention)."""
        if clips.shape[1] != self.num_clips:
            raise ValueError(f"expected {self.num_clips} clips, got input of shape {tuple(clips.shape)}")
        fused = self.fusion(clips)  # b_i; an empty Sequential passes x_i through (Table 2 ablation)
        gates = None
        if self.gate is not None:
            gates = self.gate(fused)
            # Eq. (6), unstated form: the attention block's input plus its output, r_i = b_i + s_i b_i. This is
            # the reading in which r keeps b's dimension d, as Sec. 4.4 says it does.
            fused = fused + gates.unsqueeze(-1) * fused
        video = fused.mean(dim=1)  # Eq. (7), unstated form: v averages the residual clip descriptors
        return self.classifier(video), gates

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.forward_with_gates(clips)[0]


def sparsity_loss(gates: torch.Tensor) -> torch.Tensor:
    """L_s = ||s||_1, Eq. (10): the l1 norm of each video's C attention weights, averaged over the batch."""
    return gates.abs().sum(dim=-1).mean()


def gcf_loss(logits: torch.Tensor, labels: torch.Tensor, gates: torch.Tensor | None, *,
             sparsity_weight: float) -> torch.Tensor:
    """L = L_c + lambda * L_s, Eq. (9): cross-entropy on the video label plus the weighted sparsity loss.

    The paper does not print lambda, so it has no default here.
    """
    loss = F.cross_entropy(logits, labels)
    return loss if gates is None else loss + sparsity_weight * sparsity_loss(gates)


@register(example_input=(2, 10, 2048), example_output=(2, 600))
def gcf_head(feature_dim: int = 2048, num_clips: int = 10, num_classes: int = 600, inter_clip_fusion: bool = True,
             clip_attention: bool = True, embed_dim: int = 1024, fusion_layers: int = 1,
             gate_hidden: int | None = None) -> GCFHead:
    """GCF-Net head (Sec. 3.1.2-3.1.3, Eqs. 1-8) over the clip descriptors of a 3D-CNN backbone.

    Input: (N, 10, D) clip descriptors: 10 non-overlapping 16-frame clips of 112x112 (Sec. 3.3), each
    pooled by the backbone to D = feature_dim (1280 for 3D-MobileNetV2, 2048 for 3D-ShuffleNetV2 2.0x and
    3D-ResNeXt-101). Output: (N, num_classes) logits.

    inter_clip_fusion / clip_attention: Table 2's "Clip-Wise Attention only" / "Inter-Clip Fusion only"
    switch the other one off; both off is D-Clips averaging of clip logits. embed_dim is d, the size of
    b, r and v (Sec. 4.4, Fig. 3a); the text does not say which d its tables use. 1024 is where Sec. 4.4
    says accuracy saturates. fusion_layers is L of Eqs. (11)-(12); the L behind Sec. 4.4's "70% top-1
    when L = ..." was lost in extraction, 1 is the plain Eq. (1). gate_hidden defaults to num_clips (unstated).
    """
    return GCFHead(feature_dim, num_clips, num_classes, inter_clip_fusion, clip_attention, embed_dim,
                   fusion_layers, gate_hidden or num_clips)
