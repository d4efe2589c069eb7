"""`repro weights check`: every source on a checkpoint in its own layout, detection without --source, and a
checkpoint that fits none."""
from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import torch
from test_weights import (_random_state, efficient3d_mobilenetv2_layout, efficient3d_shufflenetv2_layout,
                          mmaction2_c3d, mmaction2_resnet50, vmz_blobs)

from repro.cli import main
from repro.models import build


def _zeros(name: str, **args) -> dict[str, torch.Tensor]:
    """A model's state_dict without running its initialisation (built on meta, zeroed storage)."""
    with torch.device("meta"):
        model = build(name, **args)
    return {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in model.state_dict().items()}


def _torchvision_resnet50() -> dict[str, torch.Tensor]:
    """torchvision's resnet50 key names and 2D shapes (conv1/bn1, layerN.i.convK/bnK, downsample, fc)."""
    state = {"conv1.weight": torch.zeros(64, 3, 7, 7), **_bn2d("bn1", 64)}
    inp = 64
    for stage, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
        for i in range(blocks):
            key = f"layer{stage}.{i}"
            state |= {f"{key}.conv1.weight": torch.zeros(width, inp, 1, 1), **_bn2d(f"{key}.bn1", width),
                      f"{key}.conv2.weight": torch.zeros(width, width, 3, 3), **_bn2d(f"{key}.bn2", width),
                      f"{key}.conv3.weight": torch.zeros(width * 4, width, 1, 1), **_bn2d(f"{key}.bn3", width * 4)}
            if i == 0:
                state |= {f"{key}.downsample.0.weight": torch.zeros(width * 4, inp, 1, 1),
                          **_bn2d(f"{key}.downsample.1", width * 4)}
            inp = width * 4
    return state | {"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}


def _bn2d(key: str, n: int) -> dict[str, torch.Tensor]:
    return {f"{key}.{p}": torch.zeros(n) for p in ("weight", "bias", "running_mean", "running_var")} | \
        {f"{key}.num_batches_tracked": torch.tensor(0)}


class CAFFE2(dict):
    """Blobs to write as a Caffe2 pickle rather than a torch checkpoint."""


CASES = {  # source: (model, builder args, the checkpoint as that source's code saves it, check options)
    "native": ("baselines/small3d", {"num_classes": 8},
               lambda: {"model": _zeros("baselines/small3d", num_classes=8), "epoch": 3}, []),
    "mfnet": ("baselines/mfnet_3d", {"num_classes": 400},
              lambda: {"state_dict": {f"module.{k}": v for k, v in _zeros("baselines/mfnet_3d").items()}}, []),
    "mars": ("baselines/resnext3d_101", {"num_classes": 400},
             lambda: {"state_dict": {f"module.{k}": v for k, v in _zeros("baselines/resnext3d_101").items()}}, []),
    "3d-resnets": ("baselines/resnet3d_101", {"num_classes": 400},
                   lambda: {"state_dict": {f"module.{k}": v for k, v in _zeros("baselines/resnet3d_101").items()}}, []),
    "efficient3d-mobilenetv2": ("baselines/mobilenetv2_3d", {"num_classes": 600},
                                lambda: {"state_dict": _random_state(efficient3d_mobilenetv2_layout())}, []),
    "efficient3d-shufflenetv2": ("baselines/shufflenetv2_3d", {"num_classes": 600, "width_mult": 2.0},
                                 lambda: {"state_dict": _random_state(efficient3d_shufflenetv2_layout())}, []),
    "torchvision-resnet-2d": ("kpsem/r3d_50_2d_kernels", {"num_classes": 51}, _torchvision_resnet50,
                              ["--skip", "fc."]),
    "mmaction2-resnet2d": ("baselines/tsm_resnet50", {"num_classes": 400},
                           lambda: {"state_dict": _random_state(mmaction2_resnet50("tsm"))}, []),
    "mmaction2-i3d": ("baselines/i3d_resnet50", {"num_classes": 400},
                      lambda: {"state_dict": _random_state(mmaction2_resnet50("i3d"))}, []),
    "mmaction2-c3d": ("baselines/c3d", {"num_classes": 101, "pool5": "mmaction2"},
                      lambda: {"state_dict": _random_state(mmaction2_c3d())}, []),
    "vmz": ("baselines/r2plus1d_34", {"num_classes": 400},
            lambda: CAFFE2({k: np.zeros(shape, np.float32) for k, shape in vmz_blobs(34).items()}), []),
    "cadene": ("baselines/small3d", {"num_classes": 8},
               lambda: {f"block{i}.param": v for i, v in enumerate(
                   v for k, v in _zeros("baselines/small3d", num_classes=8).items()
                   if not k.endswith("num_batches_tracked"))}, []),
}


@pytest.mark.parametrize("source", sorted(CASES))
def test_each_source_fits_its_own_layout(source, tmp_path, capsys):
    model, args, state, options = CASES[source]
    path, content = tmp_path / "ckpt.pth", state()
    if isinstance(content, CAFFE2):  # a Caffe2 .pkl, as VMZ released them
        with open(path, "wb") as handle:
            pickle.dump({"blobs": dict(content)}, handle, protocol=2)
    else:
        torch.save(content, path)
    argv = ["weights", "check", str(path), "--model", model, *[f"--arg={k}={v}" for k, v in args.items()], *options]
    assert main([*argv, "--source", source]) == 0
    out = capsys.readouterr().out
    assert f"fits {model} under source '{source}'" in out and re.search(r"\d+ tensors map", out)
    assert main(argv) == 0  # without --source: detected (a name-for-name source first, when several fit)
    detected = re.search(r"under source '([^']+)'", capsys.readouterr().out)[1]
    assert detected == source or (source in ("mfnet", "mars", "3d-resnets", "cadene") and detected == "native")


def test_a_checkpoint_that_fits_no_source_lists_how_each_misses(tmp_path, capsys):
    state = _random_state(efficient3d_mobilenetv2_layout())
    state["features.3.conv.4.weight"] = torch.zeros(7)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    assert main(["weights", "check", str(path), "--model", "baselines/mobilenetv2_3d", "--arg", "num_classes=600"]) == 1
    out = " ".join(capsys.readouterr().out.split())  # wrapped to the terminal's width
    assert "fits MobileNet3D under none of the sources" in out
    assert "efficient3d-mobilenetv2: 1 with other shapes: features.3.conv.1.1.weight (7,) vs ours (144,)" in out
    assert main(["weights", "check", str(path), "--model", "baselines/mobilenetv2_3d", "--arg", "num_classes=600",
                 "--source", "native", "--show", "2"]) == 1
    out = capsys.readouterr().out
    assert "does NOT fit" in out and "missing from the checkpoint:" in out and "... and" in out
    assert main(["weights", "check", str(tmp_path / "none.pth"), "--model", "baselines/small3d"]) == 2
    assert main(["weights", "check", str(path), "--model", "baselines/nosuch"]) == 2
    assert "no such checkpoint file" in capsys.readouterr().err
