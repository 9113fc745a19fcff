"""The examples as a user runs them: examples/encode.sh (no activated venv, no x265 program, a frame range,
progress on stderr, nothing half-written left after a failure or Ctrl-C) and the training proof script."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import vapoursynth as vs

from vsrife.samples import sample_path

from .conftest import ROOT

ENCODE = ROOT / "examples" / "encode.sh"
PLAIN_PATH = "/usr/bin:/bin"  # what a new shell has: not the project's venv

pytestmark = pytest.mark.usefixtures("official_weights")


def encode(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": PLAIN_PATH}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([str(ENCODE), *args], capture_output=True, text=True, env=env, timeout=600, **kw)


def decoded_frames(path) -> int:
    return vs.core.bs.VideoSource(str(path)).num_frames


@pytest.mark.parametrize("encoder", ["ffmpeg", "x265"])
def test_encodes_a_frame_range_with_progress_outside_the_venv(tmp_path, encoder):
    if encoder == "x265" and not shutil.which("x265", path=PLAIN_PATH):
        pytest.skip("the x265 program is not installed (.ci/run installs it)")
    out = tmp_path / "out.hevc"
    result = encode("--encoder", encoder, "--start", "10", "--end", "15", str(sample_path("bikes.mp4")), str(out))
    assert result.returncode == 0, result.stderr
    assert decoded_frames(out) == 12  # source frames 10-15, 2x
    assert "Script evaluation done" in result.stderr  # vspipe -p: progress is on
    assert [p.name for p in tmp_path.iterdir()] == ["out.hevc"]
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # not mktemp's private mode


def test_bad_input_is_refused_and_leaves_nothing(tmp_path):
    result = encode(str(tmp_path / "missing.mkv"), str(tmp_path / "out.hevc"))
    assert result.returncode == 2 and "no such input file" in result.stderr
    result = encode("--encoder", "vp9", str(sample_path("bikes.mp4")), str(tmp_path / "out.hevc"))
    assert result.returncode == 2 and "--encoder must be x265 or ffmpeg" in result.stderr
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(b"not a video")
    result = encode("--encoder", "ffmpeg", str(broken), str(tmp_path / "out.hevc"))
    assert result.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mkv"]


def test_ctrl_c_leaves_nothing(tmp_path):
    out = tmp_path / "out.hevc"
    env = {**os.environ, "PATH": PLAIN_PATH}
    process = subprocess.Popen(
        [str(ENCODE), "--encoder", "ffmpeg", str(sample_path("bikes.mp4")), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # its own process group, as a job in a terminal
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".out.hevc.*.part")):
        time.sleep(0.2)
    assert list(tmp_path.glob(".out.hevc.*.part")), "the encode never started"
    time.sleep(5)  # vspipe is interpolating, the encoder receiving
    assert process.poll() is None
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert list(tmp_path.iterdir()) == [], err


@pytest.mark.slow
def test_the_training_proof_script_runs_end_to_end(tmp_path):
    """examples/train_on_samples.sh at a tiny budget: the dataset from the sample clips (176x144 held-out
    frames, which the loss pyramid's 32 does not divide), training with validation, export, and the scores
    of blending, the official 3.9 and the trained network on the same triplets."""
    out = tmp_path / "proof"
    env = {**os.environ, "MAX_FRAMES": "8", "PYTHON": sys.executable}
    result = subprocess.run(
        [str(ROOT / "examples" / "train_on_samples.sh"), str(out), "0.1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["model"] for r in rows][:2] == ["blend", "3.9"] and rows[2]["model"].endswith("(rife-paper)")
    assert all(r["count"] > 0 and r["psnr"] > 10 for r in rows)
    assert any("val/psnr" in json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines())
