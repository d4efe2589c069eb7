"""GCF-Net's pipelines (Hsiao et al., ECCV-W 2020): D-Clips evaluation, GCF-Net training, last-layer fine-tuning.

The chain of experiments.yaml, per backbone: a clip classifier trained by `classify` (C-Clip), evaluated again
with D-Clips (`evaluate`), GCF-Net built on it (`train_gcf`), and the UCF101 transfers (`finetune_last_layer`
for the backbones, `train_gcf` with `gcf_from` for GCF-Net). A stage finds the weights of the stage it
builds on in that experiment's run folder (`Context.run_dir_of`, same `--out`, same proxy mode) and rebuilds
its architecture from that experiment's declaration (`architecture`), so a chained run fails at once when
experiments.yaml and the checkpoint disagree.

- `evaluate` (Table 1 "+D-Clips", Table 2 "D-Clips prediction"): nothing trained; every test clip is
  classified and the softmax scores averaged per video (Sec. 1, Fig. 1b "dense clip prediction").
- `train_gcf` (Table 1 "GCF-Net(...)", Table 2 ablations): each of the 10 clips through the backbone's global
  pooling (Sec. 3.1.1), the (B, 10, D) descriptors through the head (papers/gcfnet/models.py), loss
  L_c + lambda L_s (Eq. 9).
- `finetune_last_layer` (Table 1 UCF101 C-Clip rows): the Kinetics-600 clip classifier, frozen, with a new
  last layer trained (Sec. 3.3), as Efficient-3DCNNs' fine-tuning (model.py, ../shared/notes/sources.md
  "GCF-Net backbones").
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from papers.gcfnet.models import GCFHead, gcf_loss
from repro import models
from repro.data.dataset import Item, RaggedViews, Skipped, VideoDataset
from repro.data.protocols import make_protocol
from repro.engine import checkpoint
from repro.engine.loop import Task
from repro.run.runner import Context, effective, model_spec

TRAINABLE = ("all", "classifier")


# --------------------------------------------------------------------------------------------- backbones

def clip_descriptors(backbone: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """(N, 3, L, H, W) clips to their globally pooled descriptors x_i, (N, D) (Sec. 3.1.1: "Global pooling is
    then used to pool the content of" the last convolutional map).

    Efficient-3DCNNs' MobileNetV2 / ShuffleNetV2 (baselines/mobilenet3d.py, shufflenet3d.py) return it from
    `forward_features`; Hara's 3D-ResNets (baselines/resnet3d.py) as its "avgpool" entry; the proxy-only nets
    (baselines/proxy_nets.py) from `features`. A map that comes back unpooled is averaged over (t, h, w).
    """
    extract = getattr(backbone, "forward_features", None)
    out = extract(clips) if extract is not None else backbone.features(clips)
    if isinstance(out, dict):
        out = out["avgpool"]
    return F.adaptive_avg_pool3d(out, 1).flatten(1) if out.ndim > 2 else out


def last_layer(model: nn.Module) -> tuple[str, nn.Linear]:
    """(attribute, final Linear) of a clip classifier: `classifier` (Efficient-3DCNNs MobileNetV2 / ShuffleNetV2,
    Dropout then Linear) or `fc` (3D-ResNets, R(2+1)D, the proxy nets; Sequential(Dropout, Linear) once
    `replace_last_layer` gave it a dropout)."""
    for name in ("classifier", "fc"):
        layer = getattr(model, name, None)
        if isinstance(layer, nn.Sequential) and len(layer) and isinstance(layer[-1], nn.Linear):
            return name, layer[-1]
        if isinstance(layer, nn.Linear):
            return name, layer
    raise ValueError(f"{type(model).__name__} has no last layer named `classifier` or `fc` ending in a Linear")


def replace_last_layer(model: nn.Module, num_classes: int, dropout: float) -> nn.Module:
    """Efficient-3DCNNs model.py, fine-tuning: MobileNet / ShuffleNet get `classifier = Sequential(Dropout(0.9),
    Linear(in, n_finetune_classes))`, the ResNets and ResNeXts `fc = Linear(in, n_finetune_classes)`. Here the
    dropout is pipeline_args `classifier_dropout` (0.9 / 0.0 in experiments.yaml); returns the new layer."""
    name, linear = last_layer(model)
    fresh = nn.Linear(linear.in_features, num_classes)
    layer = nn.Sequential(nn.Dropout(dropout), fresh) if dropout > 0 else fresh
    setattr(model, name, layer)
    return layer


def keep_frozen_batch_norm_statistics(model: nn.Module) -> None:
    """Batch norms whose parameters are all frozen run in eval mode whenever `model` trains, so their running
    statistics stay those of the checkpoint (without this, PyTorch's train mode keeps updating them, as
    Efficient-3DCNNs' last-layer fine-tuning does: `update_frozen_bn_stats: true`)."""
    frozen = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
              and not any(p.requires_grad for p in m.parameters())]

    def to_eval(module: nn.Module, _inputs) -> None:
        if module.training:
            for norm in frozen:
                norm.eval()

    if frozen:
        model.register_forward_pre_hook(to_eval)


# ------------------------------------------------------------------------------------------------ GCF-Net

class GCFNet(nn.Module):
    """Backbone + GCF head (Fig. 2): (B, C, 3, L, H, W) clips -> (B, K) video logits.

    State-dict keys: `backbone.` (the clip classifier as trained, its unused last layer included) and `head.`
    (papers/gcfnet/models.py gcf_head). `last_gates` keeps the clip-wise attention weights s of the latest
    forward (None without clip attention) for the sparsity loss of Eq. (10).
    """

    def __init__(self, backbone: nn.Module, head: GCFHead):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.last_gates: torch.Tensor | None = None

    def descriptors(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, C, 3, L, H, W) clips to their (B, C, D) descriptors x_1..x_C."""
        batch, count = clips.shape[:2]
        # A frozen backbone needs no graph: its descriptors are inputs of the head
        track = torch.is_grad_enabled() and any(p.requires_grad for p in self.backbone.parameters())
        with torch.set_grad_enabled(track):
            return clip_descriptors(self.backbone, clips.flatten(0, 1)).unflatten(0, (batch, count))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, 3, L, H, W), or their descriptors (B, C, D) precomputed by `DescriptorCache`."""
        descriptors = clips if clips.ndim == 3 else self.descriptors(clips)
        logits, self.last_gates = self.head.forward_with_gates(descriptors)
        return logits


def gcf_forward(model: GCFNet, views: torch.Tensor) -> torch.Tensor:
    """(B, C, 3, L, H, W) clips (the C views of fixed_clips) to (B, 1, K): one prediction per video."""
    return model(views).unsqueeze(1)


@dataclasses.dataclass
class GCFLoss:
    """L = L_c + lambda L_s (Eq. 9) on the logits of `gcf_forward` and the gates of the same forward."""

    model: GCFNet
    sparsity_weight: float

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gates = self.model.last_gates
        gates = None if gates is None else gates.to(logits.device, logits.dtype)
        return gcf_loss(logits.flatten(0, 1) if logits.ndim == 3 else logits, labels, gates,
                        sparsity_weight=self.sparsity_weight)


# ------------------------------------------------------------------------------------- chained experiments

def _declared(ctx: Context, experiment_id: str):
    from repro.run.experiments import find
    from repro.audit.papers import load_papers

    return find(f"{ctx.experiment.paper}/{experiment_id}", load_papers(ctx.experiment.paper))


def _model_and_args(ctx: Context, declared) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(model name, model args, pipeline args) of a declared experiment as the runner gives them in this mode."""
    name, args, pipeline_args = model_spec(declared, ctx.proxy)
    if ctx.proxy and "num_classes" in ctx.model_args:
        args["num_classes"] = ctx.model_args["num_classes"]  # the runner sets it from the synthetic train set
    return name, args, pipeline_args


def architecture(ctx: Context, experiment_id: str) -> nn.Module:
    """The model experiment `experiment_id` trains, as its declaration builds it, without weights.

    classify: its model; finetune_last_layer: its model with the replaced last layer; train_gcf: GCFNet of
    the backbone it starts from (followed through backbone_from / gcf_from) and its head.
    """
    declared = _declared(ctx, experiment_id)
    name, args, pipeline_args = _model_and_args(ctx, declared)
    if declared.pipeline == "classify":
        return models.build(name, **args)
    if declared.pipeline == "gcfnet.finetune_last_layer":
        model = models.build(name, **args)
        replace_last_layer(model, int(args["num_classes"]), float(pipeline_args.get("classifier_dropout", 0.0)))
        return model
    if declared.pipeline == "gcfnet.train_gcf":
        if "gcf_from" in pipeline_args:
            backbone = architecture(ctx, pipeline_args["gcf_from"]).backbone
        else:
            backbone = architecture(ctx, pipeline_args["backbone_from"])
        return GCFNet(backbone, models.build(name, **args))
    raise ValueError(f"{declared.name} ({declared.pipeline}) trains no model another experiment can start from")


def restore(ctx: Context, experiment_id: str) -> nn.Module:
    """`architecture(experiment_id)` with the weights of that experiment's run (run_dir/checkpoint.pt)."""
    path = Path(ctx.run_dir_of(experiment_id)) / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{ctx.experiment.name} needs the checkpoint {path}: run `repro run "
                                f"{ctx.experiment.paper}/{experiment_id}{' --proxy' if ctx.proxy else ''}` first "
                                "(same --out)")
    model = architecture(ctx, experiment_id)
    model.load_state_dict(checkpoint.load(path)["model"])
    return model


