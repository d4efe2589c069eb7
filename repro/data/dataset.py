"""The loader: samples of a layout, decoded with decord and shaped by a protocol.

`VideoDataset[i]` is an `Item` (views (V, C, T, H, W), label, index) or a `Skipped` (path, reason)
for a file that cannot be read; `collate` drops the skipped ones from the batch and hands them on, so
the training loop records them in its SkipLog whatever worker process read them.
Frames are resized at decode (decord scales while decoding) to the protocol's shorter side, which
needs the video's size: it is read from the container header once per video and worker, and cached.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
import numpy as np
import torch

from .backends import DEFAULT_BACKEND
from .decode import (Header, UnreadableVideo, container_header, frame_folder_length, missing_frames, open_video,
                     read_frame_folder, read_frames)
from .protocols import Protocol
from .splits import Sample


@dataclass
class Item:
    views: torch.Tensor
    label: int
    index: int


@dataclass
class Skipped:
    path: str
    reason: str
    index: int


@dataclass
class Batch:
    views: torch.Tensor        # (B, V, C, T, H, W)
    labels: torch.Tensor       # (B,)
    indices: torch.Tensor      # (B,) dataset indices, to map scores back to videos
    skipped: list[Skipped]


def decode_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the shorter side scaled to `short_side`, as transforms.short_side_scale."""
    if height <= width:
        return short_side, int(width * short_side / height)
    return int(height * short_side / width), short_side


class VideoDataset(torch.utils.data.Dataset):
    """Videos (files, or frame folders when `frames=True`) of `samples`, read with `protocol`.

    `seed` and the epoch fix every random choice: item i of epoch e draws from a Generator seeded
    with (seed, e, i), so results do not depend on the number of workers or on their order.
    `decoder` names the backend that decodes video files (repro.data.backends).
    """

    def __init__(self, samples: list[Sample], protocol: Protocol, *, seed: int = 0, frames: bool = False,
                 frame_template: str = "{:05d}.jpg", resize_at_decode: bool = True,
                 decoder: str = DEFAULT_BACKEND):
        self.samples, self.protocol, self.seed, self.frames = list(samples), protocol, seed, frames
        self.decoder = decoder
        self.frame_template, self.resize_at_decode = frame_template, resize_at_decode
        # In shared memory, so persistent DataLoader workers see set_epoch too (they hold copies of self).
        self._epoch = torch.zeros(1, dtype=torch.long).share_memory_()
        self._headers: dict[int, Header] = {}  # per video, read once per worker
        self._native: set[int] = set()

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index, zlib.crc32(self.protocol.name.encode())])

    def decode(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Sample `index`'s frames as its protocol draws them with `rng`: (the frames at the unique indices drawn, in
        order, and for each drawn index its position among them). Raises UnreadableVideo."""
        sample = self.samples[index]
        path = sample.path
        if self.frames:  # a clip of a long video (MMAction2 with_offset) is frames offset+1 .. offset+total
            offset = sample.meta.get("offset")
            total = (sample.meta["total_frames"] if offset is not None
                     else frame_folder_length(path, self.frame_template))
            indices = self.protocol.sample(total, rng)
            unique, inverse = np.unique(indices, return_inverse=True)
            frames = read_frame_folder(path, unique + (offset or 0), template=self.frame_template)
            return frames, inverse.reshape(indices.shape)
        if index not in self._headers:
            self._headers[index] = container_header(path)
        header, height, width = self._headers[index], -1, -1
        if self.resize_at_decode and index not in self._native:
            height, width = decode_size(header.height, header.width, self.protocol.decode_short_side)
        reader = open_video(path, width=width, height=height, backend=self.decoder)
        damage = missing_frames(header.frames, len(reader))
        if damage:
            raise UnreadableVideo(path, damage)
        indices = self.protocol.sample(len(reader), rng)
        unique, inverse = np.unique(indices, return_inverse=True)
        try:
            frames = read_frames(path, unique, reader=reader, rewind=False)
        except UnreadableVideo:
            if width == -1:
                raise
            # decord's scaler fails at a few output sizes (16x12, 24x18, 48x36, 72x54 seen); such a video
            # is always decoded at its own size and scaled by the protocol instead.
            self._native.add(index)
            frames = read_frames(path, unique, backend=self.decoder)
        return frames, inverse.reshape(indices.shape)

    def __getitem__(self, index: int) -> Item | Skipped:
        sample = self.samples[index]
        if "missing_annotation" in sample.meta:
            return Skipped(str(sample.path), f"missing annotation: {sample.meta['missing_annotation']}", index)
        rng = self.rng(index)
        try:
            frames, indices = self.decode(index, rng)
        except UnreadableVideo as exc:
            return Skipped(exc.path, exc.reason, index)
        label = -1 if sample.label is None else sample.label
        return Item(self.protocol.views(frames[indices.ravel()], indices, rng), label, index)


def collate(batch: list[Item | Skipped]) -> Batch:
    """Stack the readable items; the skipped ones travel beside them to be recorded."""
    items = [b for b in batch if isinstance(b, Item)]
    skipped = [b for b in batch if isinstance(b, Skipped)]
    if not items:
        return Batch(torch.empty(0), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), skipped)
    shapes = {tuple(i.views.shape) for i in items}
    if len(shapes) > 1:
        raise ValueError(f"views of different shapes in one batch {sorted(shapes)}: protocols with a "
                         "video-dependent number of clips (dense) need batch_size=1")
    return Batch(torch.stack([i.views for i in items]), torch.tensor([i.label for i in items]),
                 torch.tensor([i.index for i in items]), skipped)


def ragged_collate(batch: list[Item | Skipped]) -> Batch:
    """As `collate`, but `views` is a list of (V_i, C, T, H, W): dense testing gives videos of different lengths
    different numbers of clips (MARS test_single_stream.py and GCF-Net's D-Clips score every clip)."""
    items = [b for b in batch if isinstance(b, Item)]
    return Batch([i.views for i in items], torch.tensor([i.label for i in items], dtype=torch.long),
                 torch.tensor([i.index for i in items], dtype=torch.long), [b for b in batch if isinstance(b, Skipped)])


class RaggedViews(torch.utils.data.Dataset):
    """A dataset whose batches keep each video's own number of views (`ragged_collate`)."""

    collate = staticmethod(ragged_collate)

    def __init__(self, base):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Item | Skipped:
        return self.base[index]

    def set_epoch(self, epoch: int) -> None:
        self.base.set_epoch(epoch)


def loader(dataset: VideoDataset, *, batch_size: int, workers: int = 0, shuffle: bool = False,
           seed: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader with `collate`, persistent workers (they keep their size cache) and a seeded order."""
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers, collate_fn=collate,
        persistent_workers=workers > 0, generator=generator, pin_memory=torch.cuda.is_available(),
        timeout=600 if workers else 0)  # a worker stuck on a file fails the run instead of hanging it
