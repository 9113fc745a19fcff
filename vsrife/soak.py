"""Memory over a long run: many output frames through ``vspipe``, the process's resident memory sampled.

    python -m vsrife.soak [--frames 10000] [--size 540p] [--precision P] [--interval 2]

Runs a looped real clip (bigbuckbunny.mp4, resized) through ``RIFE(multi=2)`` in ``vspipe`` (output discarded),
and the same graph without RIFE (each source frame shown twice, the same number of output frames) for
comparison, and prints the resident memory (VmRSS of the vspipe process) at each tenth of the frames: where
it levels off, and how much of the growth is the filter's rather than VapourSynth's and the decoder's.
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
        """Resident MB when ``fraction`` of ``total`` frames were done (the first sample at or past it)."""
        wanted = fraction * total
        for _, done, rss in self.samples:
            if done >= wanted:
                return rss
        return self.samples[-1][2] if self.samples else None


def script(frames: int, width: int, height: int, rife: bool, precision: str | None) -> str:
    source = str(sample_path("bigbuckbunny.mp4"))
    options = f", precision={precision!r}" if precision else ""
    body = (
        f"clip.rife.RIFE(multi=2, sc=False{options})" if rife else "vs.core.std.Interleave([clip, clip])"
    )  # fmt: skip
    loops = frames // 2 // 132 + 1
    return (
        "import vapoursynth as vs\n"
        f"clip = vs.core.bs.VideoSource({source!r}).resize.Bicubic({width}, {height}) * {loops}\n"
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


def run(text: str, interval: float) -> Trace:
    """Run ``text`` in vspipe with progress, sampling its memory every ``interval`` seconds."""
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
            if rss is not None:
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
    parser.add_argument("--interval", type=float, default=2.0, metavar="SECONDS", help="time between samples")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    width, height = SIZES[args.size]
    traces = {}
    for name, rife in (("without RIFE", False), ("with RIFE", True)):
        print(f"running {args.frames} frames at {args.size} {name} ...", file=sys.stderr)
        traces[name] = run(script(args.frames, width, height, rife, args.precision), args.interval)
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
    if with_rife.samples and without.samples:
        print(f"the filter's share at the end: {with_rife.samples[-1][2] - without.samples[-1][2]:+.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
