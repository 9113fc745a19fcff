"""dedup: held drawings replaced by motion, source frames untouched, the plain path where nothing is held."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import vsrife
from vsrife.dedup import Run, find_run
from vsrife.dedup_study import encoded, held, luma_psnr
from vsrife.samples import sample_path

from .conftest import ROOT

core = vs.core
VSPIPE = Path(sys.executable).with_name("vspipe")

pytestmark = pytest.mark.usefixtures("official_weights")


# --- the rule, on scores alone ---------------------------------------------------------------------------------


def runs_of(pattern: str, *, cuts: set[int] = frozenset(), max_run: int = 4) -> list[Run | None]:
    """``pattern``: one letter per source frame, a new letter a new drawing (``"AABBBC"``)."""
    scores = [math.inf] + [0.0 if pattern[i] == pattern[i - 1] else 1.0 for i in range(1, len(pattern))]
    return [
        find_run(s, scores.__getitem__, cuts.__contains__, threshold=0.02, max_run=max_run, frames=len(pattern))
        for s in range(len(pattern))
    ]


def test_runs_on_twos_and_threes():
    assert runs_of("AABBCC") == [Run(0, 2), Run(0, 2), Run(2, 4), Run(2, 4), None, None]  # the last drawing: plain
    assert runs_of("AAABBBC")[:6] == [Run(0, 3)] * 3 + [Run(3, 6)] * 3
    assert runs_of("ABCD") == [None] * 4  # nothing held: the plain path everywhere


def test_long_pauses_and_cuts_are_left_alone():
    assert runs_of("AAAAAABB")[:6] == [None] * 6  # 6 > max_run: a real pause
    assert runs_of("AAAAAABB", max_run=6)[:6] == [Run(0, 6)] * 6
    assert runs_of("AABBCC", cuts={1}) == [None, None, Run(2, 4), Run(2, 4), None, None]  # a cut ends the run


# --- the filter on real footage ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def footage() -> vs.VideoNode:
    """13 frames of animation, small (bigbuckbunny.mp4 frames 20-32: the bunny moves, no cut)."""
    return core.bs.VideoSource(str(sample_path("bigbuckbunny.mp4")))[20:33].resize.Bicubic(320, 180)


def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.asarray(frame[p]).copy() for p in range(frame.format.num_planes)]


def same_frame(a: vs.VideoFrame, b: vs.VideoFrame) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(planes(a), planes(b), strict=True))


def test_on_twos_becomes_motion(footage):
    twos = held(footage, 2)  # 0 0 2 2 4 4 ... 12
    out = vsrife.RIFE(twos, multi=1, dedup=True, sc=False)
    reference = vsrife.RIFE(footage[::2], multi=2, sc=False)  # the kept frames interpolated plainly
    assert out.num_frames == twos.num_frames and out.fps == twos.fps
    for n in range(12):
        f = out.get_frame(n)
        drawing = n - n % 2
        if n % 2 == 0:  # the first frame of each run passes through bit-exact
            assert same_frame(f, twos.get_frame(n))
            assert list(f.props["RifeDrawings"]) == [drawing, drawing] and f.props["RifeTimestep"] == 0
        else:  # the repeat: halfway between this drawing and the next, the same frame as plain interpolation
            assert same_frame(f, reference.get_frame(n))
            assert list(f.props["RifeDrawings"]) == [drawing, drawing + 2] and f.props["RifeTimestep"] == 0.5
            assert luma_psnr(f, footage.get_frame(n)) > luma_psnr(twos.get_frame(n), footage.get_frame(n)) + 4


def test_on_threes_at_double_rate_every_frame_moves(footage):
    threes = held(footage, 3)[:10]  # 0 0 0 3 3 3 6 6 6 9
    out = vsrife.RIFE(threes, multi=2, dedup=True, sc=False)
    steps = [out.get_frame(n).props["RifeTimestep"] for n in range(12)]
    drawings = [list(out.get_frame(n).props["RifeDrawings"]) for n in range(12)]
    assert steps == pytest.approx([0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6] * 2)
    assert drawings[:6] == [[0, 0]] + [[0, 3]] * 5 and drawings[6:] == [[3, 3]] + [[3, 6]] * 5


def test_without_repeats_the_output_is_unchanged(footage):
    plain = vsrife.RIFE(footage, multi=2, sc=False)
    deduped = vsrife.RIFE(footage, multi=2, dedup=True, sc=False)
    assert all(same_frame(plain.get_frame(n), deduped.get_frame(n)) for n in range(plain.num_frames))


def test_pauses_and_the_last_drawing_are_held_as_they_are(footage):
    # a 6-frame pause (longer than dedup_max), then twos; the last drawing is held to the end
    clip = footage[0] * 6 + held(footage[6:], 2)
    out = vsrife.RIFE(clip, multi=2, dedup=True, sc=False)
    plain = vsrife.RIFE(clip, multi=2, sc=False)
    for n in [*range(11), out.num_frames - 2, out.num_frames - 1]:
        assert same_frame(out.get_frame(n), plain.get_frame(n))
    assert list(out.get_frame(13).props["RifeDrawings"]) == [6, 8]  # after the pause: motion again


def test_a_run_ending_at_a_scene_change_is_held(footage):
    bikes = core.bs.VideoSource(str(sample_path("bikes.mp4")))[100:103].resize.Bicubic(320, 180)
    clip = held(footage[:6], 2) + bikes  # 0 0 2 2 4 4 | cut | another scene
    out = vsrife.RIFE(clip, multi=1, dedup=True, sc=True)
    assert list(out.get_frame(3).props["RifeDrawings"]) == [2, 4]
    assert same_frame(out.get_frame(5), clip.get_frame(5))  # 4 held: the next drawing is in another scene
    assert list(out.get_frame(5).props["RifeDrawings"]) == [5, 5]


def test_any_order_and_streams_give_the_same_frames(footage):
    twos = held(footage, 2)
    first = vsrife.RIFE(twos, multi=2, dedup=True, sc=False)
    order = list(range(first.num_frames))
    frames = [planes(first.get_frame(n)) for n in order]
    other = vsrife.RIFE(twos, multi=2, dedup=True, sc=False, num_streams=2)
    for n in reversed(order):
        assert all(np.array_equal(x, y) for x, y in zip(planes(other.get_frame(n)), frames[n], strict=True))


def test_lossy_repeats_still_turn_into_motion(footage, tmp_path):
    """Repeats re-encoded by x264 are no longer identical; the default threshold still finds them, and the
    frames between drawings come out far closer to the truth than the repeats (fails if dedup stops helping)."""
    twos = encoded(held(footage, 2), 23, tmp_path)
    out = vsrife.RIFE(twos, multi=1, dedup=True, sc=False)
    between = range(1, 12, 2)
    gain = np.mean([luma_psnr(out.get_frame(n), footage.get_frame(n)) for n in between]) - np.mean(
        [luma_psnr(twos.get_frame(n), footage.get_frame(n)) for n in between]
    )
    assert gain > 4, gain


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"multi": 1}, "multi must be at least 2"),
        ({"dedup": True, "dedup_threshold": 2}, "dedup_threshold must be a number from 0 to 1"),
        ({"dedup": True, "dedup_max": 1}, "dedup_max must be a whole number of frames from 2 to 32"),
        ({"dedup": True, "model": "3.8"}, "dedup needs a model with a timestep input"),
        ({"dedup": True, "factor_num": 1, "factor_den": 2}, "the factor 1/2 would not raise"),
    ],
)
def test_bad_arguments_are_clear_errors(footage, kwargs, message):
    for call in (vsrife.RIFE, core.rife.RIFE):
        with pytest.raises(vs.Error, match=message):
            call(footage, **kwargs)


def test_the_anime_example_runs_in_vspipe():
    result = subprocess.run(
        [str(VSPIPE), "--info", str(ROOT / "examples" / "anime.vpy"), "-"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "Frames: 264" in result.stdout  # bigbuckbunny.mp4's 132 frames on twos, doubled
    result = subprocess.run(
        [str(VSPIPE), "-c", "y4m", "-s", "0", "-e", "3", "-a", "multi=1", str(ROOT / "examples" / "anime.vpy"), "-"],
        capture_output=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"YUV4MPEG2") and result.stdout.count(b"FRAME") == 4
