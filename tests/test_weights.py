"""Pretrained checkpoints by path: containers, prefixes, new classifiers, pairing by order, and errors
that list what does not fit."""
from __future__ import annotations

import pytest
import torch

from repro.errors import WeightsError
from repro.models import build
from repro.weights import load_pretrained


def save(tmp_path, name, state):
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_mfnet_style_checkpoint_with_module_prefix_and_a_new_classifier(tmp_path):
    kinetics = build("baselines/mfnet_3d", num_classes=400)
    path = save(tmp_path, "MFNet3D_Kinetics-400_72.8.pth",
                {"state_dict": {f"module.{k}": v for k, v in kinetics.state_dict().items()}, "epoch": 72})
    ucf = build("baselines/mfnet_3d", num_classes=101)
    report = load_pretrained(ucf, path, "mfnet", skip=("classifier.",))
    assert sorted(report.skipped) == ["classifier.bias", "classifier.weight"]
    assert torch.equal(ucf.state_dict()["conv1.conv.weight"], kinetics.state_dict()["conv1.conv.weight"])
    assert not report.missing and not report.unexpected


def test_a_checkpoint_that_does_not_fit_lists_the_keys(tmp_path):
    model = build("baselines/small3d", num_classes=8)
    state = model.state_dict()
    state.pop("stages.0.0.weight")
    state["extra.weight"] = torch.zeros(1)
    state["fc.weight"] = torch.zeros(5, 128)
    path = save(tmp_path, "odd.pth", state)
    with pytest.raises(WeightsError, match=r"odd.pth .*1 missing from the checkpoint: stages.0.0.weight; "
                                           r"1 unexpected: extra.weight; 1 with other shapes: fc.weight"):
        load_pretrained(build("baselines/small3d", num_classes=8), path, "native")
    with pytest.raises(WeightsError, match=r"odd.pth fits SmallVideoNet under none of the sources .*\n  native, "
                                           r"mfnet, .*: 1 missing from the checkpoint"):
        load_pretrained(build("baselines/small3d", num_classes=8), path)  # auto: how each source misses
    report = load_pretrained(build("baselines/small3d", num_classes=8), path, "native", strict=False)
    assert report.missing == ["stages.0.0.weight"] and report.unexpected == ["extra.weight"]
    with pytest.raises(WeightsError, match="no such checkpoint file"):
        load_pretrained(model, tmp_path / "absent.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="cannot be read as a torch checkpoint"):
        load_pretrained(model, tmp_path / "text.pth")


def test_ports_with_other_names_load_by_order_and_a_wrong_pairing_fails(tmp_path):
    ours = build("baselines/small3d", num_classes=10)
    tensors = [v for k, v in ours.state_dict().items() if not k.endswith("num_batches_tracked")]  # older torch
    renamed = {f"features.block{i}.param": v for i, v in enumerate(tensors)}
    fresh = build("baselines/small3d", num_classes=8)
    report = load_pretrained(fresh, save(tmp_path, "port.pth", renamed), "cadene", skip=("fc.",))
    assert torch.equal(fresh.state_dict()["stages.3.0.weight"], ours.state_dict()["stages.3.0.weight"])
    assert len(report.skipped) == 2  # their 10-class classifier
    swapped = dict(reversed(list(renamed.items())))
    with pytest.raises(WeightsError, match="the architectures differ there"):
        load_pretrained(build("baselines/small3d", num_classes=10), save(tmp_path, "bad.pth", swapped), "cadene")


def test_into_a_submodule(tmp_path):
    backbone = build("baselines/small2d", num_classes=8)
    wrapper = torch.nn.Module()
    wrapper.backbone = build("baselines/small2d", num_classes=8)
    load_pretrained(wrapper, save(tmp_path, "b.pth", backbone.state_dict()), into="backbone")
    assert torch.equal(wrapper.backbone.fc.weight, backbone.fc.weight)


# The checkpoint layouts of okankop/Efficient-3DCNNs, written out as data from its models/mobilenetv2.py and
# models/shufflenetv2.py (read, not copied): each block one flat nn.Sequential, positions as below.
def _conv(key, out, inp, k):
    return {f"{key}.weight": (out, inp, k, k, k)}


def _bn(key, n):
    return {f"{key}.{name}": (n,) for name in ("weight", "bias", "running_mean", "running_var")} | \
        {f"{key}.num_batches_tracked": ()}


def efficient3d_mobilenetv2_layout(num_classes=600):
    """width 1.0: (t, c, n, s) = (1,16,1), (6,24,2), (6,32,3), (6,64,4), (6,96,3), (6,160,3), (6,320,1)."""
    shapes = {**_conv("features.0.0", 32, 3, 3), **_bn("features.0.1", 32)}
    block, inp = 1, 32
    for t, c, n in ((1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3), (6, 320, 1)):
        for _ in range(n):
            hidden, key = round(inp * t), f"features.{block}.conv"
            if t == 1:  # dw, bn, relu6, pw-linear, bn
                shapes |= {f"{key}.0.weight": (hidden, 1, 3, 3, 3), **_bn(f"{key}.1", hidden),
                           **_conv(f"{key}.3", c, hidden, 1), **_bn(f"{key}.4", c)}
            else:  # pw, bn, relu6, dw, bn, relu6, pw-linear, bn
                shapes |= {**_conv(f"{key}.0", hidden, inp, 1), **_bn(f"{key}.1", hidden),
                           f"{key}.3.weight": (hidden, 1, 3, 3, 3), **_bn(f"{key}.4", hidden),
                           **_conv(f"{key}.6", c, hidden, 1), **_bn(f"{key}.7", c)}
            block, inp = block + 1, c
    shapes |= {**_conv(f"features.{block}.0", 1280, inp, 1), **_bn(f"features.{block}.1", 1280),
               "classifier.1.weight": (num_classes, 1280), "classifier.1.bias": (num_classes,)}
    return shapes


def efficient3d_shufflenetv2_layout(num_classes=600):
    """width 2.0: stage channels 224, 488, 976, last conv 2048; repeats 4, 8, 4; the first block of a stage
    has stride 2 and both branches (`banch1`, `banch2`), the others `banch2` on half the channels."""
    shapes = {**_conv("conv1.0", 24, 3, 3), **_bn("conv1.1", 24)}
    block, inp = 0, 24
    for out, repeats in ((224, 4), (488, 8), (976, 4)):
        half = out // 2
        for i in range(repeats):
            key = f"features.{block}"
            if i == 0:  # banch1: dw, bn, pw, bn, relu
                shapes |= {f"{key}.banch1.0.weight": (inp, 1, 3, 3, 3), **_bn(f"{key}.banch1.1", inp),
                           **_conv(f"{key}.banch1.2", half, inp, 1), **_bn(f"{key}.banch1.3", half)}
            first = inp if i == 0 else half  # banch2: pw, bn, relu, dw, bn, pw, bn, relu
            shapes |= {**_conv(f"{key}.banch2.0", half, first, 1), **_bn(f"{key}.banch2.1", half),
                       f"{key}.banch2.3.weight": (half, 1, 3, 3, 3), **_bn(f"{key}.banch2.4", half),
                       **_conv(f"{key}.banch2.5", half, half, 1), **_bn(f"{key}.banch2.6", half)}
            block, inp = block + 1, out
    shapes |= {**_conv("conv_last.0", 2048, 976, 1), **_bn("conv_last.1", 2048),
               "classifier.1.weight": (num_classes, 2048), "classifier.1.bias": (num_classes,)}
    return shapes


def _random_state(shapes):
    torch.manual_seed(0)
    return {k: (torch.tensor(7) if k.endswith("num_batches_tracked") else torch.randn(shape))
            for k, shape in shapes.items()}


@pytest.mark.parametrize("name, args, layout, source, theirs, ours", [
    ("baselines/mobilenetv2_3d", {"num_classes": 600, "width_mult": 1.0, "sample_size": 112},
     efficient3d_mobilenetv2_layout, "efficient3d-mobilenetv2", "features.5.conv.3.weight",
     "features.5.conv.1.0.weight"),
    ("baselines/shufflenetv2_3d", {"num_classes": 600, "width_mult": 2.0, "sample_size": 112},
     efficient3d_shufflenetv2_layout, "efficient3d-shufflenetv2", "features.4.banch2.6.running_var",
     "features.4.branch2.2.1.running_var"),
])
def test_efficient3dcnns_flat_layouts_load_by_name_and_are_detected(tmp_path, name, args, layout, source, theirs,
                                                                    ours):
    state = _random_state(layout())
    path = save(tmp_path, "kinetics_best.pth", {"epoch": 90, "arch": "x", "state_dict":
                                               {f"module.{k}": v for k, v in state.items()}})  # DataParallel
    model = build(name, **args)
    report = load_pretrained(model, path, source)
    assert report.fits and len(report.loaded) == len(state)
    assert torch.equal(model.state_dict()[ours], state[theirs])
    assert load_pretrained(build(name, **args), path).source == source  # auto finds it by name
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 16, 112, 112)).shape == (1, 600)
    wrong = {k.replace(".conv.3.", ".conv.5.").replace(".banch2.5.", ".banch2.7."): v for k, v in state.items()}
    with pytest.raises(WeightsError, match=r"does not fit .*missing from the checkpoint: .*unexpected: "):
        load_pretrained(build(name, **args), save(tmp_path, "wrong.pth", wrong), source)



