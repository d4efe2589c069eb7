"""KPSEM's pipeline (papers/kpsem/pipeline.py) and proxy check (papers/kpsem/proxy.py): frames at an interval,
the pretrained checkpoint loaded where it belongs, PyTorch-MFNet's 0.2x learning rate on the pretrained layers
surviving the engine's schedule, the class filter of the proxy, and the proxy check end to end."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from papers.kpsem.pipeline import finetune, parameter_groups, restrict_classes, strided_forward
from repro.engine.config import TrainConfig
from repro.errors import WeightsError
from repro.engine.optim import Schedule, make_optimizer
from repro.run.experiments import find
from repro.models import build
from repro.audit.papers import load_papers
from repro.run.runner import Context
from repro.weights import inflate_kernel

from conftest import paired_keys, paired_verdict

SMALL_KPSEM = {"num_classes": 5, "num_frames": 16, "num_regions": 4, "num_sets": 2, "embed_dim": 8,
               "insert_after": "conv4"}


@pytest.fixture(scope="module")
def paper():
    return load_papers("kpsem")[0]


def _context(paper, experiment_id: str, tmp_path: Path, *, weights=None, proxy=False, model_args=None,
             train_set=None, test_set=None, pipeline_args=None) -> Context:
    experiment = find(f"kpsem/{experiment_id}", [paper])
    args = dict(model_args if model_args is not None else {"num_classes": 5})
    return Context(experiment, train_set, test_set, "cpu", tmp_path, tmp_path / "run", proxy, args, experiment.model,
                   {**experiment.pipeline_args, **(pipeline_args or {})}, dict(weights or {}))



class _Frames(torch.nn.Module):
    """Returns the frame values of pixel (0, 0) of channel 0: which frames the model was given."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, :, 0, 0]


def test_frame_interval_keeps_every_kth_frame():
    views = torch.arange(32.0).reshape(1, 1, 1, 32, 1, 1).expand(2, 3, 3, 32, 4, 4)  # value = frame index
    out = strided_forward(_Frames(), views, interval=2)
    assert out.shape == (2, 3, 16) and torch.equal(out[1, 2], torch.arange(0.0, 32.0, 2.0))
    assert strided_forward(_Frames(), views, interval=1).shape == (2, 3, 32)


def test_checkpoint_goes_into_the_backbone_and_new_layers_stay_new(paper, tmp_path):
    torch.manual_seed(1)
    kinetics = build("baselines/mfnet_3d", num_classes=400)
    path = tmp_path / "MFNet3D_Kinetics-400_72.8.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in kinetics.state_dict().items()}}, path)  # DataParallel
    ctx = _context(paper, "mf-kpsem-minikinetics", tmp_path, weights={"pretrained": path}, model_args=SMALL_KPSEM)
    task, _, _ = finetune(ctx)
    ours = task.model.state_dict()
    for key, value in kinetics.state_dict().items():
        if not key.startswith("classifier."):
            assert torch.equal(ours[f"backbone.{key}"], value), key
    assert ours["classifier.weight"].shape == (5, 768 + 96 * 7)  # V_out = F_out (+) P_out, Eq. 1
    groups = task.parameters(task.model)
    names = {id(p): n for n, p in task.model.named_parameters()}
    new, base = ({names[id(p)] for p in g["params"]} for g in groups)
    assert [g["lr_mult"] for g in groups] == [1.0, 0.2]
    assert new and all(n.startswith(("kpsem.", "classifier.")) for n in new)
    assert base == {n for n in names.values() if n.startswith("backbone.")}


def test_mfnet_keeps_its_new_classifier(paper, tmp_path):
    torch.manual_seed(2)
    kinetics = build("baselines/mfnet_3d", num_classes=400)
    path = tmp_path / "mfnet.pth"
    torch.save(kinetics.state_dict(), path)
    ctx = _context(paper, "mfnet-minikinetics", tmp_path, weights={"pretrained": path})
    task, _, _ = finetune(ctx)
    assert torch.equal(task.model.conv4.B01.conv_m1.conv.weight, kinetics.conv4.B01.conv_m1.conv.weight)
    assert task.model.classifier.weight.shape == (5, 768)
    assert [len(g["params"]) for g in task.parameters(task.model)] == [2, len(list(kinetics.parameters())) - 2]


def test_full_runs_need_the_checkpoint_and_proxy_runs_start_from_scratch(paper, tmp_path):
    with pytest.raises(ValueError, match="--weights pretrained=PATH"):
        finetune(_context(paper, "mfnet-minikinetics", tmp_path))
    task, _, _ = finetune(_context(paper, "mfnet-minikinetics", tmp_path, proxy=True))
    assert task.parameters is None  # nothing pretrained: every layer trains at the full lr


