"""Execution paths: the measured default, its cache, forced and unsupported precisions, and each fast path
against the reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsrife import precisions
from vsrife.arch import get_spec
from vsrife.arch.ifnet import IFBlock, PackedInput, build_network
from vsrife.inference import Interpolator
from vsrife.samples import sample_path

from .reference import V4_CASES, assert_close, expected, inputs, keys, synthetic_state_dict
from .test_conformance import synthetic_network

core = vs.core


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty precision cache of this test's own."""
    monkeypatch.setenv(precisions.CACHE_ENV, str(tmp_path))
    return tmp_path / "precision.json"


def test_measuring_picks_the_fastest_candidate_and_caches_it(cache):
    choice = precisions.choose()
    assert not choice.cached and cache.is_file()
    cpu_paths = {p.name: p for p in precisions.PRECISIONS.values() if "cpu" in p.devices}
    candidates = {name for name, p in cpu_paths.items() if p.default_candidate}
    assert set(choice.seconds) <= set(cpu_paths) and candidates <= set(choice.seconds) and "fp32" in candidates
    calibrated = {name for name, p in cpu_paths.items() if p.calibrated}  # a default for some models only
    not_default = set(cpu_paths) - candidates  # timed (for vsrife.quality), never the plain default
    assert calibrated and not calibrated & candidates
    # whole frames of the reference, fast32, and the probe's fastest candidate and opt-in path decide
    fastest = min(candidates, key=choice.seconds.__getitem__)
    fastest_opt_in = min(not_default - calibrated, key=choice.seconds.__getitem__)
    assert set(choice.frames) == {"fp32", "fast32", fastest, fastest_opt_in}
    # the calibrated paths' whole frames are timed against the verdict, on the architecture they are for
    assert set(choice.calibrated_frames) == {choice.precision} | calibrated
    whole_candidates = {name: s for name, s in choice.frames.items() if name in candidates}
    assert choice.precision in whole_candidates
    assert choice.frames[choice.precision] <= 1.05 * min(whole_candidates.values())  # fast32 keeps ties within 5%
    assert choice.frames[choice.precision] <= 1.05 * choice.frames["fp32"]  # never slower than the reference
    assert set(choice.skipped) - not_default <= {fastest} - {choice.precision}
    assert choice.speedup("fp32") == 1.0 and choice.speedup("fp16") is None  # CUDA only: never timed here
    entry = json.loads(cache.read_text())[precisions._cache_key(precisions.cpu_name(), choice.cores)]
    assert entry["precision"] == choice.precision and entry["cpu"] == precisions.cpu_name()


def test_a_cached_verdict_is_reused_without_measuring(cache):
    key = precisions._cache_key(precisions.cpu_name(), precisions.os.cpu_count() or 1)
    verdict = {"precision": "bf16", "cpu": "x", "cores": 2, "torch": torch.__version__, "seconds": {"bf16": 0.1}}
    cache.write_text(json.dumps({key: verdict}))
    start = time.perf_counter()
    choice = precisions.choose()
    assert time.perf_counter() - start < 0.1  # no probe ran
    assert choice.cached and choice.precision == "bf16" and "cached" in choice.describe()
    assert precisions.default_precision(torch.device("cpu")) == "bf16"
    assert precisions.default_precision(torch.device("cuda")) == "fp32"


def test_another_cpu_or_torch_measures_again(cache):
    cache.write_text(json.dumps({"Another CPU | 2 cores | torch 1.0 | probe 1": {"precision": "bf16"}}))
    choice = precisions.choose()
    assert not choice.cached and len(json.loads(cache.read_text())) == 2


def test_a_verdict_is_not_reused_when_the_cpu_shows_other_features_or_onednn_is_capped(cache, monkeypatch):
    """A VM keeps its CPU's name when the host hides AMX; oneDNN can be told to use fewer instructions.
    Either changes which path is fastest, so neither may reuse a verdict measured without it."""
    features = precisions.cpu_features()
    assert features != "unknown"  # Linux: /proc/cpuinfo
    monkeypatch.setattr(precisions, "cpu_features", lambda: "avx2")
    hidden = precisions._cache_key(precisions.cpu_name(), 2)
    monkeypatch.setattr(precisions, "cpu_features", lambda: features)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    capped = precisions._cache_key(precisions.cpu_name(), 2)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    plain = precisions._cache_key(precisions.cpu_name(), 2)
    assert len({hidden, capped, plain}) == 3
    verdict = {"precision": "bf16", "cpu": "x", "cores": 2, "torch": torch.__version__, "seconds": {"bf16": 0.1}}
    key = precisions._cache_key(precisions.cpu_name(), precisions.os.cpu_count() or 1)
    cache.write_text(json.dumps({key: verdict}))
    assert precisions.choose().cached
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")  # read by a new process's oneDNN; key only here
    assert not precisions.choose().cached


