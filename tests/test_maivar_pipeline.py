"""MAiVAR's pipelines (papers/maivar/pipeline.py) and proxy check (papers/maivar/proxy.py).

The audio features are the frozen extractor's on each flip variant of each image; videos without sound are
left out; the video extractor takes single frames (BN-Inception, TSN) or clips (the proxy stand-in), in TSN's
Caffe input format; the fusion MLP starts from the video MLP's checkpoint (Algorithm 1) and trains with
cross-entropy + l1 (Eq. 3), only the MLP trained; per-epoch video features run the extractor inside the model;
TSN RGB's partial BN and learning-rate policy; and the proxy check end to end.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from papers.maivar import pipeline as mp
from papers.maivar.models import FeatureMLP
from repro import models
from repro.data.dataset import VideoDataset
from repro.data.protocols import make_protocol
from repro.data.synth import synthesize
from repro.engine import checkpoint
from repro.engine.config import TrainConfig
from repro.engine.loop import Task, fit
from repro.engine.optim import Schedule, make_optimizer
from repro.run.experiments import find
from repro.audit.papers import load_papers
from repro.run.runner import Context, _datasets, effective, model_spec

from conftest import paired_keys, paired_verdict

CLASSES = ["MoveLeft", "OrbitHum", "OrbitWhistle"]


@pytest.fixture(scope="module")
def paper():
    return load_papers("maivar")[0]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """3 classes x 4 videos of 32 frames, per class 3 train (indices 1-3) and 1 test video (index 0, group 1);
    MoveLeft's videos 1 and 3 have no sound track (synth: every second one), every Orbit video has one: 7 train
    and 3 test videos with sound."""
    root = tmp_path_factory.mktemp("synth")
    synthesize(root, layout="ucf101", frames=32, width=64, height=48, classes=CLASSES)
    return root


def _context(paper, experiment_id: str, out: Path, tree: Path, *, proxy: bool = True, weights=None,
             pipeline_args=None, protocols=None) -> Context:
    """A Context as run_experiment builds it on `tree`; `protocols` replaces the experiment's (train, test)."""
    experiment = find(f"maivar/{experiment_id}", [paper])
    _, train, test, config = effective(experiment, proxy)
    layout = {"layout": "ucf101", "split": 1, "train": "train", "test": "test"}
    if protocols is None:
        train_set, test_set = _datasets(experiment, layout, train, test, config, tree, out)
    else:
        from repro.data.layouts import get_layout

        ucf = get_layout("ucf101")
        train_set, test_set = (VideoDataset(ucf.samples(tree, 1, subset), protocol) for subset, protocol in
                               zip(("train", "test"), protocols, strict=True))
    name, model_args, args = model_spec(experiment, proxy)
    model_args["num_classes"] = len(CLASSES)
    run_dir = out / "runs" / "maivar" / (experiment_id + ("-proxy" if proxy else ""))
    return Context(experiment, train_set, test_set, "cpu", out, run_dir, proxy, model_args, name,
                   {**args, **(pipeline_args or {})}, dict(weights or {}))



def _trained(model: nn.Module, task) -> set[str]:
    chosen = {id(p) for p in (task.parameters(model) if task.parameters else model.parameters())}
    return {name for name, p in model.named_parameters() if id(p) in chosen}


def _png(path: Path, seed: int = 0) -> Path:
    from PIL import Image

    image = np.random.default_rng(seed).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    Image.fromarray(image).save(path)
    return path


# --- audio side ------------------------------------------------------------------------------------------------

def test_image_tensor_resizes_normalises_and_flips(tmp_path):
    path = _png(tmp_path / "a.png")
    raw = mp.image_tensor(path, 224, "none")
    assert raw.shape == (3, 224, 224) and 0.0 <= float(raw.min()) and float(raw.max()) <= 1.0
    net = mp.image_tensor(path, 224, "imagenet")  # Sec. IV-B: ImageNet mean/std
    mean, std = torch.tensor(mp.IMAGENET_MEAN).view(3, 1, 1), torch.tensor(mp.IMAGENET_STD).view(3, 1, 1)
    assert torch.allclose(net, (raw - mean) / std, atol=1e-6)
    assert mp.image_tensor(path, 75, "imagenet").shape == (3, 75, 75)
    image = torch.arange(6.0).reshape(1, 2, 3)
    assert torch.equal(mp.flip_image(image, ("horizontal",))[0, 0], torch.tensor([2.0, 1.0, 0.0]))
    assert torch.equal(mp.flip_image(image, ("vertical",))[0, 0], torch.tensor([3.0, 4.0, 5.0]))
    assert torch.equal(mp.flip_image(image, ()), image)
    assert mp.FLIP_VARIANTS[0] == () and len(set(mp.FLIP_VARIANTS)) == 4