def torchvision_resnet50_state(num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """Random tensors under torchvision's resnet50 key names and shapes (torchvision/models/resnet.py:
    conv1/bn1, layer1-4 of Bottleneck blocks conv1-3/bn1-3 and downsample.0/1 on each first block, fc),
    written out here so that the key mapping under test is checked against an independent listing."""
    generator = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}

    def conv(name, out_c, in_c, k):
        state[f"{name}.weight"] = torch.randn(out_c, in_c, k, k, generator=generator)

    def bn(name, c):
        state.update({f"{name}.weight": torch.rand(c, generator=generator),
                      f"{name}.bias": torch.randn(c, generator=generator),
                      f"{name}.running_mean": torch.randn(c, generator=generator),
                      f"{name}.running_var": torch.rand(c, generator=generator) + 0.5,
                      f"{name}.num_batches_tracked": torch.tensor(7)})

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    in_c = 64
    for layer, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True), start=1):
        for i in range(blocks):
            name = f"layer{layer}.{i}"
            conv(f"{name}.conv1", width, in_c, 1)
            bn(f"{name}.bn1", width)
            conv(f"{name}.conv2", width, width, 3)
            bn(f"{name}.bn2", width)
            conv(f"{name}.conv3", width * 4, width, 1)
            bn(f"{name}.bn3", width * 4)
            if i == 0:
                conv(f"{name}.downsample.0", width * 4, in_c, 1)
                bn(f"{name}.downsample.1", width * 4)
            in_c = width * 4
    state["fc.weight"], state["fc.bias"] = torch.randn(num_classes, 2048), torch.randn(num_classes)
    return state


def test_r3d_runs_start_from_torchvision_imagenet_resnet50_inflated(paper, tmp_path):
    """Sec. 4.4: R3D's 1xkxk kernels "can be directly initialized from weights pretrained on ImageNet"."""
    theirs = torchvision_resnet50_state()
    assert len(theirs) == 320 and sum(v.numel() for k, v in theirs.items() if "running" not in k
                                      and "num_batches" not in k) == 25_557_032  # torchvision's resnet50
    path = tmp_path / "resnet50-0676ba61.pth"
    torch.save(theirs, path)
    task, _, _ = finetune(_context(paper, "r3d-hmdb51-s1", tmp_path, weights={"pretrained": path}))
    ours = task.model.state_dict()
    assert torch.equal(ours["stem.0.weight"], theirs["conv1.weight"].unsqueeze(2))
    assert torch.equal(ours["res3.0.middle.0.weight"], theirs["layer2.0.conv2.weight"].unsqueeze(2))
    assert torch.equal(ours["res5.0.shortcut.1.running_var"], theirs["layer4.0.downsample.1.running_var"])
    assert torch.equal(ours["res4.5.expand.1.bias"], theirs["layer3.5.bn3.bias"])
    assert ours["fc.weight"].shape == (5, 2048)  # new classifier; ImageNet's 1000-way fc dropped
    assert task.parameters is not None  # pretrained layers at base_lr_mult
    kpsem, _, _ = finetune(_context(paper, "r3d-kpsem-hmdb51-s1", tmp_path, weights={"pretrained": path},
                                    model_args={"num_classes": 5, "num_frames": 16}))
    assert torch.equal(kpsem.model.state_dict()["backbone.res2.1.reduce.0.weight"],
                       theirs["layer1.1.conv1.weight"].unsqueeze(2))  # loaded into the backbone
    del theirs["layer2.0.conv2.weight"]
    torch.save(theirs, path)
    with pytest.raises(WeightsError, match="1 missing from the checkpoint: res3.0.middle.0.weight"):
        finetune(_context(paper, "r3d-hmdb51-s1", tmp_path, weights={"pretrained": path}))
    with pytest.raises(ValueError, match="match no trainable parameter"):
        parameter_groups(build("baselines/mfnet_3d", num_classes=3), new_layers=("head.",), base_lr_mult=0.2)


def test_inflating_a_2d_kernel_keeps_the_response_on_a_still_clip():
    """I3D's inflation (Carreira and Zisserman 2017, Sec. 2.3): a clip of one repeated frame gives the 2D
    response at every time step; t = 1 is the kernel itself."""
    weight = torch.randn(4, 3, 3, 3)
    image = torch.randn(1, 3, 9, 9)
    still = image.unsqueeze(2).repeat(1, 1, 5, 1, 1)
    inflated = inflate_kernel(weight, torch.Size((4, 3, 3, 3, 3)))
    out3d = F.conv3d(still, inflated, padding=(1, 1, 1), stride=1)[:, :, 1:-1]  # time steps away from the padding
    out2d = F.conv2d(image, weight, padding=1).unsqueeze(2).expand_as(out3d)
    assert torch.allclose(out3d, out2d, atol=1e-5)
    assert torch.equal(inflate_kernel(weight, torch.Size((4, 3, 1, 3, 3))), weight.unsqueeze(2))
    assert inflate_kernel(weight, torch.Size((4, 3, 1, 5, 5))) is weight  # not a fit: left for the shape check