def _provisional_verdict(cache, busy: float) -> None:
    key = precisions._cache_key(precisions.cpu_name(), precisions.os.cpu_count() or 1)
    verdict = {"precision": "bf16", "cpu": "x", "cores": 2, "torch": torch.__version__, "busy": busy}
    cache.write_text(json.dumps({key: verdict}))


def test_a_verdict_measured_on_a_busy_machine_is_measured_again_once_it_is_idle(cache, monkeypatch):
    monkeypatch.setattr(precisions, "_measured_in_this_process", False)
    _provisional_verdict(cache, busy=0.6)
    monkeypatch.setattr(precisions, "idle_share", lambda interval=0.2: 0.3)  # still busy: keep it
    kept = precisions.choose()
    assert kept.cached and kept.provisional and "measured again when it is idle" in kept.describe()
    monkeypatch.setattr(precisions, "idle_share", lambda interval=0.2: 0.99)
    fresh = precisions.choose()
    assert not fresh.cached
    _provisional_verdict(cache, busy=0.6)  # at most once per process, even if it is busy again
    assert precisions.choose().cached
    _provisional_verdict(cache, busy=0.1)  # a verdict of a quiet machine stands
    monkeypatch.setattr(precisions, "_measured_in_this_process", False)
    assert precisions.choose().cached


def test_the_probe_notices_other_processes_taking_the_cpu():
    """Every core kept busy by another process: the probe's threads get about half the CPU they ask for."""
    code = "import time\nend = time.time() + 60\nwhile time.time() < end: pass\n"
    hogs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.3)
        busy = precisions.measure([precisions.get("fp32")], rounds=2).busy
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert busy > precisions.BUSY_LIMIT
    assert precisions.idle_share() is not None  # Linux: /proc/stat read


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ({"fp32": 0.20, "fast32": 0.15, "bf16": 0.16, "int8": 0.1}, "fast32"),
        ({"fp32": 0.10, "fast32": 0.15, "bf16": 0.16, "int8": 0.1}, "fp32"),
        ({"fp32": 0.20, "fast32": 0.15, "bf16": 0.12, "int8": 0.1}, "bf16"),
    ],
)
def test_whole_frames_decide(cache, monkeypatch, frames, expected):
    """Seen here: fp32's convolutions timed faster than fast32's while its whole frames were 1.3-1.6x slower.
    The opt-in int8 is timed whole too (for vsrife.quality) but never the plain default."""
    convolutions = {"fp32": 0.40, "fast32": 0.50, "bf16": 0.45, "int8": 0.3}
    monkeypatch.setattr(precisions, "measure", lambda paths, **_: precisions.Measurement(convolutions, 0.0))
    timed: list[str] = []

    def whole_frame_seconds(
        paths: list[precisions.Precision], model: str = precisions.WHOLE_FRAME_MODEL, size=None, rounds: int = 2
    ) -> dict[str, float]:
        if model == precisions.WHOLE_FRAME_MODEL:  # (the calibrated paths' are timed on their own model)
            timed.extend(p.name for p in paths)
        return {p.name: frames.get(p.name, 0.1) for p in paths}

    monkeypatch.setattr(precisions, "whole_frame_seconds", whole_frame_seconds)
    choice = precisions.choose()
    assert timed == ["fp32", "fast32", "int8"]  # the probe's fastest candidate (fp32) and opt-in path (int8)
    assert choice.precision == ("fast32" if expected == "bf16" else expected)  # bf16 was not timed whole
    assert ("fp32" in choice.skipped) == (expected != "fp32")
    assert "whole 448x256 frames of 4.6: fp32" in choice.describe()
    assert precisions.choose().frames == choice.frames  # cached with the verdict
    if expected == "bf16":  # now bf16's convolutions lead, so its whole frames are timed and win
        convolutions["bf16"] = 0.35
        timed.clear()
        choice = precisions.choose(force_measure=True)
        assert timed == ["fp32", "fast32", "bf16", "int8"] and choice.precision == "bf16"
        assert choice.speedup("int8") == pytest.approx(2.0)