def test_recalibrated_batch_norm_takes_the_data_statistics_and_keeps_the_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    weights = {k: v.clone() for k, v in net.state_dict().items() if "running" not in k and "num_batches" not in k}
    data = [torch.randn(8, 3, 6, 6) * 5 + 2 for _ in range(3)]
    count = mp.recalibrate_batch_norm(net, lambda: iter(data), net)
    with torch.no_grad():
        out = torch.cat([net[0](d) for d in data])
    assert count == 1 and net[1].momentum == 0.1 and not net.training
    assert torch.allclose(net[1].running_mean, out.mean((0, 2, 3)), atol=1e-4)  # the plain average of batch means
    assert all(torch.equal(net.state_dict()[k], v) for k, v in weights.items())


def test_audio_mlp_uses_the_frozen_extractor_on_every_flip_variant_of_images_with_sound(paper, tmp_path, tree):
    ctx = _context(paper, "audio-chromagram", tmp_path, tree, pipeline_args={"recalibrate_bn": False})
    task, train_set, test_set = mp.audio_mlp(ctx)
    record = json.loads((ctx.run_dir / "maivar.json").read_text())
    assert record["classes"] == CLASSES
    assert len(record["no_audio"]) == 2 and all("MoveLeft" in p for p in record["no_audio"])
    assert record["kept"] == {"train": len(train_set), "test": len(test_set)} == {"train": 7, "test": 3}
    assert train_set.audio.shape == (7, 4, 1536) and test_set.audio.shape == (3, 1, 1536)
    # the cached features are the seeded random IRV2 (proxy stand-in) on each flipped 75 x 75 image
    images = mp.render_audio_images(ctx, "chromagram")
    extractor, _ = mp.audio_extractor(ctx, ctx.pipeline_args)
    image = mp.image_tensor(images.train[0][1], 75, "imagenet")
    with torch.no_grad():
        for k, variant in enumerate(mp.FLIP_VARIANTS):
            expected = extractor.features(mp.flip_image(image, variant)[None])[0]
            assert torch.allclose(train_set.audio[0, k], expected, atol=1e-4), variant
    # each epoch draws one variant per training image; test images are never flipped
    drawn = set()
    for epoch in range(6):
        train_set.set_epoch(epoch)
        first = train_set[0].views[0]
        drawn.add(next(k for k in range(4) if torch.equal(first, train_set.audio[0, k])))
        assert torch.equal(test_set[0].views[0], test_set.audio[0, 0])
    assert len(drawn) > 1
    batch = train_set.collate([train_set[i] for i in range(3)])
    logits = task.forward(task.model, batch.views)
    assert logits.shape == (3, 1, 3) and isinstance(task.model, FeatureMLP)


# --- video side ------------------------------------------------------------------------------------------------

def test_segment_features_single_frames_caffe_input_padding_and_frozen_backbone():
    torch.manual_seed(0)
    bn = models.build("baselines/bninception", num_classes=5).eval()
    features = mp.SegmentFeatures(bn, 1024, "caffe_bgr", (10.0, 20.0, 30.0), (2.0, 2.0, 2.0))
    segments = torch.randn(2, 3, 3, 1, 64, 64)
    out = features.train()(segments)
    assert out.shape == (2, 3, 1024) and not bn.training and not any(p.requires_grad for p in bn.parameters())
    raw = segments[:, :, :, 0].flatten(0, 1) * 2.0 + torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1)
    caffe = raw.flip(1) - torch.tensor([104.0, 117.0, 128.0]).view(1, 3, 1, 1)  # BGR, 0-255, minus the mean
    with torch.no_grad():
        assert torch.allclose(out.flatten(0, 1), bn.features(caffe), atol=1e-4)
    with pytest.raises(ValueError, match="one frame per segment"):
        features(torch.randn(1, 2, 3, 4, 64, 64))
    small = models.build("baselines/small3d", num_classes=5).eval()
    clips = mp.SegmentFeatures(small, 1024, "protocol")
    out = clips(torch.randn(2, 3, 3, 8, 32, 32))
    assert out.shape == (2, 3, 1024) and torch.equal(out[..., 128:], torch.zeros(2, 3, 896))