def _their_flat_block(spec: list[tuple]) -> torch.nn.Sequential:
    """One of Efficient-3DCNNs' flat blocks as its code builds it: ("pw", in, out), ("dw", channels, stride),
    ("bn", n), ("relu6",) or ("relu",), in order; positions are the checkpoint's key numbers."""
    from torch import nn
    make = {"pw": lambda cin, cout: nn.Conv3d(cin, cout, 1, bias=False),
            "dw": lambda c, s: nn.Conv3d(c, c, 3, s, 1, groups=c, bias=False),
            "bn": nn.BatchNorm3d, "relu6": nn.ReLU6, "relu": nn.ReLU}
    return nn.Sequential(*(make[kind](*args) for kind, *args in spec))


def _plausible_state(layout: dict) -> dict[str, torch.Tensor]:
    """Random tensors with positive batch-norm variances, so that a forward pass means something."""
    return {k: v.abs() + 0.5 if k.endswith("running_var") else v for k, v in _random_state(layout).items()}


@pytest.mark.parametrize("block, spec, residual", [
    (1, [("dw", 32, 1), ("bn", 32), ("relu6",), ("pw", 32, 16), ("bn", 16)], False),  # expand ratio 1
    (2, [("pw", 16, 96), ("bn", 96), ("relu6",), ("dw", 96, 2), ("bn", 96), ("relu6",), ("pw", 96, 24),
         ("bn", 24)], False),
    (3, [("pw", 24, 144), ("bn", 144), ("relu6",), ("dw", 144, 1), ("bn", 144), ("relu6",), ("pw", 144, 24),
         ("bn", 24)], True),
])
def test_efficient3dcnns_mobilenetv2_blocks_give_the_authors_outputs(tmp_path, block, spec, residual):
    """Their block (models/mobilenetv2.py InvertedResidual: x + conv(x) when the stride is 1 and the width
    kept) against ours, each loaded with the same tensors."""
    state = _plausible_state(efficient3d_mobilenetv2_layout())
    model = build("baselines/mobilenetv2_3d", num_classes=600).eval()
    load_pretrained(model, save(tmp_path, "m.pth", state), "efficient3d-mobilenetv2")
    theirs = _their_flat_block(spec).eval()
    prefix = f"features.{block}.conv."
    theirs.load_state_dict({k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)})
    x = torch.randn(2, spec[0][1], 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model.features[block](x), theirs(x) + (x if residual else 0))