def test_base_lr_mult_survives_the_schedule_and_a_resume(tmp_path):
    """Schedule.start_epoch sets each group to the scheduled lr x its lr_mult, as PyTorch-MFNet's
    adjust_learning_rate does (train/model.py)."""
    config = TrainConfig(epochs=6, lr=0.1, momentum=0.0, weight_decay=0.0, schedule="step", step_epochs=(3,))
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))  # "1." is new, "0." pretrained
    groups = parameter_groups(model, new_layers=("1.",), base_lr_mult=0.2)
    optimizer = make_optimizer(groups, config)
    schedule = Schedule(optimizer, config)

    def step() -> torch.Tensor:
        before = model[0].weight.detach().clone()
        optimizer.zero_grad()
        model(torch.ones(1, 2)).sum().backward()
        grad = model[0].weight.grad.clone()
        optimizer.step()
        return (before - model[0].weight.detach()) / grad  # the lr the pretrained layer was updated with

    schedule.start_epoch(0)
    assert torch.allclose(step(), torch.full((2, 2), 0.02), rtol=1e-4)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.1, 0.02])
    schedule.start_epoch(3)
    assert torch.allclose(step(), torch.full((2, 2), 0.002), rtol=1e-4)
    resumed = make_optimizer(parameter_groups(model, new_layers=("1.",), base_lr_mult=0.2), config)
    resumed.load_state_dict(optimizer.state_dict())
    optimizer, schedule = resumed, Schedule(resumed, config)
    schedule.start_epoch(4)
    assert torch.allclose(step(), torch.full((2, 2), 0.002), rtol=1e-4)
    assert schedule.lr == pytest.approx(0.01)  # the scheduled lr, as the progress bar shows it


def test_class_filter_relabels_in_the_given_order(tmp_path):
    from repro.data.layouts import get_layout
    from repro.data.protocols import make_protocol
    from repro.data.synth import synthesize
    from repro.data.dataset import VideoDataset

    synthesize(tmp_path, layout="ucf101", frames=16, width=64, height=48)
    samples = get_layout("ucf101").samples(tmp_path, 1, "train")
    dataset = VideoDataset(samples, make_protocol("central", clip_len=8, size=32), seed=3)
    kept = restrict_classes(dataset, ["MoveUp", "MoveDown"])
    assert {(s.class_name, s.label) for s in kept.samples} == {("MoveUp", 0), ("MoveDown", 1)}
    assert len(kept) == sum(s.class_name in ("MoveUp", "MoveDown") for s in samples) and kept.seed == 3
    assert kept[0].label == kept.samples[0].label and kept[0].views.shape == (1, 3, 8, 32, 32)
    with pytest.raises(ValueError, match="MoveSideways"):
        restrict_classes(dataset, ["MoveUp", "MoveSideways"])
    ctx = _context(load_papers("kpsem")[0], "mfnet-minikinetics", tmp_path, proxy=True, train_set=dataset,
                   test_set=dataset, pipeline_args={"classes": ["MoveDown", "MoveUp"]})
    task, train_set, _ = finetune(ctx)
    assert ctx.model_args["num_classes"] == 2 and task.model.classifier.out_features == 2
    assert {s.class_name for s in train_set.samples} == {"MoveDown", "MoveUp"}


def test_proxy_check_runs_end_to_end_and_is_logged(paper, tmp_path, capsys):
    from repro.run.proxy import load_outcomes, run_checks

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    [(check, outcome, seconds)] = run_checks(paper, tmp_path / "proxy", uri, only="direction-gain")
    with capsys.disabled():  # the measured outcome, for whoever runs the tests
        print(f"\n{check.id}: {outcome.verdict} in {seconds:.0f}s: {outcome.summary}")
    keys = {"mfnet.top1", "mf_kpsem.top1", "gain_pp", "mfnet.test_loss", "mf_kpsem.test_loss", "params_added_pct",
            "macs_added_pct", "videos", "mfnet.MoveDown", "mfnet.MoveUp", "mf_kpsem.MoveDown", "mf_kpsem.MoveUp"}
    assert set(outcome.values) == keys | paired_keys("mf_kpsem_vs_mfnet") and "MF-KPSEM" in outcome.summary
    assert outcome.verdict == paired_verdict(outcome.values, "mf_kpsem_vs_mfnet")
    assert 0 < outcome.values["params_added_pct"] < 10
    logged = load_outcomes(paper, uri)["direction-gain"]
    assert logged.verdict == outcome.verdict and logged.values == pytest.approx(outcome.values) and logged.summary
