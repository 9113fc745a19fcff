"""python -m training: reference values, datasets from real video, a short real training run, exact resume,
two-process DDP under gloo, export into the plugin, the benchmarks, and errors."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import vapoursynth as vs
from PIL import Image

from training.losses import LapLoss
from training.schedule import learning_rate
from vsrife.arch import build_network, get_spec
from vsrife.metrics import quantize, ssim_matlab
from vsrife.samples import sample_path

from .conftest import ROOT
from .reference import DATA, keys, synthetic_state_dict

core = vs.core
TRAIN = DATA / "train"


def run_training(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def train(dataset: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """A short CPU run with the test settings (COMMON) plus ``extra`` flags."""
    return run_training("train", "--data", str(dataset), "--out", str(out), *COMMON, *extra)


def evaluate(benchmark: str, data: Path, *extra: str) -> dict:
    result = run_training("evaluate", "--benchmark", benchmark, "--data", str(data), *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# --- reference values ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference():
    data = np.load(TRAIN / "train_inputs.npz")
    tensors = {k: torch.from_numpy(data[k]) for k in data.files}
    return tensors, json.loads((TRAIN / "train_expected.json").read_text())


def test_lap_loss_takes_frames_of_any_size():
    """Upstream's pyramid needs multiples of 32; other sizes are padded by their border, multiples untouched."""
    torch.manual_seed(3)
    a, b = torch.rand(1, 3, 144, 176), torch.rand(1, 3, 144, 176)
    lap = LapLoss()
    padded = F.pad(a, (0, 16, 0, 16), mode="replicate"), F.pad(b, (0, 16, 0, 16), mode="replicate")
    assert lap(a, b).item() == pytest.approx(lap(*padded).item())
    assert lap(a[..., :128, :160], b[..., :128, :160]).item() != lap(a, b).item()


def test_lap_loss_and_ssim_match_the_original(reference):
    x, expected = reference
    lap = LapLoss()
    assert lap(x["img0"], x["img1"]).item() == pytest.approx(expected["lap_img0_img1"], rel=1e-5)
    assert lap(x["img0"], x["gt"]).item() == pytest.approx(expected["lap_img0_gt"], rel=1e-5)
    assert ssim_matlab(x["img0"], x["gt"]) == pytest.approx(expected["ssim_matlab_img0_gt"], rel=1e-5)
    blend = quantize((x["img0"] + x["img1"]) / 2)
    assert ssim_matlab(blend, x["gt"]) == pytest.approx(expected["ssim_matlab_blend_gt"], rel=1e-5)


def test_paper_training_losses_match_the_original(reference):
    x, expected = reference
    shapes = keys("paper")["rife-paper"]
    net = build_network(get_spec("rife-paper"))
    net.load_state_dict(synthetic_state_dict(shapes))
    out = net.forward_train(x["img0"], x["img1"], x["gt"])
    lap = LapLoss()
    l1, teacher = lap(out.merged[-1], x["gt"]).item(), lap(out.teacher_merged, x["gt"]).item()
    assert l1 == pytest.approx(expected["paper_loss_l1"], rel=1e-4)
    assert teacher == pytest.approx(expected["paper_loss_tea"], rel=1e-4)
    assert out.distill_loss.item() == pytest.approx(expected["paper_loss_distill"], rel=1e-4)
    assert l1 + teacher + 0.01 * out.distill_loss.item() == pytest.approx(expected["paper_loss_G"], rel=1e-4)


def test_learning_rate_schedule_matches_the_original(reference):
    _, expected = reference
    for step, value in expected["lr_schedule_epoch300_steps761"].items():
        assert learning_rate(int(step), 300 * 761) == pytest.approx(value, rel=1e-9, abs=1e-15)
    assert learning_rate(5000, 300 * 761, world_size=2) == pytest.approx(learning_rate(5000, 300 * 761) / 2)


