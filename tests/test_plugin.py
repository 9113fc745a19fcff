"""The VapourSynth filter end to end: the real plugin, real clips, real vspipe and x265."""

from __future__ import annotations

import math
import os
import runpy
import shutil
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from vsrife.inference import Interpolator
from vsrife.samples import sample_path

from .conftest import ROOT

core = vs.core
VSPIPE = Path(sys.executable).with_name("vspipe")
EXAMPLES = ROOT / "examples"
BIKES_CUTS = (29, 75, 136, 186, 241)  # hard cuts after these frames (looked at: see vsrife/samples.py)

pytestmark = pytest.mark.usefixtures("official_weights")


def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.array(frame[p], copy=True) for p in range(frame.format.num_planes)]


def same_pixels(a: vs.VideoFrame, b: vs.VideoFrame) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(planes(a), planes(b), strict=True))


def duration(frame: vs.VideoFrame) -> Fraction:
    return Fraction(frame.props["_DurationNum"], frame.props["_DurationDen"])


def run_vspipe(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(VSPIPE), *args], capture_output=True, check=False, **kw)


@pytest.fixture(scope="module")
def bikes() -> vs.VideoNode:
    return core.bs.VideoSource(str(sample_path("bikes.mp4")))


@pytest.fixture(scope="module")
def small(bikes) -> vs.VideoNode:
    """A cheap real clip for timing tests: 6 frames of bikes.mp4 at 160x68."""
    return bikes[40:46].resize.Bicubic(160, 68)


# --- the namespace and vspipe ---------------------------------------------------------------------------