def test_full_runs_need_the_pretrained_extractors(paper, tmp_path, tree):
    ctx = _context(paper, "fusion-chromagram", tmp_path, tree, proxy=False)
    with pytest.raises(ValueError, match="--weights pretrained_audio=PATH"):
        mp.audio_extractor(ctx, ctx.pipeline_args["audio"])
    with pytest.raises(ValueError, match="--weights pretrained_video=PATH"):
        mp.video_extractor(ctx, ctx.pipeline_args["video"], ctx.train_set.protocol)
    ctx = _context(paper, "tsn-rgb", tmp_path, tree, proxy=False)
    with pytest.raises(ValueError, match="--weights pretrained=PATH"):
        mp.tsn_rgb(ctx)


def test_audio_weights_load_by_order(paper, tmp_path, tree):
    """Cadene's checkpoints load by order (repro.weights "cadene"); BN-Inception stands in for IRV2 here only to
    keep the file small."""
    torch.manual_seed(3)
    source = models.build("baselines/bninception")
    path = tmp_path / "imagenet.pth"
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({f"features.layer{i}": v for i, v in enumerate(state.values())}, path)  # other names, same order
    ctx = _context(paper, "audio-chromagram", tmp_path, tree, proxy=False, weights={"pretrained_audio": path})
    extractor, weights = mp.audio_extractor(ctx, {"extractor": "baselines/bninception"})
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in extractor.state_dict().items())
    assert ctx.pipeline_args["pretrained_audio_source"] == "cadene" and str(path.resolve()) in weights


def test_per_epoch_video_features_run_the_pretrained_extractor_in_the_model(paper, tmp_path, tree):
    """The full runs' reading: TSN segments decoded and augmented anew every epoch, the frozen BN-Inception (the
    user's Kinetics TSN weights) run inside the model; test features once. Small segments here for CPU time."""
    torch.manual_seed(4)
    tsn = models.build("baselines/bninception", num_classes=400)
    path = tmp_path / "tsn_kinetics.pth"
    torch.save(tsn.state_dict(), path)
    protocols = (make_protocol("train_tsn", num_segments=3, size=64, flip=False),
                 make_protocol("tsn_1crop", num_segments=3, size=64))
    ctx = _context(paper, "fusion-chromagram", tmp_path, tree, proxy=False, weights={"pretrained_video": path},
                   protocols=protocols)
    samples = [s for s in ctx.train_set.samples if s.class_name != "MoveLeft"]
    tests = list(ctx.test_set.samples)
    video = mp.video_inputs(ctx, ctx.pipeline_args["video"], samples, tests)
    assert video.train_features is None and isinstance(video.train_videos, VideoDataset)
    assert all(torch.equal(v, tsn.state_dict()[k]) for k, v in video.extractor.backbone.state_dict().items()
               if not k.startswith("fc."))
    assert video.test_features.shape == (len(tests), 3, 1024)
    data = mp.ModalSet([s.label for s in samples], video=video.train_videos)
    data.set_epoch(2)
    item = data[0]
    assert item.views[0].shape == (3, 3, 1, 64, 64)
    torch.manual_seed(5)
    net = mp.VideoNet(models.build("maivar/video_mlp", num_classes=3, num_segments=3), video.extractor).eval()
    with torch.no_grad():
        direct = net(item.views[0][None])
        assert torch.allclose(direct, net.mlp(video.extractor(item.views[0][None])), atol=1e-5)
    test_item = mp.ModalSet([s.label for s in tests], video=video.test_features)[0]
    assert test_item.views[0].shape == (3, 1024)
    # one epoch of fusion training through the engine: the extractor runs inside the model and does not change
    before = {k: v.clone() for k, v in video.extractor.state_dict().items()}
    fusion = mp.FusionNet(models.build("maivar/fusion_mlp", num_classes=3, num_segments=3), video.extractor)
    train_set = mp.ModalSet([s.label for s in samples], audio=torch.randn(len(samples), 4, 1536),
                            video=video.train_videos)
    test_set = mp.ModalSet([s.label for s in tests], audio=torch.randn(len(tests), 1, 1536),
                           video=video.test_features)
    task = Task(fusion, forward=mp.modal_forward, loss=mp.L1Loss(fusion.mlp, 1e-5), parameters=mp._mlp_parameters)
    mlp_before = fusion.mlp.video_proj.weight.clone()
    result = fit(task, train_set, test_set, TrainConfig(epochs=1, batch_size=4, optimizer="adam", lr=1e-3,
                                                        workers=0), run_dir=tmp_path / "fit", show_progress=False)
    assert result.final["videos"] == len(tests) and not torch.equal(fusion.mlp.video_proj.weight, mlp_before)
    assert all(torch.equal(v, before[k]) for k, v in video.extractor.state_dict().items())