# --- datasets from real video ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Overlapping triplets from bikes (train, 60 frames, a cut after frame 29) and distinct ones from
    carphone (held out, 60 frames), 120x88: not a multiple of the loss pyramid's 32, as the held-out frames
    of examples/train_on_samples.sh (176x144) are not; validation runs on whole frames."""
    out = tmp_path_factory.mktemp("data") / "triplets"
    result = run_training(
        "make-dataset",
        str(sample_path("bikes.mp4")),
        str(sample_path("carphone_pristine.mp4")),
        "--holdout",
        str(sample_path("carphone_pristine.mp4")),
        "--out",
        str(out),
        "--size",
        "120x88",
        "--stride",
        "1",
        "--max-frames",
        "60",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    # the two training triplets across bikes' cut (28-30, 29-31) are skipped, nothing else
    assert summary == {"out": str(out), "train": 58 - 2, "test": 20, "cuts": 2, "still": 0}
    return out


def test_made_dataset_has_the_vimeo_layout_and_real_frames(dataset):
    train = (dataset / "tri_trainlist.txt").read_text().split()
    test = (dataset / "tri_testlist.txt").read_text().split()
    assert train and test and not set(train) & set(test)
    assert not list(dataset.parent.glob("*.partial"))
    first = dataset / "sequences" / test[0]
    frames = [np.asarray(Image.open(first / f"im{i}.png")) for i in (1, 2, 3)]
    assert all(f.shape == (88, 120, 3) for f in frames)
    # the first held-out triplet is carphone's frames 0-2, cropped: find the crop in the decoded frames
    source = core.bs.VideoSource(str(sample_path("carphone_pristine.mp4"))).resize.Bicubic(
        format=vs.RGB24, matrix_in_s="170m"
    )
    full = [np.dstack([np.asarray(source.get_frame(n)[p]) for p in range(3)]) for n in range(3)]
    where = [
        (y, x)
        for y in range(144 - 88 + 1)
        for x in range(176 - 120 + 1)
        if np.array_equal(full[0][y : y + 88, x : x + 120], frames[0])
    ]
    assert len(where) == 1
    y, x = where[0]
    assert all(np.array_equal(full[i][y : y + 88, x : x + 120], frames[i]) for i in range(3))


# --- training --------------------------------------------------------------------------------------------


COMMON = [
    "--crop",
    "64",
    "--batch-size",
    "4",
    "--workers",
    "0",
    "--threads",
    "1",
    "--warmup-steps",
    "10",
    "--reference-world-size",
    "1",
    "--epochs",
    "50",
    "--image-every-steps",
    "0",
    "--log-every-steps",
    "1",
    "--validation",
    "test",
]


@pytest.mark.slow
def test_a_short_run_learns(dataset, tmp_path):
    run = tmp_path / "run"
    result = train(dataset, run, "--max-steps", "40", "--lr", "6e-4", "--threads", "2")
    assert result.returncode == 0, result.stderr
    validations = [r for r in metrics(run) if "val/psnr" in r]
    assert [r["step"] for r in validations] == [0, 40]
    first, last = validations
    # on the same held-out triplets: the reconstruction loss goes down and PSNR up
    assert last["val/loss"] < 0.8 * first["val/loss"], validations
    assert last["val/psnr"] > first["val/psnr"] + 1.0, validations
    assert (run / "config.json").is_file() and (run / "checkpoint.pt").is_file()
    assert list((run / "tensorboard").iterdir())


@pytest.mark.slow
def test_septuplets_train_rife_m_at_random_timesteps(tmp_path):
    data = tmp_path / "septuplets"
    made = run_training(
        "make-dataset",
        str(sample_path("bikes.mp4")),
        "--out",
        str(data),
        "--septuplet",
        "--size",
        "96x64",
        "--max-frames",
        "28",
        "--stride",
        "1",
    )
    assert made.returncode == 0, made.stderr
    assert (data / "sep_trainlist.txt").is_file() and (data / "sequences" / "00001" / "0001" / "im7.png").is_file()

    from training.data import SEPTUPLET, VimeoDataset

    random_state = random.getstate()
    samples = VimeoDataset(data, "train", SEPTUPLET, crop=64)
    timesteps = {samples[i % len(samples)][3] for i in range(40)}
    random.setstate(random_state)
    assert len(timesteps) > 3 and all(0 < t < 1 for t in timesteps)  # (n1 - n0) / (n2 - n0), both ways

    run = tmp_path / "run"
    result = train(data, run, "--septuplet", "--arch", "rife-paper-m", "--validation", "split", "--max-steps", "3")
    assert result.returncode == 0, result.stderr
    assert [r["step"] for r in metrics(run) if "val/psnr" in r] == [0, 3]


@pytest.mark.slow
def test_resume_continues_exactly(dataset, tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    # the two runs side by side: each trains on one thread (COMMON), and CI has two cores
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "training", "train", "--data", str(dataset), "--out", str(out), *COMMON, *steps],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for out, steps in ((whole, ("--max-steps", "8")), (part, ("--max-steps", "5")))
    ]
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err.decode()[-3000:]
    resumed = run_training("train", "--resume", str(part), "--max-steps", "8")
    assert resumed.returncode == 0, resumed.stderr
    by_step = {r["step"]: r["loss/total"] for r in metrics(whole) if "loss/total" in r}
    after = {r["step"]: r["loss/total"] for r in metrics(part) if "loss/total" in r and r["step"] > 5}
    assert sorted(after) == [6, 7, 8]
    assert all(after[s] == by_step[s] for s in after), (after, by_step)


@pytest.mark.slow
def test_two_processes_under_gloo_stay_in_sync_and_only_rank0_writes(dataset, tmp_path):
    run = tmp_path / "ddp"
    torchrun = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2"]
    args = ["-m", "training", "train", "--data", str(dataset), "--out", str(run), *COMMON]
    result = subprocess.run(
        [*torchrun, *args, "--max-steps", "4", "--checkpoint-every-steps", "2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = metrics(run)
    sums = [r["param_checksums"] for r in records if "param_checksums" in r]
    assert len(sums) >= 2 and all(len(s) == 2 and s[0] == s[1] for s in sums)
    assert len({tuple(s) for s in sums}) == len(sums)  # and the parameters did change between checkpoints
    steps = [r["step"] for r in records if "loss/total" in r]
    assert steps == sorted(set(steps))  # each step logged once: rank 1 wrote nothing
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "config.json", "metrics.jsonl", "tensorboard"]
    # rank 0's checkpoint continues in a single process
    resumed = run_training("train", "--resume", str(run), "--max-steps", "6")
    assert resumed.returncode == 0, resumed.stderr
    assert [r["step"] for r in metrics(run) if "loss/total" in r][-2:] == [5, 6]


@pytest.mark.slow
def test_exported_weights_run_in_the_plugin_and_the_benchmarks(dataset, tmp_path, official_weights):
    run = tmp_path / "run"
    assert train(dataset, run, "--max-steps", "2").returncode == 0
    weights_file = tmp_path / "mine.pkl"
    exported = run_training("export", str(run / "checkpoint.pt"), "--out", str(weights_file))
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["arch"] == "rife-paper"

    clip = core.bs.VideoSource(str(sample_path("carphone_pristine.mp4")))[:3]
    out = clip.rife.RIFE(multi=2, model_path=str(weights_file))
    assert out.num_frames == 6 and out.get_frame(1).format.id == clip.format.id

    # the exported file scores exactly what the checkpoint's network scores
    from training.evaluate import Vimeo90K
    from training.trainer import load_checkpoint
    from vsrife.inference import Interpolator

    network = build_network(get_spec("rife-paper"))
    network.load_state_dict(load_checkpoint(run)["model"])
    direct = Vimeo90K(Interpolator(network, device="cpu", precision="fp32"), dataset).run()
    mine = evaluate("vimeo90k", dataset, "--weights", str(weights_file))
    assert mine["psnr"] == pytest.approx(direct["psnr"], abs=1e-9) and mine["count"] == direct["count"] == 20


def _as_other_layouts(dataset: Path, root: Path) -> None:
    """The held-out triplets again, laid out as UCF101 and as Middlebury's 'other' set."""
    from training.evaluate import MIDDLEBURY

    names = (dataset / "tri_testlist.txt").read_text().split()
    moving = (dataset / "tri_trainlist.txt").read_text().split()[::4]  # bikes: more motion than carphone
    for i, name in enumerate(names):
        ucf = root / "ucf" / f"{i:03d}"
        ucf.mkdir(parents=True)
        for a, b in (("im1.png", "frame_00.png"), ("im3.png", "frame_02.png"), ("im2.png", "frame_01_gt.png")):
            shutil.copy(dataset / "sequences" / name / a, ucf / b)
    for i, name in enumerate(MIDDLEBURY):
        src = dataset / "sequences" / moving[i]
        data, gt = root / "mb" / "other-data" / name, root / "mb" / "other-gt-interp" / name
        data.mkdir(parents=True)
        gt.mkdir(parents=True)
        shutil.copy(src / "im1.png", data / "frame10.png")
        shutil.copy(src / "im3.png", data / "frame11.png")
        shutil.copy(src / "im2.png", gt / "frame10i11.png")