def _source(ctx: Context, *keys: str) -> tuple[str, str]:
    found = [k for k in keys if ctx.pipeline_args.get(k)]
    if len(found) != 1:
        raise ValueError(f"{ctx.experiment.name}: pipeline_args needs exactly one of {', '.join(keys)} (an "
                         f"experiment id of {ctx.experiment.paper}), got {found or 'none'}")
    return found[0], str(ctx.pipeline_args[found[0]])


def _same_model(ctx: Context, experiment_id: str) -> None:
    """The model this experiment names must be the one it loads (a slip in experiments.yaml fails here)."""
    declared, _, _ = _model_and_args(ctx, _declared(ctx, experiment_id))
    if declared != ctx.model_name:
        raise ValueError(f"{ctx.experiment.name} names model {ctx.model_name!r} but loads {experiment_id}, "
                         f"which trains {declared!r}")


# ---------------------------------------------------------------------------------------------- D-Clips

def dense_clips_forward(model: nn.Module, views: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """Every clip of every video through the model in one batch; returns (B, 1, K) log of each video's mean clip
    softmax, so the engine's video score (softmax of it) is exactly the averaged clip softmax (D-Clips) and
    its loss (cross-entropy of it) the negative log of that average at the label."""
    views = list(views)
    logits = model(torch.cat(views))
    scores = [chunk.softmax(-1).mean(0) for chunk in logits.float().split([len(v) for v in views])]
    return torch.stack(scores).clamp_min(1e-12).log().unsqueeze(1)


def evaluate(ctx: Context) -> tuple[Task, Any, Any]:
    """D-Clips (Table 1 "+D-Clips", Table 2 "D-Clips prediction"): the checkpoint of pipeline_args
    `checkpoint_from` tested with this experiment's test protocol (dense: every non-overlapping 16-frame clip,
    softmax averaged, repro.data.sampling.dense_clips), nothing trained.

    The training set returned is empty, so whatever `epochs` the config holds no step is taken (the D-Clips
    experiments declare no train config: TrainConfig's default of 1 epoch then only evaluates).
    """
    _, source = _source(ctx, "checkpoint_from")
    _same_model(ctx, source)
    model = restore(ctx, source)
    empty = VideoDataset([], ctx.test_set.protocol, seed=ctx.test_set.seed)
    return Task(model, forward=dense_clips_forward), empty, RaggedViews(ctx.test_set)


# ----------------------------------------------------------------------------------------------- training

def ten_clip_training_set(ctx: Context, spatial: str | None) -> VideoDataset:
    """The experiment's training set (fixed_clips: the 10 clips of Sec. 3.3) with the spatial augmentation of
    protocol `spatial` (train_clip: Efficient-3DCNNs' multi-scale random crop and 50% flip, Sec. 3.3), drawn
    once per video for all its clips (repro.data.protocols.Protocol.views); None keeps the centre crop."""
    base = ctx.train_set
    if not spatial:
        return base
    _, options, _, _ = effective(ctx.experiment, ctx.proxy)
    augment = make_protocol(spatial, **options)
    protocol = dataclasses.replace(base.protocol, name=f"{base.protocol.name}+{spatial}", spatial=augment.spatial,
                                   decode_short_side=augment.decode_short_side,
                                   description=f"{base.protocol.description}; spatial views as {spatial}")
    return VideoDataset(base.samples, protocol, seed=base.seed, frames=base.frames,
                        frame_template=base.frame_template, resize_at_decode=base.resize_at_decode)


# Protocols whose views are a function of the video alone (no random draw): descriptors of a fixed backbone
# computed once are then exactly those every epoch would compute.
DETERMINISTIC = ("central", "dense", "fixed_clips", "uniform_clips", "multiview", "tsn_1crop", "tsn_10crop")


class DescriptorCache(torch.utils.data.Dataset):
    """`base` with each video's clips replaced by their (C, D) descriptors under `model.descriptors`, computed
    once here (pipeline_args cache_descriptors): exact only for a backbone that does not change (frozen, batch
    norms in eval mode) and deterministic views, which `train_gcf` checks before it caches."""

    def __init__(self, base: VideoDataset, model: GCFNet, *, device: str, batch_size: int = 8):
        if base.protocol.name not in DETERMINISTIC:
            raise ValueError(f"cannot cache descriptors of protocol {base.protocol.name!r}: its views are random")
        self.items: list[Item | Skipped] = []
        backbone = model.backbone
        was_training, backbone = backbone.training, backbone.to(device).eval()
        with torch.inference_mode():
            for start in range(0, len(base), batch_size):
                read = [base[i] for i in range(start, min(start + batch_size, len(base)))]
                ready = [r for r in read if isinstance(r, Item)]
                if ready:
                    clips = torch.stack([r.views for r in ready]).to(device)
                    found = iter(model.descriptors(clips).float().cpu())
                read = [Item(next(found), r.label, r.index) if isinstance(r, Item) else r for r in read]
                self.items.extend(read)
        backbone.train(was_training)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Item | Skipped:
        return self.items[index]


def _head_input(head: GCFHead) -> int:
    return head.fusion[0].query.in_features if len(head.fusion) else head.classifier.in_features


def train_gcf(ctx: Context) -> tuple[Task, Any, Any]:
    """GCF-Net (Sec. 3, Eqs. 1-9): the backbone turns each of the 10 clips into its pooled descriptor, the head
    (the experiment's model, gcfnet/gcf_head) fuses them and classifies the video.

    pipeline_args:
    - backbone_from: a `classify` experiment whose checkpoint is the backbone; the head starts random
      (Kinetics-600 rows), or gcf_from: a `train_gcf` experiment whose whole GCF-Net is loaded and whose head
      classifier W_c (Eq. 8) is replaced by a fresh one for this experiment's classes (UCF101 rows: Sec. 3.3
      "frozen the network parameters and fine-tuned only the last layer").
    - freeze_backbone: the backbone's parameters are not trained (false: end to end, Sec. 3 "an end-to-end
      deep neural network"; the experiments' notes give both readings).
    - trainable: `all` (every parameter not frozen by freeze_backbone) or `classifier` (only W_c).
    - sparsity_weight: lambda of Eq. (9) (not printed in the paper; required here).
    - train_spatial: the protocol whose spatial augmentation the 10 training clips get (train_clip).
    - update_frozen_bn_stats (default false): frozen batch norms keep updating their running statistics.
    - cache_descriptors (default false): compute the clip descriptors of the train and test videos once
      (`DescriptorCache`), for a frozen backbone on deterministic views (train_spatial null); the proxy uses it.
    The backbone's own classifier is not part of GCF-Net: it stays in the state dict but gets no gradient.
    """
    args = ctx.pipeline_args
    trainable = str(args.get("trainable", "all"))
    if trainable not in TRAINABLE:
        raise ValueError(f"{ctx.experiment.name}: pipeline_args trainable must be one of {TRAINABLE}, "
                         f"got {trainable!r}")
    if "sparsity_weight" not in args:
        raise ValueError(f"{ctx.experiment.name}: pipeline_args needs sparsity_weight (lambda of Eq. 9)")
    kind, source = _source(ctx, "backbone_from", "gcf_from")
    head = ctx.build_model()
    if kind == "gcf_from":
        loaded = restore(ctx, source)
        backbone = loaded.backbone
        kept = {k: v for k, v in loaded.head.state_dict().items() if not k.startswith("classifier.")}
        missing, unexpected = head.load_state_dict(kept, strict=False)
        if unexpected or any(not k.startswith("classifier.") for k in missing):
            raise ValueError(f"{ctx.experiment.name}: the head of {source} does not match this experiment's "
                             f"(missing {missing}, unexpected {unexpected})")
    else:
        backbone = restore(ctx, source)
    width = last_layer(backbone)[1].in_features  # the classifier reads the pooled descriptor
    if width != _head_input(head):
        raise ValueError(f"{ctx.experiment.name}: the backbone of {source} gives {width}-d clip descriptors but "
                         f"the head expects feature_dim={_head_input(head)}")
    model = GCFNet(backbone, head)
    last_layer(backbone)[1].requires_grad_(False)
    if args.get("freeze_backbone", False):
        backbone.requires_grad_(False)
    if trainable == "classifier":
        model.requires_grad_(False)
        head.classifier.requires_grad_(True)
    if not args.get("update_frozen_bn_stats", False):
        keep_frozen_batch_norm_statistics(model)
    task = Task(model, forward=gcf_forward, loss=GCFLoss(model, float(args["sparsity_weight"])),
                parameters=_trained)
    train_set, test_set = ten_clip_training_set(ctx, args.get("train_spatial")), ctx.test_set
    if args.get("cache_descriptors", False):
        if any(p.requires_grad for p in backbone.parameters()) or args.get("update_frozen_bn_stats", False):
            raise ValueError(f"{ctx.experiment.name}: cache_descriptors needs a backbone that does not change "
                             "(freeze_backbone: true, update_frozen_bn_stats: false)")
        train_set, test_set = (DescriptorCache(s, model, device=ctx.device) for s in (train_set, test_set))
    return task, train_set, test_set


def _trained(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def finetune_last_layer(ctx: Context) -> tuple[Task, Any, Any]:
    """UCF101 transfer of a clip classifier (Sec. 3.3: "We have frozen the network parameters and fine-tuned
    only the last layer"), as Efficient-3DCNNs' fine-tuning (model.py; --ft_portion last_layer): the checkpoint
    of pipeline_args `checkpoint_from` loaded, its last layer replaced (`replace_last_layer`, with dropout
    `classifier_dropout`), only that layer optimised. `update_frozen_bn_stats` (default true, as there: the
    whole model stays in train mode) lets the frozen batch norms keep updating their running statistics.
    Trains on the experiment's train protocol and tests with its test protocol (C-Clip).
    """
    _, source = _source(ctx, "checkpoint_from")
    _same_model(ctx, source)
    model = restore(ctx, source)
    model.requires_grad_(False)
    dropout = float(ctx.pipeline_args.get("classifier_dropout", 0.0))
    replace_last_layer(model, int(ctx.model_args["num_classes"]), dropout)
    if not ctx.pipeline_args.get("update_frozen_bn_stats", True):
        keep_frozen_batch_norm_statistics(model)
    return Task(model, parameters=_trained), ctx.train_set, ctx.test_set