# --- the fusion chain -----------------------------------------------------------------------------------------

FAST = {"stand_in": {"clip_len": 16, "epochs": 1, "batch_size": 8, "optimizer": "adam", "lr": 1.0e-3}}


def _fast_fusion(paper, out: Path, tree: Path, **changes) -> Context:
    experiment = find("maivar/fusion-chromagram", [paper])
    args = experiment.proxy["pipeline_args"]
    pipeline_args = {"video": {**args["video"], **FAST}, "video_mlp": {**args["video_mlp"], "epochs": 2},
                     **changes}
    return _context(paper, "fusion-chromagram", out, tree, pipeline_args=pipeline_args)


def test_fusion_starts_from_the_video_mlp_and_trains_only_the_mlp_with_l1(paper, tmp_path, tree):
    ctx = _fast_fusion(paper, tmp_path, tree)
    task, train_set, test_set = mp.fusion(ctx)
    model = task.model
    assert isinstance(model, mp.FusionNet) and model.extractor is None  # proxy: features computed once
    record = json.loads((ctx.run_dir / "maivar.json").read_text())
    video_dir = Path(record["video_mlp"]["run_dir"])
    assert video_dir.parent == ctx.run_dir.parent and video_dir.name.startswith("video-mlp-")
    video_state = checkpoint.load(video_dir / "checkpoint.pt")["model"]
    assert torch.equal(model.mlp.video_proj.weight, video_state["mlp.input_layer.weight"])  # Algorithm 1
    assert torch.equal(model.mlp.video_proj.bias, video_state["mlp.input_layer.bias"])
    assert torch.equal(model.mlp.classifier.weight, video_state["mlp.classifier.weight"])
    assert model.mlp.audio_proj.weight.abs().sum() > 0  # zero_audio_init: false keeps its own initialisation
    assert _trained(model, task) == {n for n, _ in model.named_parameters() if n.startswith("mlp.")}
    assert 0.0 <= record["video_mlp"]["top1"] <= 100.0 and "train_loss" in record["video_stand_in"]
    assert train_set.audio.shape[1:] == (4, 1536) and train_set.video.shape[1:] == (3, 1024)
    assert len(train_set) == 7 and len(test_set) == 3  # the MoveLeft videos without sound are left out
    # Eq. 3: cross-entropy plus l1_weight x sum |w| over the fusion MLP
    batch = train_set.collate([train_set[i] for i in range(4)])
    logits = task.forward(model, batch.views)
    assert logits.shape == (4, 1, 3)
    l1 = sum(p.abs().sum() for p in model.mlp.parameters())
    expected = F.cross_entropy(logits[:, 0], batch.labels) + 1.0e-5 * l1
    assert torch.allclose(task.loss(logits, batch.labels), expected)
    # the video MLP and the features are reused by a second fusion (another representation shares them)
    stamp = (video_dir / "checkpoint.pt").stat().st_mtime_ns
    again, _, _ = mp.fusion(_fast_fusion(paper, tmp_path, tree))
    assert (video_dir / "checkpoint.pt").stat().st_mtime_ns == stamp
    assert torch.equal(again.model.mlp.video_proj.weight, model.mlp.video_proj.weight)
    # without Algorithm 1 the fusion keeps its random initialisation; zero_audio_init makes it the video MLP
    plain, _, _ = mp.fusion(_fast_fusion(paper, tmp_path, tree, init_from=None))
    assert not torch.equal(plain.model.mlp.video_proj.weight, model.mlp.video_proj.weight)
    zeroed, _, _ = mp.fusion(_fast_fusion(paper, tmp_path, tree, zero_audio_init=True))
    video_mlp = models.build("maivar/video_mlp", num_classes=3, num_segments=3)
    video_mlp.load_state_dict({k[4:]: v for k, v in video_state.items() if k.startswith("mlp.")})
    audio, video = batch.views
    with torch.no_grad():
        assert torch.allclose(zeroed.model.eval()(audio, video), video_mlp.eval()(video), atol=1e-5)


