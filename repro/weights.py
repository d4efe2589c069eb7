"""Pretrained weights by path, converted into our modules. Nothing is ever downloaded.

Users bring the official checkpoints (MFNet Kinetics, MARS, 3D-ResNets, VMZ, ImageNet IRV2 and
BN-Inception); `load_pretrained` reads one, unwraps the container (`state_dict`, `model`, ...),
strips DataParallel prefixes, renames keys by the source's rules, and loads it. A mismatch fails with
an error that names the file and lists the missing, unexpected and wrongly shaped keys.

Sources whose key names mirror ours (MFNet: cypw/PyTorch-MFNet network/mfnet_3d.py; MARS and
3D-ResNets: conv1/bn1/layer1.../fc) load by name. Ports whose module names differ from ours but
whose parameter order and shapes are the same (Cadene's inceptionresnetv2 and bninception) load
`by_order`: the i-th tensor of the checkpoint goes to our i-th tensor, and every shape must match,
so a wrong pairing cannot pass silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .errors import WeightsError


@dataclass(frozen=True)
class Source:
    strip: tuple[str, ...] = ("module.",)
    renames: tuple[tuple[str, str], ...] = ()   # regex substitutions on checkpoint keys, in order
    by_order: bool = False
    description: str = ""
    drop: tuple[str, ...] = ()  # checkpoint key prefixes (after renaming) never loaded, e.g. an ImageNet classifier
    inflate: bool = False  # 2D kernels (O, I, kh, kw) become our 3D (O, I, t, kh, kw) ones (inflate_kernel)


SOURCES: dict[str, Source] = {
    "native": Source(description="a checkpoint written by repro (engine checkpoint.pt or a state_dict)"),
    "mfnet": Source(description="cypw/PyTorch-MFNet MFNet3D_Kinetics-400_72.8.pth (keys as our mfnet_3d)"),
    "mars": Source(description="craston/MARS RGB/Flow/MARS_*.pth ResNeXt-101 (keys as our resnext3d_101)"),
    "3d-resnets": Source(description="kenshohara 3D-ResNets-PyTorch / Efficient-3DCNNs checkpoints"),
    "cadene": Source(by_order=True, description="Cadene pretrainedmodels inceptionresnetv2 / bninception"),
    # torchvision resnet50 keys (conv1/bn1, layerN.i.conv1..3/bn1..3/downsample) onto our 1xkxk ResNet-50
    # (stem, resN+1.i.reduce/middle/expand/shortcut); the 1000-class fc is dropped.
    "torchvision-resnet-2d": Source(
        renames=((r"^layer1\.", "res2."), (r"^layer2\.", "res3."), (r"^layer3\.", "res4."), (r"^layer4\.", "res5."),
                 (r"^conv1\.", "stem.0."), (r"^bn1\.", "stem.1."), (r"\.conv1\.", ".reduce.0."),
                 (r"\.bn1\.", ".reduce.1."), (r"\.conv2\.", ".middle.0."), (r"\.bn2\.", ".middle.1."),
                 (r"\.conv3\.", ".expand.0."), (r"\.bn3\.", ".expand.1."), (r"\.downsample\.", ".shortcut.")),
        drop=("fc.",), inflate=True,
        description="torchvision ImageNet ResNet-50 (resnet50-*.pth), 2D kernels inflated to our 3D ones"),
}

_CONTAINERS = ("state_dict", "model", "model_state", "net", "weights")


@dataclass
class LoadReport:
    path: str
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)

    def problems(self) -> str:
        parts = []
        for name, keys in (("missing from the checkpoint", self.missing), ("unexpected", self.unexpected)):
            if keys:
                parts.append(f"{len(keys)} {name}: {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}")
        if self.mismatched:
            shown = ", ".join(f"{k} {tuple(a)} vs ours {tuple(b)}" for k, a, b in self.mismatched[:5])
            parts.append(f"{len(self.mismatched)} with other shapes: {shown}")
        return "; ".join(parts)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, out of whatever container it was saved in."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the same answer for the user
        raise WeightsError(f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__}: {exc})") from None
    for key in _CONTAINERS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: expected a state_dict (names to tensors), or one under {_CONTAINERS}")
    return dict(state)


def convert(state: dict[str, torch.Tensor], source: Source) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        for prefix in source.strip:
            key = key.removeprefix(prefix)
        for pattern, replacement in source.renames:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


def load_pretrained(model: nn.Module, path: Path, source: str = "native", *, into: str = "",
                    skip: tuple[str, ...] = (), strict: bool = True) -> LoadReport:
    """Load `path` into `model` (or its submodule `into`, e.g. "backbone").

    `skip` lists key prefixes not to load (e.g. ("fc.",) to keep a new classifier for another number
    of classes). With `strict`, anything missing, unexpected or wrongly shaped (outside `skip`) raises
    WeightsError listing it; otherwise the report lists it.
    """
    if source not in SOURCES:
        raise WeightsError(f"unknown weights source {source!r}; known: {', '.join(SOURCES)}")
    target = model.get_submodule(into) if into else model
    ours = target.state_dict()
    theirs = convert(read_state_dict(path), SOURCES[source])
    report = LoadReport(str(path))
    if SOURCES[source].drop:
        report.skipped += [k for k in theirs if k.startswith(SOURCES[source].drop)]
        theirs = {k: v for k, v in theirs.items() if not k.startswith(SOURCES[source].drop)}
    if SOURCES[source].inflate:
        theirs = {k: inflate_kernel(v, ours[k].shape) if k in ours else v for k, v in theirs.items()}
    wanted = {k: v for k, v in ours.items() if not k.startswith(skip)}
    if SOURCES[source].by_order:
        theirs = _pair_by_order(theirs, ours, skip, report)
    loadable = {}
    for key, value in theirs.items():
        if key.startswith(skip):
            report.skipped.append(key)
        elif key not in ours:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(ours[key].shape):
            report.mismatched.append((key, tuple(value.shape), tuple(ours[key].shape)))
        else:
            loadable[key] = value
    report.missing = [k for k in wanted if k not in theirs and not k.endswith("num_batches_tracked")]
    if strict and (report.missing or report.unexpected or report.mismatched):
        raise WeightsError(f"{path} ({SOURCES[source].description}) does not fit {type(target).__name__}: "
                           f"{report.problems()}")
    target.load_state_dict(loadable, strict=False)
    report.loaded = sorted(loadable)
    return report


def inflate_kernel(weight: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A 2D kernel (O, I, kh, kw) as a 3D one of `shape` (O, I, t, kh, kw): repeated over t and divided by t,
    so that a clip of identical frames gives the 2D network's response (I3D's inflation, Carreira and Zisserman
    2017, Sec. 2.3); for t = 1 (KPSEM's 1xkxk R3D, Sec. 4.4) it is the kernel itself. Anything else is returned
    unchanged, for the shape check to report."""
    if weight.ndim != 4 or len(shape) != 5 or tuple(weight.shape) != (shape[0], shape[1], shape[3], shape[4]):
        return weight
    return weight.unsqueeze(2).repeat(1, 1, shape[2], 1, 1) / shape[2]


def _pair_by_order(theirs: dict, ours: dict, skip: tuple[str, ...], report: LoadReport) -> dict:
    """Their i-th tensor becomes our i-th (batch-norm step counters aside); shapes must agree throughout,
    except for our keys in `skip` (a classifier for another number of classes), which are not loaded."""
    their_items = [(k, v) for k, v in theirs.items() if not k.endswith("num_batches_tracked")]
    our_keys = [k for k in ours if not k.endswith("num_batches_tracked")]
    if len(their_items) != len(our_keys):
        raise WeightsError(f"{report.path}: {len(their_items)} tensors, our model has {len(our_keys)}; "
                           "pairing by order needs the same architecture")
    paired = {}
    for (their_key, value), our_key in zip(their_items, our_keys, strict=True):
        if our_key.startswith(skip):
            report.skipped.append(their_key)
            continue
        if tuple(value.shape) != tuple(ours[our_key].shape):
            raise WeightsError(f"{report.path}: tensor {their_key} {tuple(value.shape)} would go to our {our_key} "
                               f"{tuple(ours[our_key].shape)}; the architectures differ there")
        paired[our_key] = value
    return paired