def test_whole_frames_are_timed_on_each_path():
    """Every CPU path, bf16 included: which paths are timed whole depends on the CPU (bf16 where it is fast),
    and its network, built for timing, once crashed the first use on AMX Xeons."""
    paths = [p for p in precisions.PRECISIONS.values() if "cpu" in p.devices]
    seconds = precisions.whole_frame_seconds([p for p in paths if not p.calibrated], rounds=1)
    assert set(seconds) == {"fp32", "fast32", "bf16", "int8"}
    calibrated = [p for p in paths if p.calibrated]
    seconds.update(precisions.whole_frame_seconds(calibrated, precisions.CALIBRATED_FRAME_MODEL, rounds=1))
    assert set(seconds) == {p.name for p in paths} == {"fp32", "fast32", "bf16", "int8", "int8-gptq"}
    assert all(0 < s < 30 for s in seconds.values())


def test_a_path_far_slower_on_the_first_shape_is_not_probed_whole(monkeypatch):
    """Emulated bfloat16 (7-10x slower on AVX2 CPUs) cost ~10 s of warm-up and a round at first use."""
    first = {"fp32": 0.004, "fast32": 0.003, "bf16": 0.030}
    whole_runs: list[str] = []
    monkeypatch.setattr(precisions._Probe, "first_shape_seconds", lambda self, repeat=3: first[self.name])
    monkeypatch.setattr(precisions._Probe, "run", lambda self: whole_runs.append(self.name))
    original_init = precisions._Probe.__init__

    def init(self, precision):
        original_init(self, precision)
        self.name = precision.name

    monkeypatch.setattr(precisions._Probe, "__init__", init)
    measured = precisions.measure([precisions.get(name) for name in first], rounds=2)
    assert "bf16" not in whole_runs and {"fp32", "fast32"} <= set(whole_runs)
    best = min(("fp32", "fast32"), key=measured.seconds.__getitem__)  # scaled as the best whole probe scales
    assert measured.seconds["bf16"] == pytest.approx(first["bf16"] * measured.seconds[best] / first[best])
    precisions.measure([precisions.get(name) for name in first], rounds=1, prescreen=False)  # the benchmark's
    assert "bf16" in whole_runs


def test_a_damaged_cache_is_measured_again(cache):
    cache.write_text("{not json")
    assert not precisions.choose().cached
    assert precisions.choose().cached


def log_lines(run) -> list[str]:
    messages: list[str] = []
    handle = core.add_log_handler(lambda level, message: messages.append(message))
    try:
        run()
    finally:
        core.remove_log_handler(handle)
    return messages


def small_clip() -> vs.VideoNode:
    return core.bs.VideoSource(str(sample_path("bikes.mp4")))[40:44].resize.Bicubic(160, 68)


@pytest.mark.usefixtures("official_weights")
def test_the_filter_uses_and_logs_the_cached_verdict(cache):
    key = precisions._cache_key(precisions.cpu_name(), precisions.os.cpu_count() or 1)
    seconds = {"fp32": 0.9, "fast32": 0.8, "bf16": 0.4}
    entry = {"precision": "bf16", "cpu": "test CPU", "cores": 2, "torch": torch.__version__, "seconds": seconds}
    cache.write_text(json.dumps({key: entry}))
    lines = log_lines(lambda: core.rife.RIFE(small_clip()).get_frame(1))
    assert any("(bf16)" in line for line in lines), lines
    assert any("precision bf16: the fastest measured" in line and "bf16 400 ms" in line for line in lines), lines


@pytest.mark.usefixtures("official_weights")
def test_a_forced_precision_wins_over_the_verdict(cache):
    key = precisions._cache_key(precisions.cpu_name(), precisions.os.cpu_count() or 1)
    entry = {"precision": "bf16", "cpu": "test CPU", "cores": 2, "torch": torch.__version__, "seconds": {}}
    cache.write_text(json.dumps({key: entry}))
    lines = log_lines(lambda: core.rife.RIFE(small_clip(), precision="fast32").get_frame(1))
    assert any("precision fast32: as asked" in line for line in lines), lines


@pytest.mark.parametrize(
    ("precision", "message"),
    [
        ("fp64", "precision must be one of fp32, fast32, bf16"),
        ("fp16", "precision='fp16' runs on CUDA only; on CPU use one of fp32, fast32, bf16"),
        (16, "precision must be one of"),
    ],
)
def test_unsupported_precisions_get_a_clear_error(precision, message):
    with pytest.raises(vs.Error, match=message):
        core.rife.RIFE(core.std.BlankClip(length=4), precision=precision)