def test_benchmark_layouts_agree(dataset, tmp_path, official_weights):
    _as_other_layouts(dataset, tmp_path)
    vimeo = evaluate("vimeo90k", dataset, "--model", "3.9")
    ucf = evaluate("ucf101", tmp_path / "ucf", "--model", "3.9")
    assert ucf["psnr"] == pytest.approx(vimeo["psnr"]) and ucf["ssim"] == pytest.approx(vimeo["ssim"])
    rife = evaluate("middlebury", tmp_path / "mb", "--model", "3.9")
    blend = evaluate("middlebury", tmp_path / "mb", "--blend")
    assert rife["count"] == 12 and 0 < rife["ie"] < blend["ie"]


def test_hd_benchmark_reads_raw_yuv(tmp_path, official_weights):
    """Raw 8-bit 4:2:0 files under the 11 published names, made from real footage; one triplet each."""
    from training.evaluate import HD_SEQUENCES

    source = core.bs.VideoSource(str(sample_path("bigbuckbunny.mp4")))[60:63]
    for name, height, width in HD_SEQUENCES:
        clip = source.resize.Bicubic(width, height, format=vs.YUV420P8)
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            for n in range(3):
                frame = clip.get_frame(n)
                for p in range(3):
                    f.write(np.asarray(frame[p]).tobytes())
    rife = evaluate("hd", tmp_path, "--model", "3.9", "--limit", "1")
    blend = evaluate("hd", tmp_path, "--blend", "--limit", "1")
    assert rife["count"] == blend["count"] == 11
    assert rife["psnr"] > blend["psnr"] > 20