def test_script_without_import_encodes_through_vspipe_and_x265(tmp_path, bikes):
    script = tmp_path / "plain.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        f"clip = vs.core.bs.VideoSource({str(sample_path('bikes.mp4'))!r})[40:52]\n"
        "clip.rife.RIFE(multi=2).set_output()\n"
    )
    info = run_vspipe("--info", str(script), "-", text=True)
    assert info.returncode == 0, info.stderr
    assert "Frames: 24" in info.stdout and "FPS: 50/1" in info.stdout

    hevc = tmp_path / "out.hevc"
    x265 = shutil.which("x265")
    if x265:
        encoder = [x265, "--log-level", "error", "--no-progress", "--y4m", "--input", "-", "--output", str(hevc)]
    else:  # the same encoder library through ffmpeg
        import imageio_ffmpeg

        encoder = [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "yuv4mpegpipe",
            "-i",
            "-",
            "-c:v",
            "libx265",
            "-f",
            "hevc",
            str(hevc),
        ]
    producer = subprocess.Popen(
        [str(VSPIPE), "-c", "y4m", str(script), "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    encoded = subprocess.run(encoder, stdin=producer.stdout, capture_output=True, check=False)
    producer.stdout.close()
    stderr = producer.stderr.read().decode()
    assert producer.wait() == 0 and encoded.returncode == 0, (stderr, encoded.stderr)
    assert "RIFE: model 3.9 on cpu" in stderr  # the log line says where it runs
    decoded = core.bs.VideoSource(str(hevc))
    assert decoded.num_frames == 24 and (decoded.width, decoded.height) == (640, 272)


def test_stdout_carries_only_the_video(tmp_path):
    """A y4m stream of exactly header + frames: nothing else was printed on stdout."""
    script = tmp_path / "s.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        f"c = vs.core.bs.VideoSource({str(sample_path('carphone_pristine.mp4'))!r})[:4]\n"
        "c.rife.RIFE(multi=2).set_output()\n"
    )
    out = run_vspipe("-c", "y4m", str(script), "-")
    assert out.returncode == 0, out.stderr
    header, rest = out.stdout.split(b"\n", 1)
    assert header.startswith(b"YUV4MPEG2 ") and b" W176 H144 F60000:1001 " in header
    frame_bytes = 176 * 144 * 3 // 2
    assert len(rest) == 8 * (len(b"FRAME\n") + frame_bytes)
    assert rest.count(b"FRAME\n") >= 8


def test_native_writes_to_stdout_while_loading_do_not_reach_the_video(tmp_path):
    """A native library writing to file descriptor 1 (not Python's sys.stdout) while the model loads or first
    runs: the y4m stream stays exact, the bytes land on stderr."""
    script = tmp_path / "noisy.vpy"
    script.write_text(
        "import ctypes, os\n"
        "import vapoursynth as vs\n"
        "import vsrife.filter as f\n"
        "libc = ctypes.CDLL(None)\n"
        "real = f.load_network\n"
        "def noisy(*args, **kwargs):\n"
        "    os.write(1, b'NOISE-FROM-FD-1\\n')\n"
        "    libc.printf(b'NOISE-FROM-PRINTF\\n'); libc.fflush(None)\n"
        "    return real(*args, **kwargs)\n"
        "f.load_network = noisy\n"
        f"c = vs.core.bs.VideoSource({str(sample_path('carphone_pristine.mp4'))!r})[:4]\n"
        "c.rife.RIFE(multi=2).set_output()\n"
    )
    out = run_vspipe("-c", "y4m", str(script), "-")
    assert out.returncode == 0, out.stderr
    assert b"NOISE" not in out.stdout and b"NOISE-FROM-FD-1" in out.stderr and b"NOISE-FROM-PRINTF" in out.stderr
    header, rest = out.stdout.split(b"\n", 1)
    assert header.startswith(b"YUV4MPEG2 ")
    assert len(rest) == 8 * (len(b"FRAME\n") + 176 * 144 * 3 // 2)


# --- length, rate and durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fps_in", "factor"),
    [
        ({"multi": 2}, Fraction(25), Fraction(2)),
        ({"multi": 3}, Fraction(25), Fraction(3)),
        ({"multi": 4}, Fraction(25), Fraction(4)),
        ({"factor_num": 5, "factor_den": 2}, Fraction(24), Fraction(5, 2)),
        ({"fps_num": 60000, "fps_den": 1001}, Fraction(24000, 1001), Fraction(5, 2)),
    ],
    ids=["multi2", "multi3", "multi4", "5/2", "24000to60000_1001"],
)
def test_frame_count_rate_and_durations(small, kwargs, fps_in, factor):
    clip = small.std.AssumeFPS(fpsnum=fps_in.numerator, fpsden=fps_in.denominator)
    out = core.rife.RIFE(clip, **kwargs)
    n = clip.num_frames
    assert out.num_frames == math.ceil(n * factor)
    assert Fraction(out.fps_num, out.fps_den) == fps_in * factor
    for i in range(out.num_frames):
        frame = out.get_frame(i)
        assert duration(frame) == 1 / (fps_in * factor)
        source = min(i * factor.denominator // factor.numerator, n - 1)
        if i % factor.numerator == 0:
            assert same_pixels(frame, clip.get_frame(source)), i


def test_variable_frame_rate_and_no_rate(small):
    """Durations per frame, divided by the factor; fps 0 stays 0; the total duration is kept."""
    vfr = small[:3].std.AssumeFPS(fpsnum=24) + small[3:].std.AssumeFPS(fpsnum=30)
    assert vfr.fps == 0
    out = vfr.rife.RIFE(multi=3)
    assert out.fps == 0 and out.num_frames == 3 * vfr.num_frames
    source_durations = [duration(vfr.get_frame(i)) for i in range(vfr.num_frames)]
    out_durations = [duration(out.get_frame(i)) for i in range(out.num_frames)]
    assert out_durations == [d / 3 for d in source_durations for _ in range(3)]
    assert sum(out_durations) == sum(source_durations)
    with pytest.raises(vs.Error, match="need a clip with a known frame rate"):
        vfr.rife.RIFE(fps_num=60)


def test_every_frame_carries_its_left_source_frames_props(small):
    tagged = core.std.Splice([f.std.SetFrameProps(Tag=i, _Matrix=5) for i, f in enumerate(small)])
    out = tagged.rife.RIFE(multi=3, sc=False)
    for i in range(out.num_frames):
        props = out.get_frame(i).props
        assert props["Tag"] == min(i // 3, tagged.num_frames - 1) and props["_Matrix"] == 5


# --- pixels --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [vs.YUV420P8, vs.YUV420P10, vs.RGBS])
def test_source_frames_pass_through_bit_exact(bikes, fmt):
    clip = bikes[60:64]
    if fmt != clip.format.id:
        clip = clip.resize.Bicubic(format=fmt, matrix_in_s="170m") if fmt == vs.RGBS else clip.resize.Point(format=fmt)
    out = clip.rife.RIFE(multi=2)
    assert out.format.id == fmt
    for i in range(0, out.num_frames, 2):
        assert same_pixels(out.get_frame(i), clip.get_frame(i // 2))
    assert not same_pixels(out.get_frame(1), clip.get_frame(0))


@pytest.mark.parametrize(
    ("fmt", "props"),
    [
        (vs.YUV420P8, {}),  # no colour props: defaults by resolution (170m at 640x272), limited range
        (vs.YUV420P10, {"_Matrix": 1, "_Range": vs.RANGE_FULL}),  # BT.709 full range, as props say
        (vs.YUV422P8, {"_Matrix": 6, "_Range": vs.RANGE_LIMITED}),
        (vs.YUV444PS, {"_Matrix": 1}),
        (vs.RGB24, {}),
        (vs.GRAY16, {"_Range": vs.RANGE_LIMITED}),
    ],
    ids=["420p8-defaults", "420p10-709-full", "422p8-601", "444ps", "rgb24", "gray16"],
)
def test_no_brightness_or_colour_shift(bikes, fmt, props):
    """Between two identical frames the interpolated frame must be that frame again: the conversion to RGB
    and back uses the same colorimetry both ways (a mismatch shifts levels by several code values)."""
    still = bikes[100].resize.Bicubic(format=fmt, matrix_in_s="170m", matrix_s="170m" if fmt != vs.RGB24 else None)
    if props:
        still = still.std.SetFrameProps(**props)
    clip = still * 3
    middle = clip.rife.RIFE(multi=2, sc=False).get_frame(1)
    source = clip.get_frame(0)
    step = 1 / 255 if fmt == vs.YUV444PS else 2 ** (still.format.bits_per_sample - 8)  # one 8-bit code
    for a, b in zip(planes(middle), planes(source), strict=True):
        diff = np.abs(a.astype(np.float64) - b) / step
        assert abs((a.astype(np.float64) - b).mean()) / step < 0.05  # no shift of levels
        assert diff.mean() < 0.1 and np.percentile(diff, 99.9) <= 2.0, (diff.mean(), diff.max())


def test_interpolated_frames_do_not_flicker(bikes):
    """On real motion, each interpolated frame's mean level lies between its neighbours' (no pumping)."""
    clip = bikes[100:110]
    out = clip.rife.RIFE(multi=2)
    for i in range(1, out.num_frames - 2, 2):
        before, middle, after = (float(np.asarray(out.get_frame(j)[0]).mean()) for j in (i - 1, i, i + 1))
        assert min(before, after) - 0.3 <= middle <= max(before, after) + 0.3, (i, before, middle, after)


# --- scene changes --------------------------------------------------------------------------------------


def test_no_frame_is_interpolated_across_the_cuts_in_bikes(bikes):
    out = bikes.rife.RIFE(multi=2)
    for cut in BIKES_CUTS:
        assert same_pixels(out.get_frame(2 * cut + 1), bikes.get_frame(cut)), cut
    # and away from cuts it does interpolate
    assert not same_pixels(out.get_frame(2 * 50 + 1), bikes.get_frame(50))


def test_scene_change_props_win_over_the_detector(bikes):
    calm, cut = 50, BIKES_CUTS[1]
    clip = core.std.Splice(
        [
            bikes[:calm],
            bikes[calm].std.SetFrameProps(_SceneChangeNext=1),  # not a cut, but the props say so
            bikes[calm + 1 : cut],
            bikes[cut].std.SetFrameProps(_SceneChangeNext=0),  # a cut, but the props say no
            bikes[cut + 1 :],
        ]
    )
    out = clip.rife.RIFE(multi=2)
    assert same_pixels(out.get_frame(2 * calm + 1), bikes.get_frame(calm))
    assert not same_pixels(out.get_frame(2 * cut + 1), bikes.get_frame(cut))
    off = bikes.rife.RIFE(multi=2, sc=False)
    assert not same_pixels(off.get_frame(2 * cut + 1), bikes.get_frame(cut))


def test_scene_change_blend_option(bikes):
    cut = BIKES_CUTS[1]
    out = bikes.rife.RIFE(multi=4, sc_blend=True)
    for j in (1, 2, 3):
        expected = core.std.Merge(bikes[cut], bikes[cut + 1], j / 4).get_frame(0)
        assert same_pixels(out.get_frame(4 * cut + j), expected), j


def test_detector_finds_the_cut_in_face_noface():
    clip = core.bs.VideoSource(str(sample_path("face_noface.mov")))
    out = clip[68:76].rife.RIFE(multi=2)
    # face (68..71) -> black (72) -> sky (73..): frames around 71->72 and 72->73 are held
    for source in (3, 4):
        assert same_pixels(out.get_frame(2 * source + 1), clip.get_frame(68 + source))
    assert not same_pixels(out.get_frame(1), clip.get_frame(68))


# --- quality and the cost of the glue ----------------------------------------------------------------------


def _rgb(frame: vs.VideoFrame) -> np.ndarray:
    return np.stack(planes(frame)).astype(np.float64)


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    return float(10 * np.log10(peak**2 / np.mean((a - b) ** 2)))


@pytest.mark.slow
def test_plugin_path_loses_nothing_and_beats_blending(bikes):
    """Drop every other frame of real footage and rebuild it through the plugin, against the bare core."""
    rgb = bikes[40:64].resize.Bicubic(format=vs.RGBS, matrix_in_s="170m")
    half = rgb[::2]
    out = half.rife.RIFE(multi=2, sc=False, quality="fast")  # the bare core's settings
    core_alone = Interpolator.from_pretrained("3.9", device="cpu")
    import torch

    plugin, bare, blend = [], [], []
    for i in range(1, 22, 2):
        truth = _rgb(rgb.get_frame(i))
        before, after = _rgb(rgb.get_frame(i - 1)), _rgb(rgb.get_frame(i + 1))
        direct = core_alone.interpolate(torch.from_numpy(before).float()[None], torch.from_numpy(after).float()[None])
        plugin.append(_psnr(_rgb(out.get_frame(i)), truth, 1.0))
        bare.append(_psnr(direct[0].double().numpy(), truth, 1.0))
        blend.append(_psnr((before + after) / 2, truth, 1.0))
    assert np.allclose(plugin, bare, atol=1e-4), (plugin, bare)  # RGBS in, RGBS out: identical
    assert np.mean(plugin) - np.mean(blend) > 3.0, (np.mean(plugin), np.mean(blend))
    assert all(p > b for p, b in zip(plugin, blend, strict=True))

    # YUV 4:2:0 in and out: the colour round trip costs almost nothing against the same frames
    yuv = bikes[40:64]
    out_yuv = yuv[::2].rife.RIFE(multi=2, sc=False, quality="fast")
    converted = out.resize.Bicubic(format=vs.YUV420P8, matrix_s="170m")
    luma_plugin, luma_ref = [], []
    for i in range(1, 22, 2):
        truth = planes(yuv.get_frame(i))[0].astype(np.float64)
        luma_plugin.append(_psnr(planes(out_yuv.get_frame(i))[0].astype(np.float64), truth, 255))
        luma_ref.append(_psnr(planes(converted.get_frame(i))[0].astype(np.float64), truth, 255))
    assert abs(np.mean(luma_plugin) - np.mean(luma_ref)) < 0.1, (np.mean(luma_plugin), np.mean(luma_ref))


def test_several_frames_are_in_flight(small, monkeypatch):
    """With num_streams=k the callbacks really overlap (one ModifyFrame alone would serialise them)."""
    active, peak, lock = 0, 0, threading.Lock()
    real = Interpolator.interpolate

    def counting(self, *args, **kwargs):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return real(self, *args, **kwargs)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(Interpolator, "interpolate", counting)
    clip = small * 3
    out = clip.rife.RIFE(multi=4, num_streams=3, sc=False)
    frames = [out.get_frame_async(i) for i in range(out.num_frames)]
    for f in frames:
        f.result()
    assert peak >= 2, peak


@pytest.mark.parametrize(("streams", "filters"), [(1, 1), (2, 1), (1, 2)])
def test_torch_runs_only_on_the_stream_threads(streams, filters):
    """Loading, preparing, the network and the copy into the output frame all run on the stream threads, one
    per stream, shared by every RIFE filter in the process: a thread that runs torch owns an OpenMP pool, and
    once libgomp manages more threads than cores its barriers sleep instead of spinning (the network was ~7%
    slower). Threads as the profiler numbers them, in a fresh process (no other test's frames still in
    flight); frames large enough that copies run in parallel loops."""
    code = (
        "import vapoursynth as vs\n"
        "from torch import profiler\n"
        "from torch._C._profiler import _ExperimentalConfig\n"
        "from vsrife.samples import sample_path\n"
        "clip = vs.core.bs.VideoSource(str(sample_path('bikes.mp4')))[40:46].resize.Bicubic(320, 240)\n"
        "config = _ExperimentalConfig(profile_all_threads=True)\n"
        "with profiler.profile(activities=[profiler.ProfilerActivity.CPU], experimental_config=config) as prof:\n"
        f"    outs = [clip.rife.RIFE(multi=2, num_streams={streams}, sc=False) for _ in range({filters})]\n"
        "    for f in [out.get_frame_async(i) for out in outs for i in range(out.num_frames)]:\n"
        "        f.result()\n"
        "print(sorted({e.thread for e in prof.events() if e.name.startswith('aten::')}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    threads = result.stdout.strip().splitlines()[-1]
    assert len(threads.strip("[]").split(",")) == streams, threads


def test_chained_filters_on_shared_stream_threads_finish():
    """RIFE of RIFE, the inner one with more streams: the outer filter's jobs queue on the same threads as
    the inner one's, which must never wait for each other. In a subprocess, so that a deadlock fails."""
    code = (
        "import vapoursynth as vs\n"
        "from vsrife.samples import sample_path\n"
        "clip = vs.core.bs.VideoSource(str(sample_path('bikes.mp4')))[40:46].resize.Bicubic(160, 96)\n"
        "out = clip.rife.RIFE(multi=2, num_streams=2).rife.RIFE(multi=2, num_streams=1)\n"
        "print(sum(1 for f in [out.get_frame_async(i) for i in range(out.num_frames)] if f.result()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "24"


@pytest.mark.parametrize("options", ["num_streams=1", "num_streams=2", "dedup=True"])
def test_filter_nodes_keep_no_rgb_frames_in_the_frame_cache(options):
    """The filter's own nodes carry RGB float frames (12 bytes a pixel) that one consumer asks for once:
    VapourSynth's automatic caches there grew by one such frame per output frame (1 GB at 1080p after 36
    frames). Its output node may cache (a few source-format frames). In a fresh process: the core's cache
    total counts every node alive."""
    width, height = 640, 360
    code = (
        "import vapoursynth as vs\n"
        "from vsrife.samples import sample_path\n"
        f"clip = vs.core.bs.VideoSource(str(sample_path('bikes.mp4')))[:16].resize.Bicubic({width}, {height})\n"
        "for f in clip.frames(): pass\n"
        "before = vs.core.used_cache_size\n"
        f"out = clip.rife.RIFE(multi=2, sc=False, {options})\n"
        "for f in out.frames(prefetch=2): pass\n"
        "print(out.num_frames, vs.core.used_cache_size - before)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    frames, growth = map(int, result.stdout.split()[-2:])
    rgb_frame = width * height * 3 * 4
    assert frames == 32
    assert growth < 4 * rgb_frame, f"{growth / rgb_frame:.1f} RGB frames cached"


# --- examples -----------------------------------------------------------------------------------------


def mpv_video_in(clip: vs.VideoNode) -> vs.VideoNode:
    """A clip as mpv hands it to scripts: fps 0, length INT_MAX/16, durations and _ColorSpace per frame."""
    length = (2**31 - 1) // 16
    frames = clip.std.AssumeFPS(fpsnum=24000, fpsden=1001).std.RemoveFrameProps("_Matrix")
    frames = frames.std.SetFrameProps(_ColorSpace=6).std.Loop(times=length // clip.num_frames + 1)
    template = clip.std.BlankClip(length=length, fpsnum=0, fpsden=1, keep=True)
    return core.std.FrameEval(template, lambda n: frames, clip_src=frames)


def test_mpv_script_with_the_globals_mpv_injects(bikes):
    video_in = mpv_video_in(bikes[:6])
    assert video_in.fps == 0
    runpy.run_path(
        str(EXAMPLES / "mpv.vpy"), init_globals={"video_in": video_in, "container_fps": 23.976, "display_fps": 60.0}
    )
    out = vs.get_output(0).clip
    assert out.fps == 0 and out.num_frames == math.ceil(video_in.num_frames * 5 / 2)
    for n in range(6):  # mpv needs durations for its timestamps: 5 output frames per 2 source frames
        assert duration(out.get_frame(n)) == Fraction(1001, 24000) * Fraction(2, 5)
    assert same_pixels(out.get_frame(5), bikes.get_frame(2))
    vs.clear_output(0)


@pytest.mark.parametrize("script", ["encode.vpy", "chain.vpy"])
def test_example_scripts_run_under_vspipe(script):
    env = {**os.environ}
    result = run_vspipe("-a", "frames=6", "--info", str(EXAMPLES / script), "-", text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "Frames:" in result.stdout


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kwargs", "message"),
    [
        (lambda c: c, {"multi": 1}, "multi must be at least 2"),
        (lambda c: c, {"scale": 3.0}, r"scale must be one of 0.25, 0.5, 1.0, 2.0, 4.0"),
        (lambda c: c, {"model": "4.99"}, r"unknown model '4.99'. Known models: 3.1"),
        (lambda c: c, {"model": "3.8", "multi": 3}, r"model 3.8 has no timestep input .* use one of 3.9, 4.0"),
        (lambda c: c, {"model": "4.25", "ensemble": True}, r"model 4.25 cannot ensemble; models that can: 3.5"),
        (lambda c: c, {"factor_num": 2, "factor_den": 3}, r"factor 2/3 would not raise the frame rate"),
        (lambda c: c[:1], {}, "at least 2 frames"),
        (lambda c: c.resize.Bicubic(4, 4), {}, r"frames of 4x4 are too small: RIFE needs at least 8 pixels"),
        (lambda c: core.std.Splice([c[:2], c[2:4].resize.Bicubic(320, 136)], mismatch=True), {}, "size varies"),
        (
            lambda c: core.std.Splice([c[:2], c[2:4].resize.Point(format=vs.YUV444P8)], mismatch=True),
            {},
            "format varies",
        ),
        (lambda c: c, {"model": "4.25"}, r"python -m vsrife models download 4\.25"),
        (lambda c: c, {"device": "cuda"}, "torch sees no CUDA GPU"),
        (lambda c: c, {"precision": "fp16"}, "precision='fp16' runs on CUDA only; on CPU use one of fp32, fast32"),
        (lambda c: c, {"precision": "fp64"}, "precision must be one of fp32, fast32, bf16"),
        (lambda c: c, {"factor_num": 2.5}, r"factor_num must be a whole number, not 2\.5"),
        (lambda c: c, {"num_streams": 1.5}, r"num_streams must be a whole number"),
        (lambda c: c, {"tile": 2}, "unknown argument"),
    ],
    ids=[
        "multi",
        "scale",
        "model",
        "timestep",
        "ensemble",
        "slower",
        "short",
        "tiny",
        "size",
        "format",
        "weights",
        "cuda",
        "fp16",
        "precision",
        "float-factor",
        "float-streams",
        "unknown-arg",
    ],
)
def test_bad_input_gets_an_actionable_error(small, make, kwargs, message):
    clip = make(small)
    with pytest.raises(vs.Error, match=message):
        core.rife.RIFE(clip, **kwargs)


def test_the_smallest_frames_it_takes_interpolate_cleanly(bikes):
    """At the minimum size, two identical frames give that frame back within two codes (as larger frames)."""
    still = bikes[100].resize.Bicubic(8, 8, format=vs.YUV444P8, matrix_in_s="170m", matrix_s="170m") * 3
    out = still.rife.RIFE(multi=2, sc=False)
    assert all(
        np.abs(a.astype(int) - b).max() <= 2
        for a, b in zip(planes(out.get_frame(1)), planes(out.get_frame(0)), strict=True)
    )


def test_not_a_clip_is_rejected():
    from vsrife import RIFE

    with pytest.raises(vs.Error, match="clip must be a video clip"):
        RIFE("video.mkv")


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("_Matrix", 0),  # RGB coefficients on a YUV clip
        ("_Matrix", 3),  # reserved
        ("_Range", "full"),  # text
        ("_Range", 5),
        ("_Transfer", 99),
        ("_Primaries", "x"),
        ("_ChromaLocation", 17),
        ("_ChromaLocation", 1.5),
        ("_SceneChangeNext", "0"),  # text: as VapourSynth's filters read it, not an int: no mark
    ],
)
def test_invalid_frame_props_fall_back_to_the_default_with_a_warning(small, prop, value):
    """Real files carry bad props: each counts as absent (the documented default applies), and the log says
    so once; the frames are those of the clip without the prop."""
    bad = small.std.SetFrameProps(**{prop: value})
    messages: list[str] = []
    handle = core.add_log_handler(lambda level, message: messages.append(message))
    try:
        out = bad.rife.RIFE(sc=True)
        frames = [planes(out.get_frame(n)) for n in range(out.num_frames)]
    finally:
        core.remove_log_handler(handle)
    expected = small.std.RemoveFrameProps(prop).rife.RIFE(sc=True)
    for n, got in enumerate(frames):
        assert all(np.array_equal(a, b) for a, b in zip(got, planes(expected.get_frame(n)), strict=True)), n
    warnings = [m for m in messages if f"ignoring {prop}" in m]
    # transfer and primaries matter (and are read) only for the chromaticity-derived and ICtCp matrices
    assert len(warnings) == (0 if prop in ("_Transfer", "_Primaries") else 1), messages
    assert out.get_frame(1).props[prop] == value  # passed on as given