@pytest.mark.parametrize("block, stride", [(0, 2), (1, 1)])
def test_efficient3dcnns_shufflenetv2_units_give_the_authors_outputs(tmp_path, block, stride):
    """Their unit (models/shufflenetv2.py InvertedResidual: stride 1 keeps the first half and transforms the
    second, stride 2 concatenates banch1(x) and banch2(x); then channel_shuffle with 2 groups)."""
    state = _plausible_state(efficient3d_shufflenetv2_layout())
    model = build("baselines/shufflenetv2_3d", num_classes=600, width_mult=2.0).eval()
    load_pretrained(model, save(tmp_path, "s.pth", state), "efficient3d-shufflenetv2")
    inp, half = (24, 112) if stride == 2 else (224, 112)
    banch2 = _their_flat_block([("pw", inp if stride == 2 else half, half), ("bn", half), ("relu",),
                                ("dw", half, stride), ("bn", half), ("pw", half, half), ("bn", half), ("relu",)])
    banch1 = _their_flat_block([("dw", inp, 2), ("bn", inp), ("pw", inp, half), ("bn", half), ("relu",)])
    for name, branch in (("banch1", banch1), ("banch2", banch2)):
        prefix = f"features.{block}.{name}."
        if any(k.startswith(prefix) for k in state):
            branch.load_state_dict({k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)})
    x = torch.randn(2, inp, 4, 8, 8)
    with torch.no_grad():
        if stride == 1:
            out = torch.cat((x[:, :half], banch2.eval()(x[:, half:])), 1)
        else:
            out = torch.cat((banch1.eval()(x), banch2.eval()(x)), 1)
        n, c, d, h, w = out.shape
        shuffled = out.view(n, 2, c // 2, d, h, w).permute(0, 2, 1, 3, 4, 5).reshape(n, c, d, h, w)
        torch.testing.assert_close(model.features[block](x), shuffled)

# VMZ's Caffe2 blobs, written out as data from facebookresearch/VMZ c2/lib/models/r3d_model.py and
# builder/video_model.py (read, not copied): names and shapes of an R(2+1)D-34 and an R(2+1)D-50 .pkl.
def _c2_bn(name, n):
    return {f"{name}_{suffix}": (n,) for suffix in ("s", "b", "rm", "riv")}


def _c2_2plus1d(name, bn, cin, cout, middle=None):
    middle = middle or int(3 * cin * cout * 9 / (cin * 9 + 3 * cout))  # add_conv's '2.5d' width
    return {f"{name}_middle_w": (middle, cin, 1, 3, 3), **_c2_bn(f"{bn}_middle", middle),
            f"{name}_w": (cout, middle, 3, 1, 1)}


def vmz_blobs(depth: int, num_classes: int = 400) -> dict[str, tuple]:
    blocks = {34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}[depth]
    widths = ((64, 64), (128, 128), (256, 256), (512, 512)) if depth == 34 else \
        ((256, 64), (512, 128), (1024, 256), (2048, 512))
    shapes = {"conv1_middle_w": (45, 3, 1, 7, 7), **_c2_bn("conv1_middle_spatbn_relu", 45),
              "conv1_w": (64, 45, 3, 1, 1), **_c2_bn("conv1_spatbn_relu", 64)}
    k, cin = 0, 64
    for stage, ((out, base), n) in enumerate(zip(widths, blocks, strict=True)):
        for i in range(n):
            c = f"comp_{k}"
            if depth == 34:  # simple block: two (2+1)D convs, each followed by a batch norm
                shapes |= {**_c2_2plus1d(f"{c}_conv_1", f"{c}_spatbn_1", cin, out), **_c2_bn(f"{c}_spatbn_1", out),
                           **_c2_2plus1d(f"{c}_conv_2", f"{c}_spatbn_2", out, out), **_c2_bn(f"{c}_spatbn_2", out)}
            else:  # bottleneck: 1x1x1, (2+1)D, 1x1x1
                shapes |= {f"{c}_conv_1_w": (base, cin, 1, 1, 1), **_c2_bn(f"{c}_spatbn_1", base),
                           **_c2_2plus1d(f"{c}_conv_2", f"{c}_spatbn_2", base, base), **_c2_bn(f"{c}_spatbn_2", base),
                           f"{c}_conv_3_w": (out, base, 1, 1, 1), **_c2_bn(f"{c}_spatbn_3", out)}
            if cin != out or (i == 0 and stage > 0):
                shapes |= {f"shortcut_projection_{k}_w": (out, cin, 1, 1, 1),
                           **_c2_bn(f"shortcut_projection_{k}_spatbn", out)}
            k, cin = k + 1, out
    return shapes | {f"last_out_L{num_classes}_w": (num_classes, cin), f"last_out_L{num_classes}_b": (num_classes,)}


@pytest.mark.parametrize("name, depth, theirs, ours", [
    ("baselines/r2plus1d_34", 34, "comp_4_conv_2_middle_w", "stages.1.1.conv2.0.weight"),
    ("baselines/r2plus1d_50", 50, "comp_7_spatbn_2_middle_riv", "res4.0.middle.1.running_var"),
])
def test_vmz_caffe2_pickles_load_without_caffe2(tmp_path, name, depth, theirs, ours):
    import pickle

    import numpy as np

    rng = np.random.default_rng(0)
    blobs = {k: rng.standard_normal(shape).astype(np.float32) for k, shape in vmz_blobs(depth).items()}
    extras = {"conv1_w_momentum": np.zeros((64, 45, 3, 1, 1), np.float32), "model_iter": np.array([3], np.int64)}
    path = tmp_path / f"r2plus1d_{depth}_clip8_kinetics.pkl"
    with open(path, "wb") as handle:
        pickle.dump({"blobs": {**blobs, **extras}}, handle, protocol=2)
    model = build(name, num_classes=400)
    report = load_pretrained(model, path, "vmz")
    assert report.fits and len(report.loaded) == len(blobs)
    assert torch.equal(model.state_dict()[ours], torch.from_numpy(blobs[theirs]))
    assert load_pretrained(build(name, num_classes=400), path).source == "vmz"  # detected
    with pytest.raises(WeightsError, match=r"does not fit .*with other shapes: fc.weight \(400, "):
        load_pretrained(build(name, num_classes=101), path, "vmz")
    assert load_pretrained(build(name, num_classes=101), path, "vmz", skip=("fc.",)).skipped == [
        "model_iter", "fc.weight", "fc.bias"]  # fine-tuning with a new classifier; Caffe2's own counter


# MMAction2's layouts, written out as data from open-mmlab/mmaction2 (mmaction/models/backbones/resnet.py,
# resnet_tsm.py, resnet3d.py; configs/_base_/models/i3d_r50.py): ConvModules `convK.conv` / `convK.bn`,
# `downsample.conv` / `.bn`, TSM's shift around conv1's conv (`conv1.conv.net`), the head `cls_head.fc_cls`.
I3D_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))


