"""Vimeo90K-layout datasets: triplets (RIFE) and septuplets (RIFEm), with the paper's augmentation.

Layout, as distributed and as ``python -m training make-dataset`` writes it::

    <root>/tri_trainlist.txt  tri_testlist.txt   sequences/<xxxxx>/<xxxx>/im1.png im2.png im3.png
    <root>/sep_trainlist.txt  sep_testlist.txt   sequences/<xxxxx>/<xxxx>/im1.png ... im7.png

The first 95% of the train list trains and the last 5% validates (the original code's split); the test list
is for benchmarks (or, with ``validation = "test"``, for validation, e.g. a held-out clip).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset


class DatasetError(ValueError):
    """A dataset directory that is missing, laid out wrongly, empty, or holds unreadable images."""


@dataclass(frozen=True)
class Layout:
    list_prefix: str  # "tri" or "sep"
    frames: int  # 3 or 7


TRIPLET = Layout("tri", 3)
SEPTUPLET = Layout("sep", 7)


def read_list(root: Path, layout: Layout, which: str) -> list[str]:
    path = root / f"{layout.list_prefix}_{which}list.txt"
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset directory")
    if not path.is_file():
        raise DatasetError(f"{path}: missing; expected a Vimeo90K {layout.list_prefix}_{which}list.txt in {root}")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise DatasetError(f"{path}: the list is empty")
    return names


def read_image(path: Path) -> np.ndarray:
    """An 8-bit RGB image as ``H x W x 3`` uint8."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read the image ({exc})") from None


def split_names(root: Path, layout: Layout, split: str) -> list[str]:
    """``train``: first 95% of the train list; ``validation``: the last 5%; ``test``: the test list."""
    if split == "test":
        return read_list(root, layout, "test")
    names = read_list(root, layout, "train")
    cut = int(len(names) * 0.95)
    chosen = names[:cut] if split == "train" else names[cut:]
    if not chosen:
        raise DatasetError(f"{root}: the train list has too few entries ({len(names)}) for a {split} split")
    return chosen


class VimeoDataset(Dataset):
    """Samples ``(img0, gt, img1, timestep)``: uint8 ``3 x H x W`` tensors and a float timestep.

    Training samples are cropped to ``crop`` (the same window in all frames) and augmented with probability
    0.5 each: channel-order reversal, vertical flip, horizontal flip, temporal swap (timestep -> 1 - t),
    and rotation by 90/180/270 degrees with probability 0.25 each. Septuplet training samples pick three
    frames ``n0 < n1 < n2`` of the seven at random with timestep ``(n1 - n0) / (n2 - n0)``; evaluation uses
    frames 1, 4, 7 (t = 0.5). Randomness comes from Python's ``random`` module, whose state a checkpoint keeps.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        layout: Layout = TRIPLET,
        crop: int | None = 224,
        augment: bool | None = None,
    ) -> None:
        self.root = Path(root)
        self.layout = layout
        self.names = split_names(self.root, layout, split)
        self.crop = crop
        self.augment = (split == "train") if augment is None else augment
        sequences = self.root / "sequences"
        if not sequences.is_dir():
            raise DatasetError(f"{sequences}: missing; expected sequences/<xxxxx>/<xxxx>/im1.png ... in {self.root}")
        first = sequences / self.names[0]
        missing = [f"im{i}.png" for i in range(1, layout.frames + 1) if not (first / f"im{i}.png").is_file()]
        if missing:
            raise DatasetError(f"{first}: missing {', '.join(missing)} (a {layout.frames}-frame sequence)")

    def __len__(self) -> int:
        return len(self.names)

    def _frames(self, index: int) -> tuple[list[np.ndarray], float]:
        folder = self.root / "sequences" / self.names[index]
        if self.layout.frames == 3:
            picks = [1, 2, 3]
        elif self.augment:
            picks = sorted(random.sample(range(1, 8), 3))
        else:
            picks = [1, 4, 7]
        frames = [read_image(folder / f"im{i}.png") for i in picks]
        shapes = {f.shape for f in frames}
        if len(shapes) != 1:
            raise DatasetError(f"{folder}: frames differ in size {sorted(shapes)}")
        return frames, (picks[1] - picks[0]) / (picks[2] - picks[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        (img0, gt, img1), t = self._frames(index)
        if self.crop:
            h, w = img0.shape[:2]
            if h < self.crop or w < self.crop:
                raise DatasetError(f"{self.names[index]}: frames are {w}x{h}, smaller than the {self.crop} crop")
            y, x = random.randint(0, h - self.crop), random.randint(0, w - self.crop)
            img0, gt, img1 = (f[y : y + self.crop, x : x + self.crop] for f in (img0, gt, img1))
        if self.augment:
            img0, gt, img1, t = augment(img0, gt, img1, t)
        return _chw(img0), _chw(gt), _chw(img1), t


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)  # a copy: flips and crops are views


def augment(img0: np.ndarray, gt: np.ndarray, img1: np.ndarray, t: float):
    """The paper's augmentation of one sample (``H x W x 3`` arrays, same operations on all three)."""
    frames = [img0, gt, img1]
    if random.random() < 0.5:
        frames = [f[:, :, ::-1] for f in frames]
    if random.random() < 0.5:
        frames = [f[::-1] for f in frames]
    if random.random() < 0.5:
        frames = [f[:, ::-1] for f in frames]
    if random.random() < 0.5:
        frames = [frames[2], frames[1], frames[0]]
        t = 1 - t
    p = random.random()
    if p < 0.75:  # 90 clockwise, 180, 90 counter-clockwise with probability 0.25 each
        k = 3 if p < 0.25 else 2 if p < 0.5 else 1
        frames = [np.rot90(f, k) for f in frames]
    return frames[0], frames[1], frames[2], t


def collate(batch: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]]):
    img0, gt, img1, t = zip(*batch, strict=True)
    return torch.stack(img0), torch.stack(gt), torch.stack(img1), torch.tensor(t, dtype=torch.float32)
