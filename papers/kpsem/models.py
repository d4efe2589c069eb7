"""KPSEM: Key Point Shifts Embedding Module (Cao et al., "Effective Action Recognition with Embedded Key
Point Shifts"; ../shared/seeds/kpsem.txt), its AReSE extractor, and the networks it is inserted in.

Readings of the paper where it is silent or ambiguous (each is a choice of this implementation):
- Region split (Sec. 3.3, Fig. 4): K = s*s regions on an s x s grid; K=4 is the paper's single separation
  centre. Adaptive mode (Eq. 4-5): a per-set MLP maps each frame's spatially averaged features (C-d) to
  the (s-1) x- and (s-1) y-boundary biases; the MLP is shared across frames (the paper writes I_i per
  frame, but one MLP per frame index would tie the module to one clip length). Its hidden width (C/16)
  and the tanh bound on the bias (each boundary moves at most half a cell, so no region is empty) are ours.
- The paper does not say how the boundaries get gradients: the argmax is not differentiable. Here the
  regional average pooling P_R (Eq. 11) uses a straight-through mask: the forward pass is the exact mean
  over the hard region, the backward pass uses a sigmoid-softened mask (temperature 1 pixel).
- "Fixed Regions" (Table 2b): each set draws a random split once at construction (same bias range),
  kept fixed (a buffer) and shared by all frames. "Single Key Point" (Table 2a): one global key point per
  frame and channel, i.e. K=1 with no split, so the shift weights and region weights are all 1.
- Key point coordinates (Eq. 6) are (x, y) = (column, row) in pixels of the whole frame, not of the
  region, so that the cross-region differences of Eq. 8 are meaningful.
- Eq. 9 is printed in the extraction: W = softmax over K_n of 1 / (|V_i,a - V_i+1,b| + 0.1).
- RKPS keeps K (Eq. 12 is element-wise, RKPS in R^{K x C x (T-1)} x 2); the "reshape" of Sec. 4.2 puts
  (K, 2) into one 2K-d vector per channel and frame pair, which L_g embeds to d_e (Eq. 3).
  `region_fusion="sum"` instead sums over K, matching Sec. 3.2's RKPS size C x (T-1) x G x 2.
- Dimension reduction (Sec. 4.2): the set-wise sum is a C x (T-1) x d_e map, treated as a 2D map with C
  channels. Two convs, kernel (1,3), stride (1,2), padding (0,1) take 24 -> 12 -> 6 (the padding is the
  one that gives 6); the first also reduces 384 -> 96 channels (the text names a single 384 -> 96 step),
  with a ReLU between them (ours). 2D average pooling over the 6-d axis and flattening give
  96 x (T-1) = 96 x 7 = 672 for conv4's 8 frames, the paper's 672-d temporal feature.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from baselines.mfnet_3d import STAGES as MFNET_STAGES
from baselines.mfnet_3d import MFNet3D
from baselines.vmz_resnet import BN_EPS, VMZResNet
from repro.models import register

SHIFT_WEIGHT_EPS = 0.1  # Eq. 9
MaybeTensor = torch.Tensor | None


class AReSE(nn.Module):
    """Adaptive Regional Shift Extractor (Sec. 3.3, Fig. 4). (N, C, T, H, W) -> RKPS (N, K, C, T-1, 2)."""

    def __init__(self, channels: int, num_regions: int = 4, region_mode: str = "adaptive",
                 hidden: int | None = None, temperature: float = 1.0):
        super().__init__()
        grid = math.isqrt(num_regions)
        if grid * grid != num_regions:
            raise ValueError(f"num_regions must be a square (1, 4, 9, 16), got {num_regions}")
        if region_mode not in ("adaptive", "fixed"):
            raise ValueError(f"region_mode must be 'adaptive' or 'fixed', got {region_mode!r}")
        self.grid, self.num_regions, self.region_mode, self.temperature = grid, num_regions, region_mode, temperature
        self.offset_mlp = None
        if grid > 1 and region_mode == "adaptive":
            hidden = hidden or max(channels // 16, 8)
            self.offset_mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True),
                                            nn.Linear(hidden, 2 * (grid - 1)))
        elif grid > 1:
            self.register_buffer("fixed_offsets", torch.rand(2 * (grid - 1)) * 2 - 1)

    def boundaries(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Region boundaries (N, T, s-1) along x and y, in pixels: the geometric split plus a bias (Eq. 5)."""
        n, _, t, h, w = x.shape
        if self.offset_mlp is not None:
            unit = torch.tanh(self.offset_mlp(x.mean(dim=(3, 4)).transpose(1, 2)))  # Eq. 4, per frame
        else:
            unit = self.fixed_offsets.expand(n, t, -1)
        steps = torch.arange(1, self.grid, device=x.device, dtype=x.dtype)

        def place(size: int, bias: torch.Tensor) -> torch.Tensor:
            cell = size / self.grid
            return steps * cell + bias * max(cell / 2 - 0.5, 0.0)

        return place(w, unit[..., : self.grid - 1]), place(h, unit[..., self.grid - 1:])

    def _axis_masks(self, bounds: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Hard one-hot and soft membership of each pixel in each of the s intervals: (N, T, s, size)."""
        centres = torch.arange(size, device=bounds.device, dtype=bounds.dtype) + 0.5
        above = centres >= bounds[..., None]                                    # (N, T, s-1, size)
        hard = F.one_hot(above.sum(dim=2), self.grid).movedim(-1, 2).to(bounds.dtype)
        step = torch.sigmoid((centres - bounds[..., None]) / self.temperature)
        ones = torch.ones_like(step[:, :, :1])
        step = torch.cat([ones, step, torch.zeros_like(ones)], dim=2)
        return hard, step[:, :, :-1] - step[:, :, 1:]

    def axis_masks(self, x: torch.Tensor) -> tuple[torch.Tensor, MaybeTensor, torch.Tensor, MaybeTensor]:
        """Hard and soft membership of each row in the s row intervals and of each column in the s column
        intervals: (N, T, s, H) and (N, T, s, W) each. Region k = a * s + b is row interval a by column
        interval b; the soft masks are None for a single region."""
        n, _, t, h, w = x.shape
        if self.grid == 1:
            return x.new_ones(n, t, 1, h), None, x.new_ones(n, t, 1, w), None
        bounds_x, bounds_y = self.boundaries(x)
        hard_x, soft_x = self._axis_masks(bounds_x, w)
        hard_y, soft_y = self._axis_masks(bounds_y, h)
        return hard_y, soft_y, hard_x, soft_x

    def region_masks(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, K, H, W) masks: hard in the forward pass, soft in the backward pass (straight-through).
        `forward` never builds them (see `_regional_max`); they define what it computes."""
        n, _, t, h, w = x.shape
        hard_y, soft_y, hard_x, soft_x = self.axis_masks(x)

        def outer(my: torch.Tensor, mx: torch.Tensor) -> torch.Tensor:
            return (my[:, :, :, None, :, None] * mx[:, :, None, :, None, :]).reshape(n, t, -1, h, w)

        if soft_y is None:
            return outer(hard_y, hard_x)
        soft = outer(soft_y, soft_x)
        return outer(hard_y, hard_x) + soft - soft.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.shape[-1]
        hard_y, soft_y, hard_x, soft_x = self.axis_masks(x)
        # Key points (Eq. 6-7): per region, channel and frame, the position and value of the maximum.
        values, index = _regional_max(x, hard_y, hard_x)                           # (N, K, C, T)
        coords = torch.stack([index % w, torch.div(index, w, rounding_mode="floor")], dim=-1).to(x.dtype)
        # Eq. 8: location differences between every region a of frame i and b of frame i+1.
        delta = coords[:, None, :, :, 1:] - coords[:, :, None, :, :-1]             # (N, Kr, Kn, C, T-1, 2)
        # Eq. 9-10: shift weights from the key point values, softmax over K_n, weighted sum of differences.
        gap = (values[:, :, None, :, :-1] - values[:, None, :, :, 1:]).abs()       # (N, Kr, Kn, C, T-1)
        weights = torch.softmax(1.0 / (gap + SHIFT_WEIGHT_EPS), dim=2)
        shifts = torch.einsum("nabct,nabctd->nactd", weights, delta)               # (N, K, C, T-1, 2)
        # Eq. 11: regional mean P_R over the straight-through masks, mean of adjacent frames P_T (kernel 2),
        # softmax over K.
        region_mean = _regional_mean(x, hard_y, soft_y, hard_x, soft_x)            # (N, K, C, T)
        region_weights = torch.softmax((region_mean[..., 1:] + region_mean[..., :-1]) / 2, dim=1)
        return region_weights[..., None] * shifts                                  # Eq. 12


# The regions are an s x s grid of axis-aligned intervals, so a reduction over a region runs along W in the
# s column intervals, then along H in the s row intervals: s copies of the feature map instead of the K = s^2
# masked copies that `region_masks` would need (R3D-KPSEM at res3 spent most of its extra time there).
# Masked sums stay element-wise products and sums, not einsums: a pooling, not multiply-adds (repro.measure.flops).


def _regional_max(x: torch.Tensor, hard_y: torch.Tensor, hard_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The maximum of x over each region and its flat index h * W + w: (N, K, C, T) each. Ties go to the
    first position in row-major order, as a max over the flattened masked map gives."""
    n, c, t, h, w = x.shape
    outside_x = (hard_x < 0.5)[:, None, :, None]                                   # (N, 1, T, 1, s, W)
    col_values, col_index = torch.where(outside_x, float("-inf"), x[:, :, :, :, None]).max(dim=-1)  # (N, C, T, H, s)
    outside_y = (hard_y < 0.5)[:, None, :, :, :, None]                             # (N, 1, T, s, H, 1)
    values, row = torch.where(outside_y, float("-inf"), col_values[:, :, :, None]).max(dim=4)  # (N, C, T, s, s)
    column = col_index.gather(3, row)
    index = row * w + column
    return (values.flatten(3).permute(0, 3, 1, 2), index.flatten(3).permute(0, 3, 1, 2))


def _masked_sum(x: torch.Tensor, mask_y: torch.Tensor, mask_x: torch.Tensor) -> torch.Tensor:
    """sum over (H, W) of x * (mask_y outer mask_x): (N, C, T, s, s)."""
    columns = (x[:, :, :, :, None] * mask_x[:, None, :, None]).sum(dim=-1)        # (N, C, T, H, s)
    return (columns[:, :, :, None] * mask_y[:, None, :, :, :, None]).sum(dim=4)


def _regional_mean(x: torch.Tensor, hard_y: torch.Tensor, soft_y: torch.Tensor | None, hard_x: torch.Tensor,
                   soft_x: torch.Tensor | None) -> torch.Tensor:
    """The mean of x over each region, (N, K, C, T): the hard mask's mean in the forward pass; in the
    backward pass x gets the hard mask's gradient and the boundaries the soft mask's (the straight-through
    masks of `region_masks`). The soft terms are zero in the forward pass and skipped where no gradient
    is needed."""
    total = _masked_sum(x, hard_y, hard_x)
    count = hard_y.sum(dim=-1)[:, None, :, :, None] * hard_x.sum(dim=-1)[:, None, :, None, :]  # (N, 1, T, s, s)
    if soft_y is not None and soft_x is not None and (soft_y.requires_grad or soft_x.requires_grad):
        soft_total = _masked_sum(x.detach(), soft_y, soft_x)
        soft_count = soft_y.sum(dim=-1)[:, None, :, :, None] * soft_x.sum(dim=-1)[:, None, :, None, :]
        total = total + soft_total - soft_total.detach()
        count = count + soft_count - soft_count.detach()
    return (total / count).flatten(3).permute(0, 3, 1, 2)


class KPSEM(nn.Module):
    """Key Point Shifts Embedding Module (Sec. 3.2, Eq. 2-3; Sec. 4.2, Fig. 6b).

    (N, C, T, H, W) -> (N, C/4 * (T-1)): G AReSE sets, an independent linear embedding per set to d_e,
    set-wise summation, then the dimension reduction described in the module docstring.
    """

    def __init__(self, channels: int = 384, num_regions: int = 4, num_sets: int = 8, embed_dim: int = 24,
                 region_mode: str = "adaptive", key_points: str = "regional", region_fusion: str = "concat",
                 channel_reduction: int = 4):
        super().__init__()
        if key_points not in ("regional", "single"):
            raise ValueError(f"key_points must be 'regional' or 'single', got {key_points!r}")
        if region_fusion not in ("concat", "sum"):
            raise ValueError(f"region_fusion must be 'concat' or 'sum', got {region_fusion!r}")
        regions = 1 if key_points == "single" else num_regions
        self.region_fusion = region_fusion
        self.extractors = nn.ModuleList(AReSE(channels, regions, region_mode) for _ in range(num_sets))
        shift_dim = 2 * regions if region_fusion == "concat" else 2
        self.embeddings = nn.ModuleList(nn.Linear(shift_dim, embed_dim) for _ in range(num_sets))
        self.reduced_channels = channels // channel_reduction
        self.reduce = nn.Sequential(
            nn.Conv2d(channels, self.reduced_channels, (1, 3), stride=(1, 2), padding=(0, 1)),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.reduced_channels, self.reduced_channels, (1, 3), stride=(1, 2), padding=(0, 1)),
            nn.AdaptiveAvgPool2d((None, 1)),
            nn.Flatten(1),
        )

    def output_dim(self, frames: int) -> int:
        """Size of P_out for a `frames`-long input map: 96 x 7 = 672 for conv4 of MFNet at 16 frames."""
        return self.reduced_channels * (frames - 1)

    def _shift_vectors(self, rkps: torch.Tensor) -> torch.Tensor:
        """(N, K, C, T-1, 2) -> (N, C, T-1, 2K), or (N, C, T-1, 2) when summing over regions."""
        if self.region_fusion == "sum":
            return rkps.sum(dim=1)
        return rkps.permute(0, 2, 3, 1, 4).flatten(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedded = sum(embed(self._shift_vectors(arese(x))) for arese, embed in zip(self.extractors,
                                                                                    self.embeddings, strict=True))
        return self.reduce(embedded)  # embedded: (N, C, T-1, d_e), a 2D map with C channels


class WithKPSEM(nn.Module):
    """A backbone with KPSEM after one of its stages; V_out = F_out (+) P_out -> Linear (Eq. 1, Fig. 2).

    `backbone` provides `run_stage(name, x)` and `pooled_features(x)` (its pooled last-stage feature).
    """

    def __init__(self, backbone: nn.Module, stage_names: tuple[str, ...], insert_after: str, kpsem: KPSEM,
                 spatial_dim: int, temporal_dim: int, num_classes: int):
        super().__init__()
        _check_stage(insert_after, stage_names)
        self.backbone, self.stage_names, self.insert_after, self.kpsem = backbone, stage_names, insert_after, kpsem
        self.classifier = nn.Linear(spatial_dim + temporal_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        temporal = None
        for name in self.stage_names:
            x = self.backbone.run_stage(name, x)
            if name == self.insert_after:
                temporal = self.kpsem(x)
        return self.classifier(torch.cat([self.backbone.pooled_features(x), temporal], dim=1))


class R3D50(VMZResNet):
    """ResNet-50 inflated with 1 x k x k kernels (Sec. 4.4, "R3D"): a frame-wise 2D ResNet-50.

    The paper: 2D kernels inflated to 1 x k x k, so that "R3D simply aggregates the input frames" and is
    initialised from ImageNet. Read as no temporal kernel and no temporal stride anywhere: conv1 1x7x7
    stride (1,2,2), max-pool 1x3x3 stride (1,2,2), bottlenecks (3,4,6,3) with 1x3x3 middle convs
    (stride on the middle conv, as torchvision's ResNet-50). Reuses baselines/vmz_resnet.py's bottleneck
    ResNet with its "2d" middle conv and temporal_stride=1 (its BN eps is Caffe2's 1e-3).
    """

    STAGES = ("stem", "res2", "res3", "res4", "res5")
    STAGE_CHANNELS = {"stem": 64, "res2": 256, "res3": 512, "res4": 1024, "res5": 2048}

    def __init__(self, num_classes: int = 400, in_channels: int = 3):
        stem = nn.Sequential(nn.Conv3d(in_channels, 64, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
                             nn.BatchNorm3d(64, eps=BN_EPS), nn.ReLU(inplace=True),
                             nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)))
        super().__init__(stem, "2d", (3, 4, 6, 3), temporal_stride=1, num_classes=num_classes)

    def run_stage(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, name)(x)

    def pooled_features(self, res5: torch.Tensor) -> torch.Tensor:
        return self.pool(res5).flatten(1)


def _check_stage(name: str, stages: tuple[str, ...]) -> None:
    if name not in stages:
        raise ValueError(f"insert_after must be one of {stages}, got {name!r}")


def _mfnet_frames(stage: str, num_frames: int) -> int:
    """Frames at an MFNet stage: conv1 keeps T, conv2's (3,3,3) stride-2 conv makes it (T-1)//2 + 1."""
    return num_frames if stage == "conv1" else (num_frames - 1) // 2 + 1


@register(example_input=(1, 3, 16, 64, 64), example_output=(1, 400))
def mf_kpsem(num_classes: int = 400, num_frames: int = 16, num_regions: int = 4, num_sets: int = 8,
             embed_dim: int = 24, insert_after: str = "conv4", region_mode: str = "adaptive",
             key_points: str = "regional", region_fusion: str = "concat") -> WithKPSEM:
    """MF-KPSEM (Sec. 4.1-4.2, Fig. 6a): MFNet-3D (baselines/mfnet_3d.py) with KPSEM after conv4.

    Input: (N, 3, 16, 224, 224); num_frames sizes the classifier (P_out is 96 x (frames at the stage - 1)).
    Defaults K=4, G=8, d_e=24 (Sec. 4.1). Ablations (Table 2a-c): key_points="single" (Single Key Point),
    region_mode="fixed" (Fixed Regions), num_sets=1 (One Set of AReSE); Fig. 5: insert_after in conv1..conv5,
    num_regions in {1, 4, 9, 16}, num_sets, embed_dim. Output: (N, num_classes) logits of Linear(768 + 672).
    """
    _check_stage(insert_after, MFNET_STAGES)
    backbone = MFNet3D(num_classes=num_classes)
    backbone.classifier = nn.Identity()  # replaced by the classifier on V_out
    channels = backbone.stage_channels[insert_after]
    kpsem = KPSEM(channels, num_regions, num_sets, embed_dim, region_mode, key_points, region_fusion)
    temporal_dim = kpsem.output_dim(_mfnet_frames(insert_after, num_frames))
    return WithKPSEM(backbone, MFNET_STAGES, insert_after, kpsem, backbone.stage_channels["conv5"], temporal_dim,
                     num_classes)


@register(example_input=(1, 3, 4, 32, 32), example_output=(1, 400))
def r3d_50_2d_kernels(num_classes: int = 400) -> R3D50:
    """R3D baseline of Table 2d: ResNet-50 inflated with 1 x k x k kernels (Sec. 4.4; see R3D50).

    Input: (N, 3, 16, 224, 224) (the paper does not state R3D's clip size; 16 frames as for MFNet).
    """
    return R3D50(num_classes=num_classes)


@register(example_input=(1, 3, 16, 32, 32), example_output=(1, 400))
def r3d_kpsem(num_classes: int = 400, num_frames: int = 16, num_regions: int = 4, num_sets: int = 8,
              embed_dim: int = 24, insert_after: str = "res3", region_mode: str = "adaptive",
              key_points: str = "regional", region_fusion: str = "concat") -> WithKPSEM:
    """R3D-KPSEM (Table 2d, Sec. 4.4): KPSEM after res3 of the 1 x k x k ResNet-50 (R3D50).

    Input: (N, 3, 16, 224, 224). res3 is 512 x 16 x 28 x 28 (no temporal stride), so P_out is
    128 x 15 = 1920-d and the classifier is Linear(2048 + 1920). Same KPSEM keyword arguments as mf_kpsem.
    """
    _check_stage(insert_after, R3D50.STAGES)
    backbone = R3D50(num_classes=num_classes)
    backbone.fc = nn.Identity()
    channels = R3D50.STAGE_CHANNELS[insert_after]
    kpsem = KPSEM(channels, num_regions, num_sets, embed_dim, region_mode, key_points, region_fusion)
    return WithKPSEM(backbone, R3D50.STAGES, insert_after, kpsem, 2048, kpsem.output_dim(num_frames), num_classes)
