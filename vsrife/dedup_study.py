"""Measurements behind ``RIFE(dedup=True)``: the threshold's two sides, and the gain on real footage.

    python -m vsrife.dedup_study thresholds [--clips ...]
    python -m vsrife.dedup_study proof [--clips ...] [--frames N]

Real clips are made "on twos" and "on threes" (every 2nd/3rd frame held; the frames between are the truth),
also re-encoded lossily with x264 from ``imageio-ffmpeg`` so that the repeats are no longer identical.

``thresholds`` prints the repeat score (:func:`vsrife.dedup.repeat_scores`) of the held frames of those
versions against that of real motion between distinct frames of the originals: the default threshold sits
between the two. ``proof`` runs each version through ``RIFE`` with ``dedup=True`` at the same rate and prints
the PSNR (8-bit luma) of the frames dedup replaces against the true frames of the original, next to the
repeats themselves (what the clip shows without dedup) and to the plain interpolation of the original's kept
frames (what dedup can reach at best).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vapoursynth as vs

from . import cli
from .dedup import DEFAULT_MAX_RUN, DEFAULT_THRESHOLD, find_run, repeat_scores
from .samples import sample_path

core = vs.core


@dataclass(frozen=True)
class Footage:
    """A stretch of a sample clip without scene cuts, at a size that keeps the study short."""

    sample: str
    first: int
    last: int  # exclusive
    width: int
    height: int

    def load(self) -> vs.VideoNode:
        clip = core.bs.VideoSource(str(sample_path(self.sample)))[self.first : self.last]
        return clip.resize.Bicubic(self.width, self.height, format=vs.YUV420P8)


FOOTAGE = {
    "bikes": Footage("bikes.mp4", 76, 136, 640, 272),  # live action between two cuts
    "bigbuckbunny": Footage("bigbuckbunny.mp4", 0, 132, 640, 360),  # CG animation
    "face": Footage("face_noface.mov", 0, 70, 480, 270),  # a face, slow motion
    "carphone": Footage("carphone_pristine.mp4", 0, 120, 176, 144),  # QCIF head-and-shoulders
    "trailer": Footage("trailer_bbb.mp4", 300, 420, 640, 360),  # CG animation with titles
}
ENCODINGS = {"lossless": None, "x264 crf 23": 23, "x264 crf 30": 30}


def held(clip: vs.VideoNode, every: int) -> vs.VideoNode:
    """``clip`` "on twos" (``every=2``) or "on threes": each kept frame shown ``every`` times."""
    kept = clip[::every]
    return core.std.Interleave([kept] * every)[: clip.num_frames]


def encoded(clip: vs.VideoNode, crf: int | None, folder: Path) -> vs.VideoNode:
    """``clip`` through x264 at ``crf`` (lossy: repeats are no longer identical) and back; ``None``: as is."""
    if crf is None:
        return clip
    import imageio_ffmpeg

    path = folder / f"encoded-{len(list(folder.iterdir()))}.mkv"
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), str(path),
    ]  # fmt: skip
    with subprocess.Popen(command, stdin=subprocess.PIPE) as encoder:
        assert encoder.stdin is not None
        clip.output(encoder.stdin, y4m=True)
        encoder.stdin.close()
    if encoder.returncode:
        raise SystemExit(f"ffmpeg failed (exit code {encoder.returncode})")
    return core.bs.VideoSource(str(path))


def scores(clip: vs.VideoNode) -> np.ndarray:
    """Repeat scores of frames 1 .. N-1 (each against its predecessor)."""
    stats = repeat_scores(clip)
    return np.array([stats.get_frame(n).props["PlaneStatsMax"] for n in range(1, clip.num_frames)])


def changed_frames(motion: np.ndarray, threshold: float) -> int:
    """How many frames of a clip (scores of frames 1..N-1 in ``motion``) dedup would replace: false positives
    on footage without repeats (runs longer than the default ``dedup_max`` are left alone)."""
    full = [math.inf, *motion]
    runs = [
        find_run(s, full.__getitem__, lambda i: False, threshold=threshold, max_run=DEFAULT_MAX_RUN, frames=len(full))
        for s in range(len(full))
    ]
    return sum(run is not None and s != run.start for s, run in enumerate(runs))


def luma_psnr(a: vs.VideoFrame, b: vs.VideoFrame) -> float:
    x, y = np.asarray(a[0], dtype=np.float64), np.asarray(b[0], dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return 10 * math.log10(255**2 / mse) if mse else 100.0


def thresholds(names: list[str]) -> None:
    print(f"repeat score: largest 8x8-block mean |difference| of 256-wide luma (0..1); default {DEFAULT_THRESHOLD}")
    header = f"{'clip':<14} {'version':<22} {'held frames: max':>17} {'99%':>7} |"
    print(header + f" {'real motion: min':>17} {'1%':>7} {'5%':>7}")
    with tempfile.TemporaryDirectory(prefix="vsrife-dedup-") as tmp:
        for name in names:
            clip = FOOTAGE[name].load()
            motion = scores(clip)
            for every in (2, 3):
                for encoding, crf in ENCODINGS.items():
                    version = encoded(held(clip, every), crf, Path(tmp))
                    all_scores = scores(version)
                    repeats = np.array([s for i, s in enumerate(all_scores, start=1) if i % every])
                    print(
                        f"{name:<14} {('twos' if every == 2 else 'threes') + ', ' + encoding:<22} "
                        f"{repeats.max():>17.4f} {np.percentile(repeats, 99):>7.4f} | {motion.min():>17.4f} "
                        f"{np.percentile(motion, 1):>7.4f} {np.percentile(motion, 5):>7.4f}"
                    )
            replaced = changed_frames(motion, DEFAULT_THRESHOLD)
            print(f"{name:<14} original: {replaced} of {clip.num_frames} frames would be replaced at the default")


def proof(names: list[str], frames: int) -> None:
    from .filter import RIFE

    print("PSNR (dB, 8-bit luma) of the frames between drawings against the original's true frames")
    print(f"{'clip':<14} {'version':<22} {'repeats (no dedup)':>19} {'dedup':>7} {'plain interpolation':>20}")
    with tempfile.TemporaryDirectory(prefix="vsrife-dedup-") as tmp:
        for name in names:
            clip = FOOTAGE[name].load()
            for every in (2, 3):
                # whole drawings only, and one more to interpolate towards: the last run is held, not compared
                length = min(clip.num_frames, frames) // every * every + 1
                truth = clip[:length]
                reference = RIFE(truth[::every], multi=every, sc=False)
                for encoding, crf in ENCODINGS.items():
                    version = encoded(held(truth, every), crf, Path(tmp))
                    out = RIFE(version, multi=1, dedup=True, sc=False)
                    between = [n for n in range(length - 1) if n % every]
                    rows = [
                        [luma_psnr(node.get_frame(n), truth.get_frame(n)) for n in between]
                        for node in (version, out, reference)
                    ]
                    repeats, deduped, plain = (float(np.mean(r)) for r in rows)
                    print(
                        f"{name:<14} {('twos' if every == 2 else 'threes') + ', ' + encoding:<22} "
                        f"{repeats:>19.2f} {deduped:>7.2f} {plain:>20.2f}",
                        flush=True,
                    )


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m vsrife.dedup_study", __doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, text in (
        ("thresholds", "repeat scores of held frames against those of real motion"),
        ("proof", "PSNR with and without dedup on held versions of real clips"),
    ):
        p = cli.subcommand(sub, command, text)
        p.add_argument("--clips", nargs="+", default=list(FOOTAGE), choices=list(FOOTAGE), help="sample footage")
        if command == "proof":
            p.add_argument("--frames", type=int, default=25, metavar="N", help="source frames per clip")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "thresholds":
        thresholds(args.clips)
    else:
        proof(args.clips, args.frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
