"""Held drawings ("on twos", "on threes"): repeated frames replaced by motion.

Animation holds each drawing for several frames. With ``RIFE(dedup=True)`` a source frame that repeats its
predecessor is treated as part of the drawing before it: each drawing sits at the time of the first frame of
its run, and every output frame whose time ``τ`` (in source frames) falls between drawing A (first frame
``a``) and the next drawing B (``b``) is the network's frame between A and B at ``(τ - a) / (b - a)``.

A frame repeats its predecessor when the largest block mean of their absolute difference (8x8 blocks of a
256-pixel-wide gray copy, 0..1) is at most the threshold; block means find a small change (a mouth, a hand)
that a whole-frame mean would miss, while averaging away most of a lossy encoder's noise. Frames of a run
longer than ``max_run`` (a real pause), of the last drawing of the clip, and of a run that ends at a scene
change are left to the plain path, so are clips without repeats: their output is the same as without dedup.

Everything is decided per frame from a window of small per-source-frame "marks" (the repeat score and the
scene cut after each frame), so random access, request order and stream count give identical frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import vapoursynth as vs

from .nodes import shifted
from .scene import small_gray

core = vs.core

# Chosen by measuring (`python -m vsrife.dedup_study thresholds` prints both sides; docs/animation.md has the
# table): see DEFAULT_THRESHOLD's note there. Repeats re-encoded with x264 at CRF 23 score up to ~0.015 on
# 256-wide copies of 640-1280-pixel clips; real motion between distinct frames mostly scores above ~0.03.
DEFAULT_THRESHOLD = 0.02
DEFAULT_MAX_RUN = 4
WIDTH = 256
BLOCK = 8

SCORE = "RifeRepeatScore"  # on source frame s: how much s differs from s - 1 (frame 0: +inf)
CUT = "RifeCutAfter"  # on source frame s: 1 where a scene change follows s (sc on)


def repeat_scores(clip: vs.VideoNode) -> vs.VideoNode:
    """A small clip whose frame ``s`` carries ``PlaneStatsMax``: the largest 8x8-block mean of
    ``|luma(s) - luma(s - 1)|`` on a gray copy ``WIDTH`` wide (frame 0 compares with itself)."""
    small = small_gray(clip, WIDTH)
    previous = small[0] + small[:-1]
    difference = core.std.Expr([small, previous], "x y - abs")
    blocks = difference.resize.Bilinear(max(1, small.width // BLOCK), max(1, small.height // BLOCK))
    return blocks.std.PlaneStats()


@dataclass(frozen=True)
class Run:
    """The drawing that source frame ``s`` belongs to: first frame ``start``, next drawing at ``end``."""

    start: int
    end: int


def find_run(s: int, scores: Callable[[int], float], cut_after: Callable[[int], bool], *, threshold: float,
             max_run: int, frames: int) -> Run | None:  # fmt: skip
    """The run of held frames around source frame ``s``, or ``None`` where the plain path applies: no repeat
    around ``s``, a run longer than ``max_run``, the clip's last drawing, or a scene change in or after the run.

    ``scores(i)`` is frame ``i``'s repeat score (frame 0: ``inf``), ``cut_after(i)`` whether a cut follows
    ``i``; only frames ``s - max_run + 1`` .. ``s + max_run`` are asked."""
    start = s
    while scores(start) <= threshold:  # s repeats its predecessor: the drawing began earlier
        start -= 1
        if s - start >= max_run:
            return None
    end = s + 1
    while end < frames and scores(end) <= threshold:
        end += 1
        if end - start > max_run:
            return None
    if end >= frames or end - start == 1:  # the clip's last drawing, or nothing held
        return None
    if any(cut_after(i) for i in range(start, end)):
        return None
    return Run(start, end)


def window(max_run: int) -> range:
    """Offsets from ``s`` of the source frames :func:`find_run` may look at."""
    return range(-max_run + 1, max_run + 1)


def marks(clip: vs.VideoNode, cut_after: Callable[[int, list[vs.VideoFrame]], bool] | None,
          cut_sources: Sequence[vs.VideoNode] = ()) -> vs.VideoNode:  # fmt: skip
    """A small clip whose frame ``s`` carries :data:`SCORE` (frame 0: ``inf``: it always starts a drawing) and
    :data:`CUT`, from ``cut_after(s, frames of cut_sources at s)`` (no cuts without it)."""
    scores = repeat_scores(clip)

    def mark(n: int, f: vs.VideoFrame | list[vs.VideoFrame]) -> vs.VideoFrame:
        frames = f if isinstance(f, list) else [f]
        out = frames[0].copy()
        out.props[SCORE] = math.inf if n == 0 else frames[0].props["PlaneStatsMax"]
        out.props[CUT] = int(cut_after is not None and cut_after(n, frames[1:]))
        return out

    return scores.std.ModifyFrame([scores, *cut_sources], mark)


def runs(marks: vs.VideoNode, *, threshold: float, max_run: int) -> vs.VideoNode:
    """``marks`` (frame ``s``: :data:`SCORE` and :data:`CUT`) with ``RifeRunStart``/``RifeRunEnd`` set to the run
    around each frame (-1 where the plain path applies)."""
    offsets = list(window(max_run))
    neighbours = [shifted(marks, o) for o in offsets]
    frames = marks.num_frames

    def mark(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        def at(i: int) -> vs.VideoFrame:
            return f[i - n - offsets[0]]

        run = find_run(
            n, lambda i: at(i).props[SCORE], lambda i: bool(at(i).props[CUT]),
            threshold=threshold, max_run=max_run, frames=frames,
        )  # fmt: skip
        out = f[-offsets[0]].copy()
        out.props["RifeRunStart"] = -1 if run is None else run.start
        out.props["RifeRunEnd"] = -1 if run is None else run.end
        return out

    return marks.std.ModifyFrame(neighbours, mark)


@dataclass(frozen=True)
class Plan:
    """What output frame ``n`` is: source frame ``left`` alone (``right is None``), or the network's frame at
    ``timestep`` between source frames ``left`` and ``right``."""

    left: int
    right: int | None
    timestep: Fraction


def plan(time: Fraction, run: Run | None) -> Plan | None:
    """The plan for an output frame at ``time`` (in source frames) inside ``run``; ``None`` for the plain path."""
    if run is None:
        return None
    if time == run.start:
        return Plan(run.start, None, Fraction(0))
    return Plan(run.start, run.end, (time - run.start) / (run.end - run.start))


def run_of(props: vs.FrameProps) -> Run | None:
    start, end = props["RifeRunStart"], props["RifeRunEnd"]
    return None if start < 0 else Run(int(start), int(end))


def describe(plan: Plan) -> dict[str, Sequence[int] | float]:
    """Frame props saying what made an output frame (for inspecting the timeline): ``RifeDrawings``, the two
    source frames it lies between (the same one twice for a source frame shown as it is), and ``RifeTimestep``
    (0 for a source frame shown as it is)."""
    right = plan.left if plan.right is None else plan.right
    return {"RifeDrawings": [plan.left, right], "RifeTimestep": 0.0 if plan.right is None else float(plan.timestep)}
