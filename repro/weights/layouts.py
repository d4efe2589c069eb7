"""Checkpoint layouts whose names differ from ours structurally, as functions over key names.

Each function is read from the authors' public code (the file is named in its comment), never copied;
repro.weights.SOURCES uses them.
"""
from __future__ import annotations

import re

# Efficient-3DCNNs (okankop/Efficient-3DCNNs models/mobilenetv2.py, shufflenetv2.py) keeps each block in one
# flat nn.Sequential (conv, bn, relu, conv, ...); ours nests conv-BN(-ReLU) units. Position in their
# Sequential -> our unit: MobileNetV2's first block (expand ratio 1: dw, bn, relu, pw-linear, bn) and the
# others (pw, bn, relu, dw, bn, relu, pw-linear, bn); ShuffleNetV2's `banch1` (dw, bn, pw, bn, relu) and
# `banch2` (pw, bn, relu, dw, bn, pw, bn, relu), spelled so in their code.
_MBV2_FIRST = {0: "0.0", 1: "0.1", 3: "1", 4: "2"}
_MBV2_EXPAND = {0: "0.0", 1: "0.1", 3: "1.0", 4: "1.1", 6: "2", 7: "3"}
_SHUFFLE = {"banch1": {0: "0.0", 1: "0.1", 2: "1.0", 3: "1.1"},
            "banch2": {0: "0.0", 1: "0.1", 3: "1.0", 4: "1.1", 5: "2.0", 6: "2.1"}}


def efficient3d_mobilenetv2(key: str) -> str:
    match = re.fullmatch(r"features\.(\d+)\.conv\.(\d+)\.(.+)", key)
    if match is None:
        return key
    table = _MBV2_FIRST if match[1] == "1" else _MBV2_EXPAND
    return f"features.{match[1]}.conv.{table.get(int(match[2]), 'unmapped' + match[2])}.{match[3]}"


def efficient3d_shufflenetv2(key: str) -> str:
    match = re.fullmatch(r"features\.(\d+)\.(banch[12])\.(\d+)\.(.+)", key)
    if match is None:
        return key
    unit = _SHUFFLE[match[2]].get(int(match[3]), "unmapped" + match[3])
    return f"features.{match[1]}.branch{match[2][-1]}.{unit}.{match[4]}"



# VMZ's Caffe2 blobs (facebookresearch/VMZ c2/lib/models/r3d_model.py and builder/video_model.py; the
# blob-to-tensor pairing as its own utilities/model_conversion/convert_models.py does it): a stem
# `conv1_middle` + `conv1_middle_spatbn_relu` + `conv1` + `conv1_spatbn_relu` ((2+1)D) or `conv1` +
# `conv1_spatbn_relu` (3D); block k (counted over all stages) `comp_k_conv_j[_middle]` and
# `comp_k_spatbn_j[_middle]`, `shortcut_projection_k[_spatbn]`; the classifier `last_out_L<classes>`.
# A conv's weight is `<name>_w`; a batch norm's scale, bias, running mean and variance `_s`, `_b`, `_rm`, `_riv`.
_VMZ_BN = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
_BOTTLENECK = {"reduce.0": "comp_{k}_conv_1", "reduce.1": "comp_{k}_spatbn_1",
               "expand.0": "comp_{k}_conv_3", "expand.1": "comp_{k}_spatbn_3"}
_MIDDLE_2PLUS1D = {"middle.0": "comp_{k}_conv_2_middle", "middle.1": "comp_{k}_spatbn_2_middle",
                   "middle.3": "comp_{k}_conv_2", "middle.4": "comp_{k}_spatbn_2"}
_MIDDLE_3D = {"middle.0": "comp_{k}_conv_2", "middle.1": "comp_{k}_spatbn_2"}
_BASIC = {f"conv{j}.{i}": f"comp_{{k}}_{part}_{j}{middle}" for j in (1, 2)
          for i, part, middle in ((0, "conv", "_middle"), (1, "spatbn", "_middle"), (3, "conv", ""), (4, "spatbn", ""))}
_SHORTCUT = {"shortcut.0": "shortcut_projection_{k}", "shortcut.1": "shortcut_projection_{k}_spatbn"}
_BLOCK = re.compile(r"^(res\d\.\d+|stages\.\d+\.\d+)\.(.+)$")


def vmz_names(ours: dict) -> dict[str, str]:
    """Our key -> VMZ blob name, for our VMZ ResNets (baselines/vmz_resnet.py: R(2+1)D-50, R3D-50, R(2+1)D-34)."""
    keys = list(ours)
    two_plus_one = "stem.3.weight" in ours
    stem = ({"stem.0": "conv1_middle", "stem.1": "conv1_middle_spatbn_relu", "stem.3": "conv1",
             "stem.4": "conv1_spatbn_relu"} if two_plus_one else {"stem.0": "conv1", "stem.1": "conv1_spatbn_relu"})
    blocks = list(dict.fromkeys(m[1] for m in map(_BLOCK.match, keys) if m))
    names = {}
    for key in keys:
        module, _, parameter = key.rpartition(".")
        if parameter == "num_batches_tracked":
            continue
        match = _BLOCK.match(module)
        if module == "fc":
            names[key] = f"last_out_{parameter[0]}"  # last_out_L<classes>_w and _b, renamed by the source
            continue
        if match:
            block, part = match[1], match[2]
            middle = _MIDDLE_2PLUS1D if f"{block}.middle.3.weight" in ours else _MIDDLE_3D
            table = {**_BOTTLENECK, **middle, **_BASIC, **_SHORTCUT}
            base = table.get(part, "").format(k=blocks.index(block))
        else:
            base = stem.get(module, "")
        if base:
            is_bn = "spatbn" in base
            names[key] = f"{base}_{_VMZ_BN[parameter] if is_bn else 'w'}"
    return names


# Layouts recognised only to say why no source loads them: a key that marks the layout, and the reason.
# MMAction2's ResNet2Plus1d (open-mmlab/mmaction2 mmaction/models/common/conv2plus1d.py, backbones/resnet3d.py,
# configs/_base_/models/r2plus1d_r34.py) builds every conv, the shortcuts too, as a Conv2plus1d (conv_s, bn_s,
# conv_t) whose middle width is floor(3*k*k*in*out / (k*k*in + 3*out)): 83 in the 3x7x7 stem, where VMZ fixes 45,
# and a max-pool follows the stem. It is another network than VMZ's R(2+1)D-34.
_MISFITS = (
    (re.compile(r"(^|\.)conv1\.conv\.conv_s\.weight$"),
     "MMAction2's ResNet2Plus1d, which no source maps: its stem has 83 middle channels where VMZ's has 45 and is "
     "followed by a max-pool, and its shortcuts are (2+1)D pairs, not one 1x1x1 conv (mmaction/models/common/"
     "conv2plus1d.py, backbones/resnet3d.py). It is another network than VMZ's R(2+1)D that r2plus1d_34 builds; "
     "use VMZ's release (source vmz) for that."),
)


def known_misfit(state: dict) -> str | None:
    """Why a checkpoint of a known layout that no source maps cannot load, or None."""
    for marker, reason in _MISFITS:
        if any(marker.search(key) for key in state):
            return reason
    return None