# --- bad input ---------------------------------------------------------------------------------------------


def _bad_dataset(root: Path, case: str) -> Path:
    data = root / case
    if case == "no-dir":
        return data
    data.mkdir()
    if case == "empty-list":
        (data / "tri_trainlist.txt").write_text("")
    if case == "no-sequences":
        (data / "tri_trainlist.txt").write_text("00001/0001\n" * 40)
        (data / "tri_testlist.txt").write_text("00001/0001\n")
    return data


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-dir", "no such dataset directory"),
        ("no-list", "tri_trainlist.txt: missing"),
        ("empty-list", "the list is empty"),
        ("no-sequences", "sequences: missing"),
    ],
)
def test_bad_datasets_get_one_line_errors(tmp_path, case, message):
    data = _bad_dataset(tmp_path, case)
    result = run_training("train", "--data", str(data), "--out", str(tmp_path / "run"), "--workers", "0")
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_unreadable_image_is_named(dataset, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    name = (broken / "tri_trainlist.txt").read_text().split()[0]
    (broken / "sequences" / name / "im2.png").write_bytes(b"not a png")
    # read by a data-loader worker process, whose errors arrive wrapped in its whole traceback
    result = train(broken, tmp_path / "run", "--max-steps", "40", "--workers", "1")
    assert result.returncode == 2
    assert f"{name}/im2.png: cannot read the image" in result.stderr and "Traceback" not in result.stderr
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("train:")]  # the rest is the progress bar
    assert len(errors) == 1 and errors[0].startswith("error: ") and "Caught" not in errors[0], errors


def test_checkpoint_of_another_architecture_is_refused(dataset, tmp_path):
    run = tmp_path / "run"
    assert train(dataset, run, "--max-steps", "1").returncode == 0
    result = run_training("train", "--resume", str(run), "--arch", "rife-paper-m", "--septuplet")
    assert result.returncode == 2
    assert "a checkpoint of rife-paper, not rife-paper-m" in result.stderr
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    result = run_training("export", str(junk), "--out", str(tmp_path / "w.pkl"))
    assert result.returncode == 2 and "not a readable training checkpoint" in result.stderr
    assert not (tmp_path / "w.pkl").exists()
