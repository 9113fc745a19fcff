"""quality=: named settings, the measured default, explicit ensemble=/scale= winning, and the gain on real footage."""

from __future__ import annotations

import numpy as np
import pytest
import vapoursynth as vs

import vsrife
from vsrife import precisions, quality
from vsrife.arch import get_spec
from vsrife.errors import RifeError
from vsrife.precisions import Choice
from vsrife.samples import sample_path

core = vs.core

pytestmark = pytest.mark.usefixtures("official_weights")


def choice(fp32: float, fast32: float) -> Choice:
    """A verdict whose whole frames took ``fp32`` and ``fast32`` seconds."""
    return Choice("fast32", "a CPU", 2, "torch", frames={"fp32": fp32, "fast32": fast32})


def test_the_default_spends_only_what_this_machine_saves():
    spec = get_spec("3.9")
    assert quality.default(spec, "fast32", choice(1.0, 0.45)).quality.name == "balanced"  # 2.2x: fits
    slow = quality.default(spec, "fast32", choice(1.0, 0.75))  # 1.33x: ensemble would cost more than it saves
    assert slow.quality.name == "fast" and "1.33x fp32" in slow.why
    assert quality.default(spec, "fast32", None).quality.name == "fast"  # nothing measured (CUDA)
    assert quality.default(get_spec("3.1"), "fast32", choice(1.0, 0.1)).quality.name == "fast"  # cannot ensemble
    # a faster path than the plain default (int8) may pay for ensemble, unless precision= fixed the path
    measured = Choice("fast32", "a CPU", 2, "torch", frames={"fp32": 1.0, "fast32": 0.75, "int8": 0.5})
    assert quality.default(spec, "fast32", measured) == quality.Verdict(
        quality.get("balanced"), "int8 is 2.00x fp32 here, more than the 1.8x that ensemble costs", "int8"
    )
    assert quality.default(spec, "fast32", measured, path_given=True).quality.name == "fast"
    # whole frames decide, not the convolution probe, whose fp32 (NCHW) figure swung most here
    probe_only = Choice("fast32", "a CPU", 2, "torch", seconds={"fp32": 1.0, "fast32": 0.75, "int8": 0.3})
    assert quality.default(spec, "fast32", probe_only).quality.name == "fast"
    probe_only.frames = {"fp32": 1.0, "fast32": 0.75, "int8": 0.6}  # 1.67x: ensemble would not fit
    assert "int8, is 1.67x fp32, less than the 1.8x" in quality.default(spec, "fast32", probe_only).why


def test_scale_from_the_frame_size():
    balanced = quality.get("balanced")
    assert balanced.scale_for(1920, 1080) == 1.0 and balanced.scale_for(3840, 2160) == 0.5
    assert quality.get("fast").scale_for(3840, 2160) == 1.0  # the original's choice
    with pytest.raises(RifeError, match="quality must be one of"):
        quality.get("ultra")


@pytest.fixture(scope="module")
def triplets() -> list[tuple[vs.VideoNode, vs.VideoNode]]:
    """Real triplets (bigbuckbunny.mp4, 640x360): the two outer frames as a clip, and the true middle one."""
    source = core.bs.VideoSource(str(sample_path("bigbuckbunny.mp4"))).resize.Bicubic(640, 360)
    return [(source[n - 1] + source[n + 1], source[n]) for n in (21, 53)]


def psnr(a: vs.VideoFrame, b: vs.VideoFrame) -> float:
    planes = [(np.asarray(a[p], dtype=np.float64), np.asarray(b[p], dtype=np.float64)) for p in range(3)]
    mse = np.mean([np.mean((x - y) ** 2) for x, y in planes])
    return float(10 * np.log10(255**2 / mse))


def test_balanced_beats_the_originals_choices_on_real_footage(triplets):
    gains = []
    for pair, truth in triplets:
        fast = vsrife.RIFE(pair, quality="fast", sc=False).get_frame(1)
        balanced = vsrife.RIFE(pair, quality="balanced", sc=False).get_frame(1)
        gains.append(psnr(balanced, truth.get_frame(0)) - psnr(fast, truth.get_frame(0)))
    assert min(gains) > 0.3 and np.mean(gains) > 0.5, gains


def test_explicit_arguments_win(triplets):
    pair = triplets[0][0]

    def middle(**kwargs) -> np.ndarray:
        frame = vsrife.RIFE(pair, sc=False, **kwargs).get_frame(1)
        return np.concatenate([np.asarray(frame[p]).ravel() for p in range(3)])

    assert np.array_equal(middle(quality="balanced"), middle(quality="fast", ensemble=True))
    assert np.array_equal(middle(quality="balanced", ensemble=False), middle(quality="fast"))
    assert not np.array_equal(middle(quality="balanced"), middle(quality="fast"))
    assert np.array_equal(middle(quality="fast", scale=0.5), middle(quality="balanced", ensemble=False, scale=0.5))


def test_a_model_that_cannot_ensemble_runs_plain_under_balanced(triplets):
    pair = triplets[0][0]
    out = vsrife.RIFE(pair, model="3.1", quality="balanced", sc=False)
    assert out.num_frames == 4
    with pytest.raises(vs.Error, match="quality must be one of fast, balanced, best"):
        vsrife.RIFE(pair, quality="ultra")


def test_best_takes_model_3_1_where_the_factor_allows(triplets):
    pair = triplets[0][0]

    def same(a: vs.VideoNode, b: vs.VideoNode) -> bool:
        planes = [
            (np.asarray(x[p]), np.asarray(y[p])) for x, y in zip(a.frames(), b.frames(), strict=True) for p in range(3)
        ]
        return all(np.array_equal(x, y) for x, y in planes)

    assert same(vsrife.RIFE(pair, quality="best", sc=False), vsrife.RIFE(pair, model="3.1", sc=False))
    # 5/2 needs a timestep input: 3.9 with ensemble; a named model always wins
    # (best keeps the plain default path: the default quality's faster path is for its own ensemble only)
    path = precisions.choose().precision
    thirds = {"factor_num": 5, "factor_den": 2, "sc": False, "precision": path}
    assert same(vsrife.RIFE(pair, quality="best", **thirds), vsrife.RIFE(pair, model="3.9", ensemble=True, **thirds))
    named = vsrife.RIFE(pair, quality="best", model="3.9", sc=False)
    assert same(named, vsrife.RIFE(pair, model="3.9", ensemble=True, sc=False, precision=path))
