"""Build a Vimeo90K-layout dataset from your own videos, so anyone can fine-tune on their footage.

    python -m training make-dataset VIDEO... --out DIR [--holdout VIDEO] [--septuplet] [--size 448x256]

Videos are decoded frame-exactly (``vapoursynth-bestsource``) and converted to 8-bit RGB. Each run of 3 (or
7) consecutive frames, taken every ``--stride`` frames, becomes one sample unless it spans a scene change
(the plugin's detector) or is still (no frame differs from the next by more than ``--still``). Samples
are cropped to a fixed size at ``--crops`` random (seeded) positions and written as
``sequences/<video>/<sample>/im1.png ...``. Videos named by ``--holdout`` go to the test list, the others
to the train list (their samples never overlap and are cropped once). The whole dataset is built in
``<out>.partial`` and renamed at the end.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vapoursynth as vs
from PIL import Image

from vsrife.colorimetry import default_matrix
from vsrife.scene import DEFAULT_THRESHOLD, scene_change_stats

core = vs.core


@dataclass
class Summary:
    train: int = 0
    test: int = 0
    cuts: int = 0
    still: int = 0


def rgb24(path: Path) -> vs.VideoNode:
    clip = core.bs.VideoSource(str(path))
    if clip.format.color_family == vs.RGB:
        return clip.resize.Point(format=vs.RGB24)
    return clip.resize.Bicubic(format=vs.RGB24, matrix_in=default_matrix(clip.width, clip.height))


def frame_array(clip: vs.VideoNode, n: int) -> np.ndarray:
    frame = clip.get_frame(n)
    return np.dstack([np.asarray(frame[p]) for p in range(3)])


def make_dataset(
    videos: Sequence[str | Path],
    out: str | Path,
    holdout: Sequence[str | Path] = (),
    septuplet: bool = False,
    size: tuple[int, int] = (448, 256),
    stride: int | None = None,
    still: float = 0.002,
    cut_threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    crops: int = 1,
    frames: int = 0,
) -> Summary:
    """Write the dataset (see the module docstring); ``crops`` random windows per sample from large frames."""
    out = Path(out)
    length = 7 if septuplet else 3
    stride = stride or length
    prefix = "sep" if septuplet else "tri"
    held = {Path(v).resolve() for v in holdout}
    rng = random.Random(seed)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    summary = Summary()
    lists: dict[str, list[str]] = {"train": [], "test": []}
    try:
        given = {Path(v).resolve() for v in videos}
        for video_index, video in enumerate([*videos, *(h for h in holdout if Path(h).resolve() not in given)], 1):
            path = Path(video)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such video")
            clip = rgb24(path)
            if frames:
                clip = clip[:frames]
            width, height = size
            if clip.width < width or clip.height < height:
                raise ValueError(f"{path}: {clip.width}x{clip.height} is smaller than the {width}x{height} crop")
            diffs = scene_change_stats(core.bs.VideoSource(str(path)))
            split = "test" if path.resolve() in held else "train"
            # held-out samples are for scoring: distinct frames, one crop each
            step, positions_per_sample = (length, 1) if split == "test" else (stride, crops)
            sample = 0
            for start in range(0, clip.num_frames - length + 1, step):
                scores = [diffs.get_frame(n).props["PlaneStatsDiff"] for n in range(start, start + length - 1)]
                if max(scores) > cut_threshold:
                    summary.cuts += 1
                    continue
                if max(scores) < still:
                    summary.still += 1
                    continue
                window = [frame_array(clip, start + i) for i in range(length)]
                positions = {
                    (rng.randint(0, clip.width - width), rng.randint(0, clip.height - height))
                    for _ in range(positions_per_sample)
                }
                for x, y in sorted(positions):
                    sample += 1
                    name = f"{video_index:05d}/{sample:04d}"
                    folder = partial / "sequences" / name
                    folder.mkdir(parents=True)
                    for i, frame in enumerate(window):
                        crop = frame[y : y + height, x : x + width]
                        Image.fromarray(np.ascontiguousarray(crop)).save(folder / f"im{i + 1}.png")
                    lists[split].append(name)
                    setattr(summary, split, getattr(summary, split) + 1)
        for split, names in lists.items():
            (partial / f"{prefix}_{split}list.txt").write_text("".join(f"{n}\n" for n in names))
        if out.exists():
            shutil.rmtree(out)
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return summary
