"""Throughput of the bare network and of the whole filter through ``vspipe``, on real footage.

    python -m vsrife.benchmark [--model 3.9] [--sizes 540p,720p,1080p] [--frames 5] [--repeat 3]

For each size, frames of bigbuckbunny.mp4 (resized) are interpolated 2x:

* *network*: ``Interpolator.interpolate`` on frames already on the device (padded, encoded): the cost of
  the model alone, seconds per interpolated frame (median over repetitions);
* *vspipe*: ``vspipe -c y4m`` of a script calling ``core.rife.RIFE`` (decode, resize, conversions, copies,
  scheduling, y4m output), timed by vspipe itself, so script start-up and model loading are excluded;
  seconds per interpolated frame, and output frames per second;
* *glue*: how much slower the vspipe path is than the network alone, per interpolated frame.

Both are measured alternately, ``--repeat`` times, and the medians reported: shared machines are noisy.
This is a benchmark, not a test; the numbers in the README name this command.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

from .inference import Interpolator
from .samples import sample_path

SIZES = {"540p": (960, 540), "720p": (1280, 720), "1080p": (1920, 1080)}
core = vs.core


def source_clip(width: int, height: int, frames: int) -> vs.VideoNode:
    clip = core.bs.VideoSource(str(sample_path("bigbuckbunny.mp4")))[30 : 30 + frames]
    return clip.resize.Bicubic(width, height)


def prepared_frames(interpolator: Interpolator, clip: vs.VideoNode) -> list:
    rgb = clip.resize.Bicubic(format=vs.RGBS, matrix_in_s="709")
    frames = []
    for n in range(rgb.num_frames):
        f = rgb.get_frame(n)
        tensor = torch.from_numpy(np.stack([np.asarray(f[p]) for p in range(3)]))[None]
        frames.append(interpolator.prepare(tensor))
    interpolator.interpolate(frames[0], frames[1], 0.5)  # warm-up
    return frames


def network_seconds(interpolator: Interpolator, frames: list) -> float:
    """Seconds per interpolated frame, one pass over the frame pairs."""
    start = time.perf_counter()
    for a, b in itertools.pairwise(frames):
        interpolator.interpolate(a, b, 0.5)
    return (time.perf_counter() - start) / (len(frames) - 1)


def vspipe_seconds(model: str, width: int, height: int, frames: int, streams: int) -> tuple[float, int]:
    """vspipe's own output time for one run, and the number of output frames."""
    script = (  # one frame pair before the timed ones warms the model up, outside vspipe's timing
        "import vapoursynth as vs\n"
        f"clip = vs.core.bs.VideoSource({str(sample_path('bigbuckbunny.mp4'))!r})[29:{30 + frames}]\n"
        f"clip = clip.resize.Bicubic({width}, {height})\n"
        f"out = clip.rife.RIFE(multi=2, model={model!r}, sc=False, num_streams={streams})\n"
        "out.get_frame(1)\n"
        "out[2:].set_output()\n"
    )
    vspipe = Path(sys.executable).with_name("vspipe")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.vpy"
        path.write_text(script)
        result = subprocess.run(
            [str(vspipe), "-c", "y4m", str(path), "-"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
    match = re.search(r"Output (\d+) frames in ([\d.]+) seconds", result.stderr)
    if not match:
        raise RuntimeError(f"unexpected vspipe output: {result.stderr}")
    return float(match.group(2)), int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vsrife.benchmark", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="3.9")
    parser.add_argument("--sizes", default="540p,720p,1080p")
    parser.add_argument("--frames", type=int, default=5, help="source frames per run (frames-1 interpolated)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--streams", type=int, default=1, help="num_streams for the vspipe runs")
    args = parser.parse_args(argv)

    interpolator = Interpolator.from_pretrained(args.model)
    print(
        f"model {args.model} on {interpolator.device}, {torch.get_num_threads()} torch threads, "
        f"{os.cpu_count()} cores; 2x, {args.frames} source frames, median of {args.repeat}"
    )
    print(
        f"{'size':>6} {'network s/frame':>16} {'network fps':>12} {'vspipe s/frame':>15} {'vspipe out fps':>15} "
        f"{'glue':>6}"
    )
    for name in args.sizes.split(","):
        width, height = SIZES[name]
        frames = prepared_frames(interpolator, source_clip(width, height, args.frames))
        nets, pipes = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            nets.append(network_seconds(interpolator, frames))
            pipe_time, outputs = vspipe_seconds(args.model, width, height, args.frames, args.streams)
            pipes.append(pipe_time)
        net, pipe = statistics.median(nets), statistics.median(pipes)
        per_frame = pipe / (args.frames - 1)  # each source pair yields one interpolated frame
        print(
            f"{name:>6} {net:>16.3f} {1 / net:>12.2f} {per_frame:>15.3f} {outputs / pipe:>15.2f} "
            f"{per_frame / net - 1:>6.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
