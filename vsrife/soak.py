"""Memory over a long run: many output frames through ``vspipe``, the process's resident memory sampled.

    python -m vsrife.soak [--frames 10000] [--size 540p] [--precision P] [--max-cache-mb MB] [--interval 2]

Runs a looped real clip (bigbuckbunny.mp4, resized) through ``RIFE(multi=2)`` in ``vspipe`` (output discarded),
and the same shape of graph without RIFE (RGB float there and back, a blend of each pair where the network
was; the same number of output frames) for comparison, and prints the resident memory (VmRSS of the vspipe
process) at each tenth of the frames: where it levels off, and how much of it comes with the filter.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import vapoursynth

from . import cli
from .benchmark import SIZES
from .samples import sample_path


@dataclass
class Trace:
    """(seconds, output frames done, resident MB) samples of one run."""

    samples: list[tuple[float, int, float]] = field(default_factory=list)

    def at_fraction(self, fraction: float, total: int) -> float | None:
        """Resident MB when ``fraction`` of ``total`` frames were done: the first sample at or past it (once
        every frame is out, the process tears down: only the first sample after that counts)."""
        wanted = fraction * total
        for _, done, rss in self.samples:
            if done >= wanted:
                return rss
        return None


def script(
    frames: int, width: int, height: int, rife: bool, precision: str | None, max_cache_mb: int | None = None
) -> str:
    source = str(sample_path("bigbuckbunny.mp4"))
    options = f", precision={precision!r}" if precision else ""
    # without RIFE: the same shape of graph (RGB float there and back, two frames in, one between them
    # out) with a blend where the network was
    blend = (
        "vs.core.std.Interleave([clip, vs.core.std.Merge(rgb, rgb[1:] + rgb[-1]).resize.Bicubic("
        "format=clip.format.id, matrix_s='709')])"
    )
    body = f"clip.rife.RIFE(multi=2, sc=False{options})" if rife else blend
    loops = frames // 2 // 132 + 1
    return (
        "import vapoursynth as vs\n"
        + (f"vs.core.max_cache_size = {max_cache_mb}\n" if max_cache_mb else "")
        + f"clip = vs.core.bs.VideoSource({source!r}).resize.Bicubic({width}, {height}) * {loops}\n"
        "rgb = clip.resize.Bicubic(format=vs.RGBS, matrix_in_s='709')\n"
        f"out = {body}[:{frames}]\n"
        "out.set_output()\n"
    )


def resident_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(text: str, interval: float, frames: int) -> Trace:
    """Run ``text`` (``frames`` output frames) in vspipe with progress, sampling its memory every ``interval``
    seconds."""
    trace = Trace()
    done = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "soak.vpy"
        path.write_text(text)
        # the vspipe program itself: the venv's `vspipe` is a Python launcher that starts it as a child
        vspipe = Path(vapoursynth.__file__).with_name("vspipe")
        process = subprocess.Popen([str(vspipe), "-p", str(path), "--"], stderr=subprocess.PIPE, text=True)

        def read_progress() -> None:
            nonlocal done
            buffer = ""
            assert process.stderr is not None
            while chunk := process.stderr.read(64):
                buffer = (buffer + chunk)[-256:]
                found = re.findall(r"Frame: (\d+)/", buffer)
                if found:
                    done = int(found[-1])

        reader = threading.Thread(target=read_progress, daemon=True)
        reader.start()
        start = time.monotonic()
        while process.poll() is None:
            rss = resident_mb(process.pid)
            finished = bool(trace.samples) and trace.samples[-1][1] >= frames
            if rss and not finished:  # 0 or missing: the process is starting or gone
                trace.samples.append((time.monotonic() - start, done, rss))
            time.sleep(interval)
        reader.join(timeout=5)
        if process.returncode:
            raise SystemExit(f"vspipe failed (exit code {process.returncode})")
    return trace


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m vsrife.soak", __doc__)
    parser.add_argument("--frames", type=int, default=10000, metavar="N", help="output frames per run")
    parser.add_argument("--size", default="540p", choices=list(SIZES), help="frame size")
    parser.add_argument("--precision", help="the filter's precision= (default: its own choice)")
    parser.add_argument(
        "--max-cache-mb", type=int, metavar="MB",
        help="set VapourSynth's core.max_cache_size (default: VapourSynth's own), to tell its frame cache apart",
    )  # fmt: skip
    parser.add_argument("--interval", type=float, default=2.0, metavar="SECONDS", help="time between samples")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    width, height = SIZES[args.size]
    traces = {}
    for name, rife in (("without RIFE", False), ("with RIFE", True)):
        print(f"running {args.frames} frames at {args.size} {name} ...", file=sys.stderr)
        # without the network the same frames take seconds, not an hour: sample far more often
        interval = args.interval if rife else min(args.interval, 0.02)
        text = script(args.frames, width, height, rife, args.precision, args.max_cache_mb)
        traces[name] = run(text, interval, args.frames)
    fractions = [i / 10 for i in range(1, 11)]
    print("resident memory of the vspipe process (MB) after each tenth of the frames:")
    print(f"{'':>14} " + " ".join(f"{f:>6.0%}" for f in fractions))
    for name, trace in traces.items():
        cells = [trace.at_fraction(f, args.frames) for f in fractions]
        print(f"{name:>14} " + " ".join(f"{c:>6.0f}" if c is not None else "     -" for c in cells))
    with_rife, without = traces["with RIFE"], traces["without RIFE"]
    for name, trace in traces.items():
        half, end = trace.at_fraction(0.5, args.frames), trace.at_fraction(1.0, args.frames)
        if half is not None and end is not None:
            print(f"{name}: {end - half:+.0f} MB over the second half of the run")
    end_with, end_without = with_rife.at_fraction(1.0, args.frames), without.at_fraction(1.0, args.frames)
    if end_with is not None and end_without is not None:
        print(f"the filter's share at the end: {end_with - end_without:+.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
