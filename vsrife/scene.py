"""Scene-change detection from VapourSynth core filters only.

A small gray copy of the clip is compared with itself shifted by one frame (``std.PlaneStats``); the mean
absolute difference of frame ``n`` and ``n + 1`` (``PlaneStatsDiff``, 0..1) above a threshold marks a cut
after ``n``. This is what ``misc.SCDetect`` did, without the archived plugin. Frames that already carry
``_SceneChangeNext`` (from a dedicated detector upstream) are trusted instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import vapoursynth as vs
from vsutil import get_y

from . import cli
from .colorimetry import COLORIMETRY_PROPS

core = vs.core

# Chosen by measuring on real clips (`python -m vsrife.scene CLIP...` prints the scores): the hard cuts in
# bikes.mp4 score 0.196-0.329 and face_noface.mov's two (face -> black -> sky) 0.572 and 0.400, while the
# highest score without a cut is 0.082 (bikes.mp4's fastest motion; bigbuckbunny.mp4 and carphone stay below
# 0.03). 0.12 sits between the two groups with a margin of about 1.5x on both sides.
DEFAULT_THRESHOLD = 0.12
WIDTH = 256


def marked_cut(props: Mapping[str, Any], complain: Callable[[str], None] | None = None) -> bool | None:
    """Whether a frame's ``_SceneChangeNext`` marks a cut after it, read as VapourSynth's filters read an int
    prop: ``None`` (let the detector decide) when it is absent or not an integer (``complain`` hears why)."""
    value = props.get("_SceneChangeNext")
    if value is None:
        return None
    if not isinstance(value, int):
        if complain is not None:
            complain(f"ignoring _SceneChangeNext={value!r} (not an integer); detecting scene changes instead")
        return None
    return bool(value)


def small_gray(clip: vs.VideoNode, width: int) -> vs.VideoNode:
    """Luma (BT.709 from RGB) as float, at most ``width`` pixels wide: what frames are compared on."""
    # the frames' colorimetry props are not needed to compare frames, and invalid ones stop the resizers
    clip = clip.std.RemoveFrameProps(COLORIMETRY_PROPS)
    gray = clip.resize.Bilinear(format=vs.GRAYS, matrix_s="709") if clip.format.color_family == vs.RGB else get_y(clip)
    width = min(width, clip.width) // 2 * 2
    height = max(2, round(clip.height * width / clip.width / 2) * 2)
    return gray.resize.Bilinear(width, height, format=vs.GRAYS)


def scene_change_stats(clip: vs.VideoNode) -> vs.VideoNode:
    """A clip whose frame ``n`` carries ``PlaneStatsDiff`` between source frames ``n`` and ``n + 1``."""
    small = small_gray(clip, WIDTH)
    following = small[1:] + small[-1]
    return core.std.PlaneStats(small, following)


def mark_scene_changes(clip: vs.VideoNode, threshold: float = DEFAULT_THRESHOLD) -> vs.VideoNode:
    """``clip`` with ``_SceneChangeNext``/``_SceneChangePrev`` set from the detector (for use elsewhere)."""
    return mark_cuts(clip, scene_change_stats(clip), threshold)


def mark_cuts(clip: vs.VideoNode, stats: vs.VideoNode, threshold: float) -> vs.VideoNode:
    """``clip`` with ``_SceneChangeNext``/``_SceneChangePrev`` set where ``stats`` (frame ``n``:
    ``PlaneStatsDiff`` between frames ``n`` and ``n + 1``) exceeds ``threshold``."""
    previous = stats[0] + stats[:-1]  # frame n: the difference between n - 1 and n (frame 0: none)

    def mark(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[0].copy()
        out.props["_SceneChangeNext"] = int(f[1].props["PlaneStatsDiff"] > threshold)
        out.props["_SceneChangePrev"] = int(n > 0 and f[2].props["PlaneStatsDiff"] > threshold)
        return out

    return clip.std.ModifyFrame([clip, stats, previous], mark)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m vsrife.scene", "The highest scene-change scores of videos, to choose a threshold.")
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files (anything bestsource opens)")
    parser.add_argument("--top", type=int, default=8, metavar="N", help="highest scores to print per video")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Print the highest scene-change scores of video files, to choose a threshold."""
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = [path for path in args.videos if not Path(path).is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    for path in args.videos:
        try:
            stats = scene_change_stats(core.bs.VideoSource(path))
        except vs.Error as exc:
            parser.error(f"{path}: {str(exc).strip().splitlines()[0]}")
        scores = [stats.get_frame(n).props["PlaneStatsDiff"] for n in range(stats.num_frames - 1)]
        top = sorted(range(len(scores)), key=lambda n: -scores[n])[: args.top]
        print(path, " ".join(f"{n}->{n + 1}:{scores[n]:.3f}" for n in top))


if __name__ == "__main__":
    main()