# --- TSN (RGB) --------------------------------------------------------------------------------------------------

def test_tsn_partial_bn_lr_policy_and_test_averaging(paper, tmp_path, tree):
    torch.manual_seed(6)
    imagenet = models.build("baselines/bninception")
    path = tmp_path / "bn_inception.pth"
    torch.save(imagenet.state_dict(), path)
    ctx = _context(paper, "tsn-rgb", tmp_path, tree, proxy=False, weights={"pretrained": path},
                   protocols=(make_protocol("train_tsn", num_segments=3, size=64),
                              make_protocol("tsn_10crop", num_segments=2, size=64)))
    task, train_set, test_set = mp.tsn_rgb(ctx)
    model = task.model
    assert all(torch.equal(v, imagenet.state_dict()[k]) for k, v in model.backbone.state_dict().items()
               if not k.startswith("fc."))
    assert model.backbone.fc.out_features == 3 and model.backbone.dropout.p == 0.8
    norms = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    model.train()
    assert norms[0].training and not any(n.training for n in norms[1:])  # partial BN
    assert norms[0].weight.requires_grad and not norms[1].weight.requires_grad
    groups = task.parameters(model)
    config = TrainConfig(optimizer="sgd", lr=0.001, weight_decay=5e-4)
    optimizer = make_optimizer(groups, config)
    Schedule(optimizer, config).start_epoch(0)
    lrs = {(g["lr"], g["weight_decay"]) for g in optimizer.param_groups}
    assert lrs == {(0.001, 5e-4), (0.002, 0.0), (0.001, 0.0)}  # weights, biases x2 no decay, first BN no decay
    bias = model.backbone.fc.bias
    assert any(any(p is bias for p in g["params"]) and g["lr"] == 0.002 for g in optimizer.param_groups)
    views = train_set[0].views
    assert views.shape == (3, 3, 1, 64, 64)
    assert task.forward(model.train(), views[None]).shape == (1, 1, 3)  # consensus: mean of the segment logits
    test_views = test_set[0].views[None]
    assert test_views.shape == (1, 20, 3, 1, 64, 64)
    model.eval()
    with torch.no_grad():
        averaged = task.forward(model, test_views)
        model.test_average = "softmax"
        per_view = task.forward(model, test_views)
    assert per_view.shape == (1, 20, 3) and torch.allclose(averaged[:, 0], per_view.mean(1), atol=1e-5)


# --- the proxy check, end to end ----------------------------------------------------------------------------------

def test_the_proxy_check_runs_and_is_logged(paper, tmp_path):
    from repro.run.proxy import load_outcomes, run_checks

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    results = run_checks(paper, tmp_path / "proxy", uri)
    assert [check.id for check, _, _ in results] == ["fusion-beats-video-audio-pair"]
    _, outcome, _ = results[0]
    keys = {f"{m}_{v}" for m in ("video", "audio", "fusion") for v in ("top1", "audio_pair_acc", "direction_acc")}
    keys |= {"fusion_minus_video_pp", "fusion_minus_audio_pp", "chance_top1", "stand_in_top1", "stand_in_train_loss",
             "chance_loss", "test_videos"} | paired_keys("fusion_vs_video") | paired_keys("fusion_vs_audio")
    assert set(outcome.values) == keys and "audio pair" in outcome.summary
    assert outcome.verdict == paired_verdict(outcome.values, "fusion_vs_video")
    logged = load_outcomes(paper, uri)["fusion-beats-video-audio-pair"]
    assert set(logged.values) == keys and logged.summary == outcome.summary