def mmaction2_resnet50(kind: str, num_classes: int = 400) -> dict[str, tuple]:
    """kind: tsn, tsm (2D ResNet-50 in `backbone.`) or i3d (ResNet3d-50, conv1 5x7x7, 3x1x1 inflation)."""
    three_d = kind.startswith("i3d")

    def conv(key, out, inp, k, t=1):
        shape = (out, inp, t, k, k) if three_d else (out, inp, k, k)
        return {f"{key}.weight": shape}

    def bn(key, n):
        return {f"{key}.{p}": (n,) for p in ("weight", "bias", "running_mean", "running_var")} | \
            {f"{key}.num_batches_tracked": ()}

    shapes = {**conv("backbone.conv1.conv", 64, 3, 7, 5), **bn("backbone.conv1.bn", 64)}
    inp = 64
    for stage, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3))):
        for i in range(blocks):
            key = f"backbone.layer{stage + 1}.{i}"
            first = f"{key}.conv1.conv.net" if kind == "tsm" else f"{key}.conv1.conv"
            shapes |= {**conv(first, width, inp, 1, 3 if three_d and I3D_INFLATE[stage][i] else 1),
                       **bn(f"{key}.conv1.bn", width), **conv(f"{key}.conv2.conv", width, width, 3),
                       **bn(f"{key}.conv2.bn", width), **conv(f"{key}.conv3.conv", width * 4, width, 1),
                       **bn(f"{key}.conv3.bn", width * 4)}
            if i == 0:
                shapes |= {**conv(f"{key}.downsample.conv", width * 4, inp, 1), **bn(f"{key}.downsample.bn", width * 4)}
            inp = width * 4
    if kind == "i3d-nl":  # non_local=((0,0,0),(0,1,0,1),(0,1,0,1,0,1),(0,0,0)), sub_sample: g and phi pooled
        for stage, blocks in ((2, (1, 3)), (3, (1, 3, 5))):
            channels = 256 * 2 ** (stage - 1)
            for i in blocks:
                key = f"backbone.layer{stage}.{i}.non_local_block"
                for part in ("theta.conv", "g.0.conv", "phi.0.conv"):
                    shapes |= {f"{key}.{part}.weight": (channels // 2, channels, 1, 1, 1),
                               f"{key}.{part}.bias": (channels // 2,)}
                shapes |= {f"{key}.conv_out.conv.weight": (channels, channels // 2, 1, 1, 1),
                           **bn(f"{key}.conv_out.bn", channels)}
    return shapes | {"cls_head.fc_cls.weight": (num_classes, 2048), "cls_head.fc_cls.bias": (num_classes,)}


@pytest.mark.parametrize("kind, name, source, theirs, ours", [
    ("tsn", "baselines/tsn_resnet50", "mmaction2-resnet2d", "backbone.layer3.2.conv2.bn.running_mean",
     "backbone.stages.2.2.bn2.running_mean"),
    ("tsm", "baselines/tsm_resnet50", "mmaction2-resnet2d", "backbone.layer2.1.conv1.conv.net.weight",
     "backbone.stages.1.1.conv1.weight"),
    ("i3d", "baselines/i3d_resnet50", "mmaction2-i3d", "backbone.layer2.0.conv1.conv.weight",
     "stages.2.0.conv1.0.weight"),
    ("i3d-nl", "baselines/i3d_resnet50", "mmaction2-i3d", "backbone.layer3.5.non_local_block.g.0.conv.bias",
     "stages.3.5.non_local.g.bias"),
])
def test_mmaction2_recogniser_checkpoints_load(tmp_path, kind, name, source, theirs, ours):
    state = _random_state(mmaction2_resnet50(kind))
    path = save(tmp_path, f"{kind}_r50_kinetics400.pth", {"meta": {"epoch": 100}, "state_dict": state})
    args = {"num_classes": 400, **({"non_local": True} if kind == "i3d-nl" else {})}
    model = build(name, **args)
    report = load_pretrained(model, path, source)
    assert report.fits and len(report.loaded) == len(state)
    assert torch.equal(model.state_dict()[ours], state[theirs])
    assert load_pretrained(build(name, **args), path).source == source  # detected
    if kind == "i3d":  # the inflation pattern is MMAction2's: a 3x1x1 conv1 where it inflates, 1x1x1 elsewhere
        assert tuple(model.state_dict()["stages.2.1.conv1.0.weight"].shape[2:]) == (1, 1, 1)


# MMAction2's C3D, written out from open-mmlab/mmaction2 mmaction/models/backbones/c3d.py and
# configs/_base_/models/c3d_sports1m_pretrained.py: ConvModules conv1a..conv5b (3x3x3, pad 1, bias, ReLU, no
# norm), pools after conv1a (1x2x2), conv2a, conv3b, conv4b (2x2x2) and conv5b (2x2x2, padding (0, 1, 1)),
# fc6 and fc7 with ReLU, and the I3DHead's fc_cls on the 4096-d feature.
C3D_CONVS = (("1a", 3, 64), ("2a", 64, 128), ("3a", 128, 256), ("3b", 256, 256), ("4a", 256, 512),
             ("4b", 512, 512), ("5a", 512, 512), ("5b", 512, 512))
C3D_POOLS = {"1a": dict(kernel_size=(1, 2, 2), stride=(1, 2, 2)), "2a": dict(kernel_size=2, stride=2),
             "3b": dict(kernel_size=2, stride=2), "4b": dict(kernel_size=2, stride=2),
             "5b": dict(kernel_size=2, stride=2, padding=(0, 1, 1))}


def mmaction2_c3d(num_classes: int = 101) -> dict[str, tuple]:
    shapes = {}
    for name, cin, cout in C3D_CONVS:
        shapes |= {f"backbone.conv{name}.conv.weight": (cout, cin, 3, 3, 3), f"backbone.conv{name}.conv.bias": (cout,)}
    return shapes | {"backbone.fc6.weight": (4096, 8192), "backbone.fc6.bias": (4096,),
                     "backbone.fc7.weight": (4096, 4096), "backbone.fc7.bias": (4096,),
                     "cls_head.fc_cls.weight": (num_classes, 4096), "cls_head.fc_cls.bias": (num_classes,)}


def mmaction2_c3d_forward(state: dict[str, torch.Tensor], clip: torch.Tensor) -> torch.Tensor:
    """MMAction2's C3D recogniser at test time (dropout off), on its own key names."""
    import torch.nn.functional as F

    x = clip
    for name, _, _ in C3D_CONVS:
        x = F.relu(F.conv3d(x, state[f"backbone.conv{name}.conv.weight"], state[f"backbone.conv{name}.conv.bias"],
                            padding=1))
        if name in C3D_POOLS:
            x = F.max_pool3d(x, **C3D_POOLS[name])
    x = F.relu(F.linear(x.flatten(1), state["backbone.fc6.weight"], state["backbone.fc6.bias"]))
    x = F.relu(F.linear(x, state["backbone.fc7.weight"], state["backbone.fc7.bias"]))
    return F.linear(x, state["cls_head.fc_cls.weight"], state["cls_head.fc_cls.bias"])


def test_mmaction2_c3d_loads_and_gives_their_outputs_with_their_pool5(tmp_path):
    torch.manual_seed(0)
    state = {k: torch.randn(shape) * (0.5 / (torch.Size(shape)[1:].numel() or 1) ** 0.5 if len(shape) > 1 else 0.01)
             for k, shape in mmaction2_c3d().items()}
    path = save(tmp_path, "c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.pth", {"state_dict": state})
    clip = torch.randn(1, 3, 16, 112, 112)
    theirs = mmaction2_c3d_forward(state, clip)
    outputs = {}
    for pool5 in ("mmaction2", "caffe"):
        model = build("baselines/c3d", num_classes=101, pool5=pool5).eval()
        report = load_pretrained(model, path)
        assert report.source == "mmaction2-c3d" and report.fits and len(report.loaded) == len(state)
        with torch.no_grad():
            outputs[pool5] = model(clip)
    torch.testing.assert_close(outputs["mmaction2"], theirs, rtol=1e-4, atol=1e-5)
    # Caffe's ceil-mode pool5 pools other windows: the same weights give other scores
    assert not torch.allclose(outputs["caffe"], theirs, rtol=1e-3, atol=1e-4)
    cut = save(tmp_path, "cut.pth", {k: v for k, v in state.items() if "conv5b" not in k})
    with pytest.raises(WeightsError, match=r"2 missing from the checkpoint: features.18.weight, features.18.bias"):
        load_pretrained(build("baselines/c3d", num_classes=101), cut, "mmaction2-c3d")


def mmaction2_r2plus1d_34(num_classes: int = 400) -> dict[str, tuple]:
    """MMAction2's ResNet2Plus1d-34 (configs/_base_/models/r2plus1d_r34.py): every ConvModule a Conv2plus1d
    (conv_s 1xkxk, bn_s, conv_t kx1x1; mmaction/models/common/conv2plus1d.py) followed by its norm."""
    def conv2plus1d(key, cin, cout, k, t):
        middle = int(3 * (cin * cout * k * k) / (cin * k * k + 3 * cout))
        return {f"{key}.conv.conv_s.weight": (middle, cin, 1, k, k), f"{key}.conv.bn_s.weight": (middle,),
                f"{key}.conv.bn_s.bias": (middle,), f"{key}.conv.bn_s.running_mean": (middle,),
                f"{key}.conv.bn_s.running_var": (middle,), f"{key}.conv.conv_t.weight": (cout, middle, t, 1, 1),
                f"{key}.bn.weight": (cout,), f"{key}.bn.bias": (cout,), f"{key}.bn.running_mean": (cout,),
                f"{key}.bn.running_var": (cout,)}

    shapes = conv2plus1d("backbone.conv1", 3, 64, 7, 3)
    cin = 64
    for stage, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
        for i in range(blocks):
            key = f"backbone.layer{stage}.{i}"
            shapes |= conv2plus1d(f"{key}.conv1", cin, width, 3, 3) | conv2plus1d(f"{key}.conv2", width, width, 3, 3)
            if i == 0 and stage > 1:
                shapes |= conv2plus1d(f"{key}.downsample", cin, width, 1, 1)
            cin = width
    return shapes | {"cls_head.fc_cls.weight": (num_classes, 512), "cls_head.fc_cls.bias": (num_classes,)}


def test_mmaction2_r2plus1d_is_another_network_and_detection_says_so(tmp_path):
    layout = mmaction2_r2plus1d_34()
    assert layout["backbone.conv1.conv.conv_s.weight"][0] == 83  # VMZ's stem has 45
    path = save(tmp_path, "r2plus1d_r34_8xb8-8x8x1-180e_kinetics400-rgb.pth", {"state_dict": _random_state(layout)})
    with pytest.raises(WeightsError) as error:
        load_pretrained(build("baselines/r2plus1d_34", num_classes=400), path)
    message = str(error.value)
    assert "under none of the sources" in message
    assert "It looks like MMAction2's ResNet2Plus1d, which no source maps: its stem has 83 middle channels" in message
    assert "use VMZ's release (source vmz)" in message