def fast32_cases():
    for name in keys("v4"):
        for case in expected("v4", name):
            if case == "A" or name in ("4.0", "4.6", "4.12.lite", "4.22", "4.26"):
                yield pytest.param(name, case, id=f"{name}-{case}")


@pytest.mark.parametrize(("name", "case"), list(fast32_cases()))
def test_fast32_meets_the_conformance_tolerance(name, case):
    """The fast float32 path takes shorter routes than upstream but computes the same function: the
    reference outputs hold for it within the same tolerance."""
    t, scale, ensemble = V4_CASES[case]
    interpolator = Interpolator(synthetic_network("v4", name), scale=scale, ensemble=ensemble, precision="fast32")
    assert not interpolator.network.reference_resampling
    assert interpolator.network.block0.memory_format is torch.channels_last
    assert_close(interpolator.interpolate(*inputs(), t), expected("v4", name)[case])


@pytest.mark.parametrize("name", ["3.8", "3.9", "4.22", "4.26"])
def test_fast_path_warps_straight_into_the_block_inputs(name, monkeypatch):
    """Blocks after the first get their warps written into their channels-last input (no separate warped
    frames: 175 MB less at 4.22's 1080p peak); the numbers are those of warping first and packing after."""
    torch.manual_seed(0)
    interpolator = Interpolator(build_network(get_spec(name)).eval(), precision="fast32")
    img0, img1 = inputs()
    packed_blocks = []
    predict = IFBlock.predict

    def spy(block, parts, *args, **kwargs):
        packed_blocks.append(not torch.is_tensor(parts) and isinstance(parts[0], PackedInput))
        return predict(block, parts, *args, **kwargs)

    monkeypatch.setattr(IFBlock, "predict", spy)
    packed = interpolator.interpolate(img0, img1, 0.5)
    blocks = interpolator.network.spec.num_blocks  # (3.x first probe the motion with a block of its own)
    assert packed_blocks[-blocks:] == [False] + [True] * (blocks - 1) and not any(packed_blocks[:-blocks])

    net = interpolator.network
    monkeypatch.setattr(net, "_next_warps", lambda i, s, f, sc, e, k: net._warp_sources(i, s, f, sc, k))
    packed_blocks.clear()
    assert torch.equal(interpolator.interpolate(img0, img1, 0.5), packed)
    assert not any(packed_blocks)


def frame_difference(a: vs.VideoNode, b: vs.VideoNode) -> tuple[int, float]:
    """The largest difference of any sample of two clips, their frames requested concurrently, and the share
    of samples that differ at all."""
    differences = [
        np.abs(np.asarray(x[p]).astype(int) - np.asarray(y[p])).ravel()
        for x, y in zip(a.frames(), b.frames(), strict=True)
        for p in range(x.format.num_planes)
    ]
    every = np.concatenate(differences)
    return int(every.max()), float(np.mean(every > 0))


@pytest.mark.usefixtures("official_weights")
@pytest.mark.parametrize(
    ("precision", "model"),
    [(p, m) for m in ("3.9", "4.26") for p in ("fast32", "bf16", "int8")] + [("int8-gptq", "3.9")],
)
def test_every_path_runs_in_the_filter_with_several_streams(tmp_path, precision, model):
    """Two streams share one network: the frames are those of one stream (which runs torch on twice the
    threads: float sums round differently, by one code at most) and the same from run to run.

    In int8 a one-ulp difference can cross a quantisation step and grow. With 3.9's weights that touches a
    few samples (8-bit activations on an AMX Xeon: 0.3% of them, by up to 4 codes); 4.26 runs its ResConv
    bodies with synthetic weights from a file, whose activations grow to ~200 over eight units (7% of samples,
    by up to 52): there, only the runs must match."""
    options: dict = {"model": model}
    if model != "3.9":
        path = tmp_path / f"flownet_v{model}.pkl"
        torch.save(synthetic_state_dict(keys("v4")[model]), path)
        options = {"model_path": str(path)}
    clip = small_clip()
    two = core.rife.RIFE(clip, precision=precision, num_streams=2, sc=False, **options)
    again = core.rife.RIFE(clip, precision=precision, num_streams=2, sc=False, **options)
    assert frame_difference(two, again) == (0, 0.0)
    if model == "4.26" and precision == "int8":
        return
    one = core.rife.RIFE(clip, precision=precision, num_streams=1, sc=False, **options)
    worst, share = frame_difference(two, one)
    if precision.startswith("int8"):
        assert share < 0.01, (worst, share)
    else:
        assert worst <= 1, (worst, share)
