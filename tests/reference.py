"""The conformance data the tests carry (``tests/data/conformance/``) and how outputs are checked against it.

The full fixtures hold every reference output whole (``1 x 3 x H x W`` uint16, 66 MB). The repository keeps a
compact summary of each, made by ``tools/compact_conformance.py`` with :func:`summarise`:

- ``samples``: the exact uint16 values at a fixed set of pixels (the whole outer ring, where padding and
  border handling go wrong, plus 2048 interior pixels drawn once with a fixed seed), all three channels;
- ``means`` and ``stds``: mean and standard deviation of every 8 x 8 block of the whole frame.

The tolerance of the full fixtures (max abs 5e-4, mean abs 2e-5 over all pixels) carries over: the sampled
pixels are pixels of the frame, and a block's mean (or standard deviation) of two images differs by no more
than the largest difference of their pixels, while the average difference of block means is at most the
average pixel difference. A wiring error, which moves outputs by 1e-2 or more, fails both.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parent / "data" / "conformance"
MAX_ABS, MAX_MEAN = 5e-4, 2e-5
BLOCK = 8
INTERIOR_SAMPLES = 2048
SAMPLE_SEED = 20260

# case -> (timestep, scale, ensemble), as the full fixtures define them
V4_CASES = {"A": (0.5, 1.0, False), "B": (0.3, 0.5, False), "C": (0.5, 1.0, True), "D": (0.7, 2.0, False)}
PAPER_CASES = {"A": (0.5, 1.0, False), "B": (0.5, 0.5, False), "C": (0.3, 1.0, False)}
V3_CASES = {"A": (0.5, 1.0), "B": (0.5, 0.5), "C": (0.3, 1.0)}


# --- synthetic weights -------------------------------------------------------------------------------------


def synthetic_tensor(name: str, shape: list[int]) -> torch.Tensor:
    """The fixtures' synthetic-weights rule: a normal draw seeded by the CRC-32 of the key, scaled by fan-in
    for weights, ``1 + 0.1 t`` for ResConv gains (``.beta``), ``0.1 t`` for other vectors."""
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    t = torch.randn(tuple(shape), generator=generator, dtype=torch.float32)
    if name.endswith(".beta"):
        return 1 + 0.1 * t
    if len(shape) >= 2:
        return t / math.sqrt(math.prod(shape[1:]))
    return 0.1 * t


def synthetic_state_dict(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {name: synthetic_tensor(name, shape) for name, shape in shapes.items()}


# --- the data ------------------------------------------------------------------------------------------------


@cache
def keys(group: str) -> dict[str, dict[str, list[int]]]:
    """Per model of ``group`` (``v3``, ``v4``, ``paper``), state-dict key -> shape of the official files."""
    return json.loads((DATA / "keys" / f"{group}.json").read_text())


@cache
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """The synthetic frame pair, ``1 x 3 x 256 x 256`` float32 in [0, 1] (content moved by +6 rows, -8 cols)."""
    data = np.load(DATA / "inputs.npz")
    return torch.from_numpy(data["img0"]), torch.from_numpy(data["img1"])


@cache
def real_frames() -> dict[str, np.ndarray]:
    """uint8 ``256 x 448 x 3`` crops of real triplets: ``bbb_0/1/2`` and ``bikes_0/1/2`` (``_1``: the middle)."""
    data = np.load(DATA / "real_frames.npz")
    return {k: data[k] for k in data.files}


@cache
def checksums() -> dict[tuple[str, str], str]:
    """SHA-256 of the official 3.x files as published with the fixtures: (model, file name) -> hash."""
    table = json.loads((DATA / "checksums.json").read_text())
    return {(row["model"], row["file"]): row["sha256"] for row in table}


@dataclass(frozen=True)
class Summary:
    """What the repository keeps of one reference output (see the module docstring)."""

    shape: tuple[int, ...]
    samples: np.ndarray  # 3 x P uint16 at positions(shape)
    means: np.ndarray  # 3 x H/8 x W/8 float32
    stds: np.ndarray  # 3 x H/8 x W/8 float32


@cache
def _expected_file(group: str) -> dict[str, np.ndarray]:
    data = np.load(DATA / "expected" / f"{group}.npz")
    return {k: data[k] for k in data.files}


def expected(group: str, name: str) -> dict[str, Summary]:
    """The reference summaries of model ``name`` in ``group``, by case (``A``, ``bbb_B`` ...)."""
    data = _expected_file(group)
    prefix = f"{name}/"
    cases = sorted({k[len(prefix) :].split("/")[0] for k in data if k.startswith(prefix)})
    return {
        case: Summary(
            tuple(int(v) for v in data[f"{prefix}{case}/shape"]),
            data[f"{prefix}{case}/samples"],
            data[f"{prefix}{case}/means"],
            data[f"{prefix}{case}/stds"],
        )
        for case in cases
    }


# --- summaries and the comparison ------------------------------------------------------------------------------


@cache
def positions(height: int, width: int) -> np.ndarray:
    """Flat indices of the sampled pixels of an ``height x width`` frame: the outer ring, then a fixed draw."""
    index = np.arange(height * width).reshape(height, width)
    ring = np.concatenate([index[0], index[-1], index[1:-1, 0], index[1:-1, -1]])
    interior = index[1:-1, 1:-1].ravel()
    draw = np.random.default_rng(SAMPLE_SEED).choice(interior.size, INTERIOR_SAMPLES, replace=False)
    return np.concatenate([ring, np.sort(interior[draw])])


def _block_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each 8 x 8 block of ``3 x H x W`` (float64 in, float32 out)."""
    c, h, w = image.shape
    blocks = image.reshape(c, h // BLOCK, BLOCK, w // BLOCK, BLOCK)
    return blocks.mean(axis=(2, 4)).astype(np.float32), blocks.std(axis=(2, 4)).astype(np.float32)


def summarise(full: np.ndarray) -> Summary:
    """The summary of a full reference output, ``1 x 3 x H x W`` uint16 (``round(clip(out) * 65535)``)."""
    image = full[0]
    c, h, w = image.shape
    if h % BLOCK or w % BLOCK:
        raise ValueError(f"{h} x {w} is not a multiple of {BLOCK}")
    means, stds = _block_stats(image.astype(np.float64) / 65535)
    samples = image.reshape(c, -1)[:, positions(h, w)]
    return Summary(tuple(full.shape), samples, means, stds)


def compare(out: torch.Tensor, ref: Summary) -> dict[str, float]:
    """How far ``out`` (``1 x 3 x H x W`` float in [0, 1], clamped here) is from ``ref``: the largest and mean
    differences at the sampled pixels and of the block means, and the largest of the block deviations."""
    if tuple(out.shape) != ref.shape:
        raise AssertionError(f"shape {tuple(out.shape)}, expected {ref.shape}")
    image = out.detach().clamp(0, 1)[0].double().numpy()
    c, h, w = image.shape
    pixels = np.abs(image.reshape(c, -1)[:, positions(h, w)] - ref.samples / 65535)
    means, stds = _block_stats(image)
    mean_diff = np.abs(means.astype(np.float64) - ref.means)
    return {
        "pixels max": float(pixels.max()),
        "pixels mean": float(pixels.mean()),
        "block means max": float(mean_diff.max()),
        "block means mean": float(mean_diff.mean()),
        "block stds max": float(np.abs(stds.astype(np.float64) - ref.stds).max()),
    }


def assert_close(out: torch.Tensor, ref: Summary) -> None:
    """``out`` matches the reference within the fixtures' tolerance (see the module docstring)."""
    d = compare(out, ref)
    bad = {k: v for k, v in d.items() if v > (MAX_MEAN if k.endswith("mean") else MAX_ABS)}
    assert not bad, ", ".join(f"{k} {v:.2e}" for k, v in d.items())
