"""Pretrained weights by path, converted into our modules. Nothing is ever downloaded.

Users bring the checkpoints the papers' experiments need (the README's weights table): MFNet Kinetics,
MARS, 3D-ResNets and Efficient-3DCNNs, VMZ's Caffe2 .pkl files, MMAction2 recognisers, torchvision
and Cadene's ImageNet models. `load_pretrained` reads one, unwraps the container (`state_dict`,
`model`, ..., or a Caffe2 pickle of blobs), strips DataParallel prefixes, maps the source's key names
onto ours, checks every shape, and loads it. A mismatch fails with an error that names the file and
lists the missing, unexpected and wrongly shaped keys.

Each `Source` maps names one of four ways: as ours (MFNet, MARS, 3D-ResNets), by regex renames
(torchvision, MMAction2), by a key function for layouts that nest modules otherwise
(Efficient-3DCNNs MobileNetV2 / ShuffleNetV2, VMZ: repro.weights.layouts), or `by_order` for ports
whose parameter order and shapes are ours (Cadene's inceptionresnetv2 and bninception), where every
shape must match so that a wrong pairing cannot pass. Without a named source, `detect` takes the first
that fits exactly, pairing by order last; `repro weights check` shows the same.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from .layouts import efficient3d_mobilenetv2, efficient3d_shufflenetv2, known_misfit, vmz_names


@dataclass(frozen=True)
class Source:
    strip: tuple[str, ...] = ("module.",)
    renames: tuple[tuple[str, str], ...] = ()   # regex substitutions on checkpoint keys, in order
    by_order: bool = False
    description: str = ""
    drop: tuple[str, ...] = ()  # checkpoint key prefixes (after renaming) never loaded, e.g. an ImageNet classifier
    inflate: bool = False  # 2D kernels (O, I, kh, kw) become our 3D (O, I, t, kh, kw) ones (inflate_kernel)
    key_map: Callable[[str], str] | None = None  # one key at a time, for layouts that nest modules otherwise
    names_for: Callable[[dict], dict[str, str]] | None = None  # our state -> our key: their name (VMZ's blobs)


def _mmaction2(prefix: str, stages: tuple[tuple[int, int], ...], units: bool) -> tuple[tuple[str, str], ...]:
    """MMAction2's ResNet names onto ours under `prefix`: layerN -> our stage, the conv1 stem, each ConvModule
    (`convK.conv`, `convK.bn`; TSM's `conv1.conv.net`) as our conv-BN unit (`units`) or convK/bnK pair, the
    downsample pair and the head."""
    conv, bn = (r".conv\1.0.", r".conv\1.1.") if units else (r".conv\1.", r".bn\1.")
    return (*((rf"^{re.escape(prefix)}layer{n}\.", f"{prefix}stages.{stage}.") for n, stage in stages),
            (rf"^{re.escape(prefix)}conv1\.conv\.", f"{prefix}stem.0."),
            (rf"^{re.escape(prefix)}conv1\.bn\.", f"{prefix}stem.1."),
            (r"\.conv(\d)\.conv\.(net\.)?", conv), (r"\.conv(\d)\.bn\.", bn),
            (r"\.downsample\.conv\.", ".downsample.0."), (r"\.downsample\.bn\.", ".downsample.1."),
            # mmcv's NonLocal3d: ConvModules theta, g, phi (g and phi in a Sequential with the sub-sampling
            # max-pool) and conv_out with its norm (open-mmlab/mmcv mmcv/cnn/bricks/non_local.py)
            (r"\.non_local_block\.(theta|g|phi)\.(0\.)?conv\.", r".non_local.\1."),
            (r"\.non_local_block\.conv_out\.conv\.", ".non_local.out."),
            (r"\.non_local_block\.conv_out\.bn\.", ".non_local.bn."),
            (r"^cls_head\.fc_cls\.", f"{prefix}fc."))


SOURCES: dict[str, Source] = {
    "native": Source(description="a checkpoint written by repro (engine checkpoint.pt or a state_dict)"),
    "mfnet": Source(description="cypw/PyTorch-MFNet MFNet3D_Kinetics-400_72.8.pth (keys as our mfnet_3d)"),
    "mars": Source(description="craston/MARS RGB/Flow/MARS_*.pth ResNeXt-101 (keys as our resnext3d_101)"),
    "3d-resnets": Source(description="kenshohara 3D-ResNets-PyTorch / Efficient-3DCNNs checkpoints"),
    "efficient3d-mobilenetv2": Source(key_map=efficient3d_mobilenetv2, description=(
        "okankop/Efficient-3DCNNs MobileNetV2 checkpoints (kinetics_mobilenetv2_*x_RGB_16_best.pth): flat "
        "features.N.conv.K blocks onto our units")),
    "efficient3d-shufflenetv2": Source(key_map=efficient3d_shufflenetv2, description=(
        "okankop/Efficient-3DCNNs ShuffleNetV2 checkpoints (kinetics_shufflenetv2_*x_RGB_16_best.pth): flat "
        "banch1/banch2 blocks onto our branch units")),
    "vmz": Source(names_for=vmz_names, renames=((r"^last_out_L\d+_", "last_out_"),),  # any number of classes
                  drop=("model_iter", "lr", "optimizer_iteration"), description=(
        "facebookresearch/VMZ Caffe2 .pkl blobs (R(2+1)D and R3D, e.g. r2plus1d_34_clip32_ft_kinetics_from_ig65m"
        ".pkl), read with pickle, no Caffe2 needed")),
    # MMAction2 recognisers save {"state_dict": {backbone.*, cls_head.*}}; their ResNets name each conv-BN pair
    # a ConvModule (convK.conv, convK.bn), and TSM wraps conv1's conv in a TemporalShift (conv1.conv.net)
    # (open-mmlab/mmaction2 mmaction/models/backbones/resnet.py, resnet_tsm.py, resnet3d.py).
    "mmaction2-resnet2d": Source(renames=_mmaction2("backbone.", ((1, 0), (2, 1), (3, 2), (4, 3)), units=False),
        description="MMAction2 TSN / TSM ResNet-50 checkpoints (tsn_imagenet-pretrained-r50_*.pth, "
                    "tsm_imagenet-pretrained-r50_*.pth): backbone./cls_head. keys onto our segment nets"),
    "mmaction2-i3d": Source(strip=("module.", "backbone."),
                            renames=_mmaction2("", ((1, 0), (2, 2), (3, 3), (4, 4)), units=True),
        description="MMAction2 I3D ResNet-50 checkpoints, non-local ones included (i3d_imagenet-pretrained-r50_*.pth, "
                    "i3d_imagenet-pretrained-r50-nl-*.pth): backbone./cls_head. keys onto our i3d_resnet50"),
    # MMAction2's C3D (mmaction/models/backbones/c3d.py): ConvModules conv1a..conv5b (`.conv`, with bias), fc6,
    # fc7 and the I3DHead's fc_cls; ours keeps the convs in one Sequential (baselines/c3d.py, ReLU after each conv,
    # a pool after conv1a, conv2a, conv3b, conv4b) and fc6/fc7 as Linear-ReLU-Dropout.
    "mmaction2-c3d": Source(strip=("module.", "backbone."), renames=(
        *((rf"^conv{name}\.conv\.", f"features.{index}.") for name, index in
          (("1a", 0), ("2a", 3), ("3a", 6), ("3b", 8), ("4a", 11), ("4b", 13), ("5a", 16), ("5b", 18))),
        (r"^(fc[67])\.", r"\1.0."), (r"^cls_head\.fc_cls\.", "fc8.")),
        description="MMAction2 C3D checkpoints (c3d_sports1m-pretrained_*_ucf101-rgb_*.pth, and the backbone-only "
                    "c3d_sports1m_pretrain_*.pth) onto our c3d; build it with pool5=\"mmaction2\" for their outputs"),
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
    source: str = ""

    @property
    def fits(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def misses(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.mismatched)

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
        state = _caffe2_blobs(path)
        if state is None:
            raise WeightsError(f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__}: {exc}), nor "
                               f"as a Caffe2 .pkl of blobs") from None
    for key in _CONTAINERS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: expected a state_dict (names to tensors), or one under {_CONTAINERS}")
    return dict(state)


def _caffe2_blobs(path: Path) -> dict[str, torch.Tensor] | None:
    """A Caffe2 checkpoint (VMZ's .pkl): a pickled {"blobs": {name: numpy array}}, read as VMZ's own
    utilities/model_conversion/convert_models.py reads it (pickle, latin1); optimiser momenta are left out.
    None when the file is not one."""
    import pickle

    import numpy as np

    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle, encoding="latin1")
    except Exception:  # noqa: BLE001 - not a pickle of this kind
        return None
    blobs = data.get("blobs") if isinstance(data, dict) else None
    if not isinstance(blobs, dict):
        return None
    return {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in blobs.items()
            if isinstance(array, np.ndarray) and not name.endswith("_momentum")}


def convert(state: dict[str, torch.Tensor], source: Source) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        for prefix in source.strip:
            key = key.removeprefix(prefix)
        for pattern, replacement in source.renames:
            key = re.sub(pattern, replacement, key)
        if source.key_map is not None:
            key = source.key_map(key)
        out[key] = value
    return out


def fit(model: nn.Module, state: dict[str, torch.Tensor], source: str, *, path: str = "", into: str = "",
        skip: tuple[str, ...] = ()) -> tuple[LoadReport, dict[str, torch.Tensor]]:
    """How `state` (read from `path`) maps onto `model` (or its submodule `into`) under `source`, without
    loading: the report, and the tensors that would load by our key names."""
    if source not in SOURCES:
        raise WeightsError(f"unknown weights source {source!r}; known: auto, {', '.join(SOURCES)}")
    target = model.get_submodule(into) if into else model
    ours = target.state_dict()
    theirs = convert(state, SOURCES[source])
    if SOURCES[source].names_for is not None:
        ours_by_theirs = {their: our for our, their in SOURCES[source].names_for(ours).items()}
        theirs = {ours_by_theirs.get(k, k): v for k, v in theirs.items()}
    report = LoadReport(path)
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
    report.loaded = sorted(loadable)
    return report, loadable


# Detection tries the sources in this order: names before positions, so pairing by order (which fits any
# checkpoint of the same architecture) is the last resort.
DETECTION_ORDER = tuple(sorted(SOURCES, key=lambda name: SOURCES[name].by_order))


def detect(model: nn.Module, path: Path, *, into: str = "", skip: tuple[str, ...] = (),
           state: dict[str, torch.Tensor] | None = None) -> tuple[str, LoadReport]:
    """The first source under which the checkpoint at `path` (its tensors `state`, when already read) fits
    `model` exactly, and its report; WeightsError listing how each source misses when none fits."""
    state = read_state_dict(path) if state is None else state
    misses = []
    for name in DETECTION_ORDER:
        try:
            report, _ = fit(model, state, name, path=str(path), into=into, skip=skip)
        except WeightsError as exc:
            misses.append((10**9, name, str(exc).removeprefix(f"{path}: ")))
            continue
        if report.fits:
            return name, report
        misses.append((report.misses, name, report.problems()))
    grouped: dict[tuple[int, str], list[str]] = {}  # sources that miss alike are named together
    for count, name, problems in misses:
        grouped.setdefault((count, problems), []).append(name)
    known = known_misfit(state)  # a layout we know cannot load: why, first, and only the closest miss
    shown = "\n".join(f"  {', '.join(names)}: {problems}"
                      for (_, problems), names in sorted(grouped.items())[:1 if known else 3])
    lead = f".\n  It looks like {known}\n  The closest" if known else "; the closest"
    raise WeightsError(f"{path} fits {type(model).__name__} under none of the sources "
                       f"({', '.join(DETECTION_ORDER)}){lead}:\n{shown}{_only_module_hint(misses)}")


def _only_module_hint(misses: list[tuple[int, str, str]]) -> str:
    """When the closest source misses only in one top-level module (a classifier for other classes), say so."""
    count, _, problems = min(misses)
    names = set(re.findall(r"([A-Za-z_][\w]*)\.[\w.]*(?:weight|bias)", problems))
    if count <= 4 and len(names) == 1:
        module = names.pop()
        return f"\n  it differs only in {module}. (e.g. a classifier for other classes): pass skip {module}."
    return ""


def load_pretrained(model: nn.Module, path: Path, source: str = "auto", *, into: str = "",
                    skip: tuple[str, ...] = (), strict: bool = True) -> LoadReport:
    """Load `path` into `model` (or its submodule `into`, e.g. "backbone").

    `source` names the checkpoint's layout (SOURCES), or "auto" to find the one that fits (`detect`).
    `skip` lists key prefixes not to load (e.g. ("fc.",) to keep a new classifier for another number
    of classes). With `strict`, anything missing, unexpected or wrongly shaped (outside `skip`) raises
    WeightsError listing it; otherwise the report lists it.
    """
    state = read_state_dict(path)  # once: a checkpoint can be hundreds of megabytes
    if source == "auto":
        source, _ = detect(model, path, into=into, skip=skip, state=state)
    report, loadable = fit(model, state, source, path=str(path), into=into, skip=skip)
    report.source = source
    if strict and not report.fits:
        raise WeightsError(f"{path} ({SOURCES[source].description}) does not fit "
                           f"{type(model.get_submodule(into) if into else model).__name__}: {report.problems()}")
    (model.get_submodule(into) if into else model).load_state_dict(loadable, strict=False)
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
