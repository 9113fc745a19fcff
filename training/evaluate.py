"""The published benchmarks of ECCV2022-RIFE, computed the way its ``benchmark/*.py`` scripts do.

* ``vimeo90k``: ``tri_testlist.txt`` with ``target/<name>/im1..3.png`` (the ``vimeo_interp_test`` download)
  or ``sequences/<name>/...`` (a ``vimeo_triplet`` folder); no padding; PSNR and SSIM.
* ``ucf101``: ``<dir>/<d>/frame_00.png, frame_02.png, frame_01_gt.png``; PSNR and SSIM.
* ``middlebury``: the 12 "other" sequences, ``other-data/<name>/frame10.png, frame11.png`` and
  ``other-gt-interp/<name>/frame10i11.png``; inputs placed top-left in a zero 640x480 frame; IE.
* ``hd``: the 11 HD sequences as raw 8-bit YUV 4:2:0 files (``HD720p_GT/``, ``HD1080p_GT/``, ``HD544p_GT/``);
  frames 0, 2 ... 98 interpolate the frame between them; top and bottom replicate-padded by 24 (720p),
  4 (1080p) or 16 (544p); PSNR on Y only (skimage's ``rgb2yuv`` weights), per sequence, then averaged.

Every prediction is rounded to 8 bits before it is scored; SSIM is ``ssim_matlab``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from vsrife.inference import Interpolator
from vsrife.metrics import interpolation_error, psnr, quantize, ssim_matlab

from .data import DatasetError, read_image

MIDDLEBURY = [
    "Beanbags",
    "Dimetrodon",
    "DogDance",
    "Grove2",
    "Grove3",
    "Hydrangea",
    "MiniCooper",
    "RubberWhale",
    "Urban2",
    "Urban3",
    "Venus",
    "Walking",
]
HD_SEQUENCES = [
    ("HD720p_GT/parkrun_1280x720_50.yuv", 720, 1280),
    ("HD720p_GT/shields_1280x720_60.yuv", 720, 1280),
    ("HD720p_GT/stockholm_1280x720_60.yuv", 720, 1280),
    ("HD1080p_GT/BlueSky.yuv", 1080, 1920),
    ("HD1080p_GT/Kimono1_1920x1080_24.yuv", 1080, 1920),
    ("HD1080p_GT/ParkScene_1920x1080_24.yuv", 1080, 1920),
    ("HD1080p_GT/sunflower_1080p25.yuv", 1080, 1920),
    ("HD544p_GT/Sintel_Alley2_1280x544.yuv", 544, 1280),
    ("HD544p_GT/Sintel_Market5_1280x544.yuv", 544, 1280),
    ("HD544p_GT/Sintel_Temple1_1280x544.yuv", 544, 1280),
    ("HD544p_GT/Sintel_Temple2_1280x544.yuv", 544, 1280),
]
HD_PADDING = {720: 24, 1080: 4, 544: 16}


def tensor(image: np.ndarray) -> Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255  # a writable copy


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{path}: missing; expected {what}")
    return path


class Benchmark:
    """``model`` None scores the 50/50 blend of the two inputs: the baseline every method must beat."""

    def __init__(self, interpolator: Interpolator | None, root: Path, limit: int = 0) -> None:
        self.model = interpolator
        self.root = root
        self.limit = limit

    def predict(self, img0: Tensor, img1: Tensor) -> Tensor:
        """The middle frame. The paper networks need no padding on these sizes (as in the scripts); zoo
        models get the padding their version needs, and the result is cropped back."""
        if self.model is None:
            return (img0 + img1) / 2
        return self.model.interpolate(img0, img1, 0.5).float().cpu()

    def triplets(self) -> Iterator[tuple[str, Tensor, Tensor, Tensor]]:
        raise NotImplementedError

    def _limited(self) -> list:
        items = list(self.triplets())
        return items[: self.limit] if self.limit else items

    def run(self) -> dict[str, float]:
        psnrs, ssims = [], []
        for _, img0, img1, gt in tqdm(self._limited(), desc=type(self).__name__, leave=False):
            pred = self.predict(img0, img1)
            psnrs.append(psnr(pred, gt))
            ssims.append(ssim_matlab(gt, quantize(pred)))
        return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)), "count": len(psnrs)}


class Vimeo90K(Benchmark):
    def triplets(self):
        names = [
            n.strip()
            for n in _require(self.root / "tri_testlist.txt", "tri_testlist.txt").read_text().splitlines()
            if n.strip()
        ]
        if not names:
            raise DatasetError(f"{self.root / 'tri_testlist.txt'}: the list is empty")
        base = self.root / "target" if (self.root / "target").is_dir() else self.root / "sequences"
        _require(base, "target/ or sequences/ with <name>/im1.png ...")
        for name in names:
            frames = [tensor(read_image(base / name / f"im{i}.png")) for i in (1, 2, 3)]
            yield name, frames[0], frames[2], frames[1]


class UCF101(Benchmark):
    def triplets(self):
        folders = sorted(p for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
        if not folders:
            raise DatasetError(f"{self.root}: expected folders <d>/ with frame_00.png, frame_02.png, frame_01_gt.png")
        for folder in folders:
            img0, img1, gt = (
                tensor(read_image(folder / n)) for n in ("frame_00.png", "frame_02.png", "frame_01_gt.png")
            )
            yield folder.name, img0, img1, gt


class Middlebury(Benchmark):
    def triplets(self):
        for name in MIDDLEBURY:
            data = _require(self.root / "other-data" / name, "other-data/<name>/frame10.png, frame11.png")
            img0, img1 = tensor(read_image(data / "frame10.png")), tensor(read_image(data / "frame11.png"))
            gt = tensor(
                read_image(
                    _require(
                        self.root / "other-gt-interp" / name / "frame10i11.png", "other-gt-interp/<name>/frame10i11.png"
                    )
                )
            )
            yield name, img0, img1, gt

    def predict(self, img0: Tensor, img1: Tensor) -> Tensor:
        h, w = img0.shape[-2:]
        canvas0 = img0.new_zeros(1, 3, 480, 640)
        canvas1 = img1.new_zeros(1, 3, 480, 640)
        canvas0[..., :h, :w], canvas1[..., :h, :w] = img0, img1
        return super().predict(canvas0, canvas1)[..., :h, :w]

    def run(self) -> dict[str, float]:
        errors = [interpolation_error(self.predict(a, b), gt) for _, a, b, gt in self._limited()]
        return {"ie": float(np.mean(errors)), "count": len(errors)}


def read_yuv420(path: Path, height: int, width: int, index: int) -> np.ndarray:
    """Frame ``index`` of a raw 8-bit YUV 4:2:0 file as RGB uint8 (BT.601, as OpenCV's I420 conversion)."""
    frame_size = width * height * 3 // 2
    with open(path, "rb") as f:
        f.seek(frame_size * index)
        data = np.frombuffer(f.read(frame_size), dtype=np.uint8)
    if data.size < frame_size:
        raise DatasetError(f"{path}: has no frame {index} at {width}x{height}")
    y = data[: width * height].reshape(height, width).astype(np.float32)
    u = data[width * height : width * height * 5 // 4].reshape(height // 2, width // 2).astype(np.float32)
    v = data[width * height * 5 // 4 :].reshape(height // 2, width // 2).astype(np.float32)
    u = u.repeat(2, 0).repeat(2, 1) - 128
    v = v.repeat(2, 0).repeat(2, 1) - 128
    rgb = np.stack([y + 1.402 * v, y - 0.344136 * u - 0.714136 * v, y + 1.772 * u], -1)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def luma(image: Tensor) -> Tensor:
    """skimage.color.rgb2yuv's Y of a [0, 1] RGB tensor, in 0-255."""
    r, g, b = image[:, 0], image[:, 1], image[:, 2]
    return (0.299 * r + 0.587 * g + 0.114 * b) * 255


class HD(Benchmark):
    def run(self) -> dict[str, float]:
        per_sequence = []
        for name, height, width in tqdm(HD_SEQUENCES, desc="HD", leave=False):
            path = _require(self.root / name, f"the raw YUV file {name}")
            pad = HD_PADDING[height]
            scores = []
            for i in range(0, 2 * self.limit if self.limit else 100, 2):
                img0, gt, img1 = (tensor(read_yuv420(path, height, width, i + k)) for k in (0, 1, 2))
                padded = [F.pad(x, (0, 0, pad, pad), mode="replicate") for x in (img0, img1)]
                pred = quantize(self.predict(*padded)[..., pad : pad + height, :])
                mse = torch.mean((luma(pred) - luma(gt)) ** 2).item()
                scores.append(20 * np.log10(255 / np.sqrt(mse)))
            per_sequence.append(float(np.mean(scores)))
        return {"psnr": float(np.mean(per_sequence)), "count": len(per_sequence)}


BENCHMARKS: dict[str, Callable[..., Benchmark]] = {
    "vimeo90k": Vimeo90K,
    "ucf101": UCF101,
    "middlebury": Middlebury,
    "hd": HD,
}
