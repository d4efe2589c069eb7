"""The dataset layouts a user can point the suite at, by name, with their default folders.

`--root DIR` is the folder a dataset was unpacked into; each layout knows where its videos and
annotations usually sit under it (override with --videos / --annotations). For the MMAction2 lists,
--annotations is the list file itself.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .kinetics import kinetics, mini_kinetics200
from .lists import mmaction_rawframes, mmaction_videos, sthv1
from .splits import Sample, hmdb51_split, ucf101_audio51, ucf101_split

Reader = Callable[[Path, Path, int, str], list[Sample]]


@dataclass(frozen=True)
class Layout:
    name: str
    read: Reader              # (videos, annotations, split, subset) -> samples
    videos: str               # default video folder under --root
    annotations: str          # default annotations folder (or list file) under --root
    splits: tuple[int, ...]
    subsets: tuple[str, ...]
    frames: bool = False      # samples are folders of JPEG frames ...
    frame_template: str = "{:05d}.jpg"  # ... named like this, 1-based
    optional_subsets: tuple[str, ...] = ()  # lists a download may lack (e.g. Kinetics' test.csv)
    description: str = ""

    def paths(self, root: Path, videos: Path | None = None, annotations: Path | None = None) -> tuple[Path, Path]:
        return (Path(videos) if videos else Path(root) / self.videos,
                Path(annotations) if annotations else Path(root) / self.annotations)

    def samples(self, root: Path, split: int, subset: str, *, videos: Path | None = None,
                annotations: Path | None = None) -> list[Sample]:
        if split not in self.splits:
            raise ValueError(f"{self.name} has splits {', '.join(map(str, self.splits))}, not {split}")
        if subset not in self.subsets:
            raise ValueError(f"{self.name} has subsets {', '.join(self.subsets)}, not {subset!r}")
        return self.read(*self.paths(root, videos, annotations), split, subset)


_UCF = {"videos": "UCF-101", "annotations": "ucfTrainTestlist", "splits": (1, 2, 3), "subsets": ("train", "test")}
_KINETICS = {"videos": "videos", "annotations": "annotations", "splits": (1,), "subsets": ("train", "val", "test"),
             "optional_subsets": ("test",)}

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("ucf101", lambda v, a, k, s: ucf101_split(v, a, k, s), **_UCF,
           description="UCF101: UCF-101/<Class>/*.avi, ucfTrainTestlist/{classInd,trainlist0k,testlist0k}.txt"),
    Layout("ucf101_audio51", lambda v, a, k, s: ucf101_audio51(v, a, k, s), **_UCF,
           description="MAiVAR's 51 UCF101 classes with sound, same files as ucf101"),
    Layout("hmdb51", lambda v, a, k, s: hmdb51_split(v, a, k, s), videos="hmdb51",
           annotations="testTrainMulti_7030_splits", splits=(1, 2, 3), subsets=("train", "test"),
           description="HMDB51: hmdb51/<class>/*.avi, testTrainMulti_7030_splits/<class>_test_split<k>.txt"),
    Layout("kinetics400", lambda v, a, k, s: kinetics(v, a, s), **_KINETICS,
           description="Kinetics-400: videos/**/<ytid>_<start>_<end>.mp4, annotations/{train,validate,test}.csv"),
    Layout("kinetics600", lambda v, a, k, s: kinetics(v, a, s), **_KINETICS,
           description="Kinetics-600: as Kinetics-400, with the 600-class CSVs"),
    Layout("mini_kinetics200", lambda v, a, k, s: mini_kinetics200(v, a, a, s), videos="videos",
           annotations="annotations", splits=(1,), subsets=("train", "val"),
           description="Mini-Kinetics-200: {train,val}_ytid_list.txt beside the Kinetics-400 CSVs"),
    Layout("sthv1", lambda v, a, k, s: sthv1(v, a, s), videos="20bn-something-something-v1",
           annotations="annotations", splits=(1,), subsets=("train", "val", "test"), frames=True,
           optional_subsets=("test",), description="Something-Something v1: <id>/00001.jpg frames, ';'-separated CSVs"),
    Layout("mmaction_videos", lambda v, a, k, s: mmaction_videos(v, a), videos=".", annotations="list.txt",
           splits=(1,), subsets=("all",), description="an MMAction2 video list: '<path> <label>' lines"),
    Layout("mmaction_rawframes", lambda v, a, k, s: mmaction_rawframes(v, a), videos=".", annotations="list.txt",
           splits=(1,), subsets=("all",), frames=True, frame_template="img_{:05d}.jpg",
           description="an MMAction2 rawframe list: '<folder> <total frames> <label>' lines; img_00001.jpg frames"),
    Layout("mmaction_rawframes_offset", lambda v, a, k, s: mmaction_rawframes(v, a, with_offset=True), videos=".",
           annotations="list.txt", splits=(1,), subsets=("all",), frames=True, frame_template="img_{:05d}.jpg",
           description="an MMAction2 rawframe list with offsets (with_offset=True): '<folder> <offset> <total "
                       "frames> <label>' lines, clips of long videos"),
)}


def get_layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]
