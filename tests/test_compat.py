"""Scripts written for vs-rife (the registry's vsrife) run unchanged: 5.x's rife(), 2.x/3.x's keywords, and
errors that name the equivalent for other RIFE filters' keywords."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsrife
from vsrife import __main__ as vsrife_main
from vsrife import weights
from vsrife.arch import build_network, get_spec
from vsrife.samples import sample_path

from .conftest import ROOT

core = vs.core
VSPIPE = Path(sys.executable).with_name("vspipe")

pytestmark = pytest.mark.usefixtures("official_weights")


@pytest.fixture(scope="module")
def rgbs() -> vs.VideoNode:
    """What vs-rife took: RGBS (a few real frames, small)."""
    clip = core.bs.VideoSource(str(sample_path("bikes.mp4")))[40:46].resize.Bicubic(160, 68)
    return clip.resize.Bicubic(format=vs.RGBS, matrix_in_s="170m")


def same(a: vs.VideoNode, b: vs.VideoNode) -> bool:
    return a.num_frames == b.num_frames and all(
        np.array_equal(np.asarray(x[p]), np.asarray(y[p]))
        for n in range(a.num_frames)
        for x, y in [(a.get_frame(n), b.get_frame(n))]
        for p in range(x.format.num_planes)
    )


def test_the_package_says_what_it_is():
    assert vsrife.__version__ and vsrife.__version__ != "0+unknown"
    assert {"RIFE", "rife", "__version__"} <= set(dir(vsrife))


def test_rife_5x_positional_and_keyword_forms(rgbs):
    """rife(clip, device_index, model, ...) as vs-rife 5.x orders it; no CUDA here: the CPU, logged."""
    from vsrife import rife

    positional = rife(rgbs, 0, "3.9")
    keywords = rife(rgbs, device_index=0, model="3.9", factor_num=2, factor_den=1, scale=1.0, ensemble=False)
    reference = vsrife.RIFE(rgbs, model="3.9", sc=False, quality="fast", device="cpu")  # vs-rife's choices
    assert same(positional, reference) and same(keywords, reference)


def test_rife_fps_wins_over_the_factor_as_in_vs_rife(rgbs):
    from vsrife import rife

    clip = rgbs.std.AssumeFPS(fpsnum=24000, fpsden=1001)
    out = rife(clip, model="3.9", factor_num=3, fps_num=60000, fps_den=1001)
    assert out.fps == vs.core.std.BlankClip(fpsnum=60000, fpsden=1001).fps and out.num_frames == 15


def test_rife_scene_changes_as_scdetect_found_them():
    """sc=True marks cuts as misc.SCDetect did (whole-frame 8-bit 709 luma difference over sc_threshold)."""
    from vsrife import rife
    from vsrife.compat import scene_cuts_like_scdetect

    bikes = core.bs.VideoSource(str(sample_path("bikes.mp4")))[70:80].resize.Bicubic(160, 68)  # a cut after 75
    marked = scene_cuts_like_scdetect(bikes, 0.15)
    cuts = [n for n in range(marked.num_frames) if marked.get_frame(n).props["_SceneChangeNext"]]
    assert cuts == [5]
    out = rife(bikes, model="3.9", sc=True)
    assert same(out[11], bikes[5])  # the frame after the cut's left frame is held, not interpolated
    assert not same(rife(bikes, model="3.9", sc=False)[11], bikes[5])


def test_rife_trt_without_tensorrt_is_a_clear_error(rgbs):
    from vsrife import rife

    with pytest.raises(vs.Error, match="trt=True needs a CUDA GPU and the torch_tensorrt package"):
        rife(rgbs, model="3.9", trt=True)


def test_2x_keywords_are_aliases(rgbs):
    old = vsrife.RIFE(rgbs, multi=2, scale=1.0, device_type="cpu", device_index=0, fp16=False)
    assert same(old, vsrife.RIFE(rgbs, multi=2, device="cpu"))
    through_plugin = core.rife.RIFE(rgbs, multi=2, scale=1.0, device_type="cpu", device_index=0, fp16=False)
    assert same(through_plugin, old)
    with pytest.raises(vs.Error, match="precision='fp16' runs on CUDA only"):
        vsrife.RIFE(rgbs, device_type="cpu", fp16=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gpu_id": 0}, r"gpu_id \(use device=<index>"),
        ({"tta": True}, r"tta \(use ensemble=True\)"),
        ({"uhd": True}, r"uhd \(use scale=0\.5\)"),
        ({"model": 5}, r"model takes a name such as '4\.6'"),
        ({"tile": 2}, r"unknown argument\(s\): tile"),
        ({"device_type": "tpu"}, r"device_type must be 'cuda' or 'cpu'"),
    ],
)
def test_foreign_keywords_name_the_equivalent(rgbs, kwargs, message):
    for call in (vsrife.RIFE, core.rife.RIFE):
        with pytest.raises(vs.Error, match=message):
            call(rgbs, **kwargs)


def test_vs_rife_5x_script_runs_in_vspipe(tmp_path):
    script = tmp_path / "old.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "from vsrife import rife\n"
        f"clip = vs.core.bs.VideoSource({str(sample_path('bikes.mp4'))!r})[40:44]\n"
        "clip = vs.core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s='170m')\n"
        "clip = rife(clip, model='3.9', factor_num=5, factor_den=2, sc=True, auto_download=True)\n"
        "clip = vs.core.resize.Bicubic(clip, format=vs.YUV420P8, matrix_s='170m')\n"
        "clip.set_output()\n"
    )
    result = subprocess.run([str(VSPIPE), "--info", str(script), "-"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Frames: 10" in result.stdout and "FPS: 125/2" in result.stdout


def test_3x_switches_are_accepted_when_off(rgbs):
    old = vsrife.RIFE(rgbs, model="3.9", num_streams=1, fusion=False, cuda_graphs=False, trt=False, sc=True)
    assert same(old, vsrife.RIFE(rgbs, model="3.9"))
    for call in (vsrife.RIFE, core.rife.RIFE):
        with pytest.raises(vs.Error, match="fusion=True: nvFuser left torch"):
            call(rgbs, fusion=True)


def test_2x_positional_form(rgbs):
    """vs-rife 2.x: RIFE(clip, multi, scale, device_type, device_index, fp16), all by position."""
    assert same(vsrife.RIFE(rgbs, 2, 1.0, "cpu", 0, False), vsrife.RIFE(rgbs, device="cpu"))
    with pytest.raises(vs.Error, match="7 positional arguments were given"):
        vsrife.RIFE(rgbs, 2, 1.0, "cpu", 0, False, "4.6")


def test_rife_5x_every_parameter_by_position(rgbs):
    from vsrife import rife

    out = rife(
        rgbs, 0, "3.9", False, 3, 1, None, None, 1.0, False, False, 0.15,
        False, True, [128, 128], [1920, 1080], [1920, 1080], False, 0, None, None, None,
    )  # fmt: skip
    assert same(out, vsrife.RIFE(rgbs, model="3.9", multi=3, sc=False, device="cpu", quality="fast"))


def test_vs_rife_2x_script_runs_in_vspipe(tmp_path):
    script = tmp_path / "old2.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "from vsrife import RIFE\n"
        f"clip = vs.core.bs.VideoSource({str(sample_path('bikes.mp4'))!r})[40:43]\n"
        "clip = vs.core.resize.Bicubic(clip, 160, 68, format=vs.RGBS, matrix_in_s='170m')\n"
        "clip = RIFE(clip, multi=2, scale=1.0, device_type='cuda', device_index=0, fp16=False)\n"
        "clip.set_output()\n"
    )
    result = subprocess.run([str(VSPIPE), "--info", str(script), "-"], capture_output=True, text=True, cwd=ROOT)
    # no CUDA here: the 2.x default device_type='cuda' is a clear error, not a traceback
    if not torch.cuda.is_available():
        assert result.returncode != 0 and "asks for CUDA, but torch sees no CUDA GPU; use device='cpu'" in result.stderr
        script.write_text(script.read_text().replace("device_type='cuda'", "device_type='cpu'"))
        result = subprocess.run([str(VSPIPE), "--info", str(script), "-"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Frames: 6" in result.stdout


# --- weights people already have ------------------------------------------------------------------------------


def upstream_file(folder: Path, model: str, arch_of: str | None = None, seed: int = 0) -> Path:
    """A weight file as vs-rife stores it (``flownet_v<model>.pkl``, keys prefixed ``module.``), with random
    values of the right shapes for ``arch_of`` (default: ``model``'s own architecture)."""
    spec = get_spec(weights.default_manifest().get(arch_of or model).arch)
    torch.manual_seed(seed)
    state = {f"module.{k}": v.clone() for k, v in build_network(spec).state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"flownet_v{model}.pkl"
    torch.save(state, path)
    return path


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """An empty weight store of the test's own, for in-process calls and the processes they start."""
    path = tmp_path / "store"
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(path))
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m vsrife ARGS`` run by its ``main()`` in this process, output captured: the command line's own
    code and exit status without a fresh interpreter importing torch for each of these calls (~4 s each;
    test_cli.py and test_weights.py start real processes)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = vsrife_main.main(list(args))
    return subprocess.CompletedProcess([sys.executable, "-m", "vsrife", *args], code, out.getvalue(), err.getvalue())


def test_vs_rife_models_folder_imports_and_loads(tmp_path, store, rgbs):
    theirs = tmp_path / "site" / "vsrife" / "models"
    mine = upstream_file(theirs, "4.6")
    (theirs / "flownet_v4.7.pkl").write_bytes(b"")  # vs-rife's placeholder for "not downloaded": skipped
    result = run_cli("models", "import", str(theirs))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"4.6: {store / '4.6' / 'flownet_v4.6.pkl'}"
    assert (store / "4.6" / "flownet_v4.6.pkl.sha256").is_file() and not list(store.rglob("*.part"))
    assert same(vsrife.RIFE(rgbs, model="4.6", device="cpu"), vsrife.RIFE(rgbs, model_path=str(mine), device="cpu"))
    assert run_cli("models", "verify", "4.6").returncode == 0
    placeholders_only = tmp_path / "empty"
    placeholders_only.mkdir()
    (placeholders_only / "flownet_v4.7.pkl").write_bytes(b"")
    result = run_cli("models", "import", str(placeholders_only))
    assert result.returncode == 2 and "no weight files to import" in result.stderr


def test_import_refuses_what_does_not_fit(tmp_path, store):
    folder = tmp_path / "in"
    wrong = upstream_file(folder, "4.22", arch_of="4.6")  # named 4.22, holds 4.6's shapes
    result = run_cli("models", "import", str(wrong))
    assert result.returncode == 1 and "does not fit RIFE" in result.stderr and "4.22" in result.stderr
    fake = upstream_file(folder, "3.9")  # 3.9 has a published checksum: a file that is not it is refused
    result = run_cli("models", "import", str(fake))
    assert result.returncode == 1 and "is not the published weights of model 3.9" in result.stderr
    anonymous = folder / "weights.pth"
    anonymous.write_bytes(wrong.read_bytes())
    result = run_cli("models", "import", str(anonymous))
    assert result.returncode == 1 and "name it with --model" in result.stderr
    assert run_cli("models", "import", str(anonymous), "--model", "4.6").returncode == 0
    assert not (store / "4.22").exists() and not (store / "3.9").exists()


def test_a_missing_model_offers_vs_rifes_copy(tmp_path, store, rgbs, monkeypatch):
    site = tmp_path / "site"
    theirs = upstream_file(site / "vsrife" / "models", "4.6")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(vs.Error, match=re.escape(f"take vs-rife's copy: python -m vsrife models import {theirs}")):
        vsrife.RIFE(rgbs, model="4.6")


@pytest.mark.parametrize("form", ["folder", "file-url"])
def test_download_from_a_local_mirror(tmp_path, store, form):
    folder = tmp_path / "mirror"
    upstream_file(folder, "4.6")
    mirror = str(folder) if form == "folder" else folder.as_uri()
    result = run_cli("models", "download", "4.6", "--mirror", mirror)
    assert result.returncode == 0, result.stderr
    assert run_cli("models", "verify", "4.6").returncode == 0


def test_auto_download_fetches_once_with_progress_in_the_log(tmp_path, store, rgbs, monkeypatch):
    folder = tmp_path / "mirror"
    mine = upstream_file(folder, "4.6")
    monkeypatch.setenv(weights.MIRROR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(vs.Error, match=r"the mirror .*nowhere is neither a URL nor a folder"):
        vsrife.RIFE(rgbs, model="4.6", auto_download=True)
    monkeypatch.setenv(weights.MIRROR_ENV, (tmp_path / "empty").as_uri())
    with pytest.raises(vs.Error, match=r"RIFE: could not download file://.*flownet_v4\.6\.pkl"):
        vsrife.RIFE(rgbs, model="4.6", auto_download=True)  # offline or missing: one line, nothing left
    assert not list(store.rglob("*.pkl*"))
    monkeypatch.setenv(weights.MIRROR_ENV, str(folder))
    messages: list[str] = []
    handle = core.add_log_handler(lambda kind, text: messages.append(text))
    try:
        out = vsrife.RIFE(rgbs, model="4.6", auto_download=True)
    finally:
        core.remove_log_handler(handle)
    assert any("auto_download: fetching the weights of model 4.6" in m for m in messages)
    assert any(re.search(r"model 4\.6: [\d.]+ of [\d.]+ MiB", m) for m in messages)
    assert same(out, vsrife.RIFE(rgbs, model_path=str(mine)))
    assert (store / "4.6" / "flownet_v4.6.pkl.sha256").is_file()
