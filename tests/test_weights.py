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
        load_pretrained(build("baselines/small3d", num_classes=8), path)
    report = load_pretrained(build("baselines/small3d", num_classes=8), path, strict=False)
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
