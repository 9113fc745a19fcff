"""The training loop: the paper's recipe, DistributedDataParallel, checkpoints that resume exactly.

One process per GPU (or CPU process), started by ``torchrun``; a single process without it. Rank 0 alone
logs (progress bar, TensorBoard, ``metrics.jsonl``) and writes checkpoints, atomically. A checkpoint holds
the model, optimiser, schedule, step, position in the epoch and every random generator's state, so a run
resumed with the same seed and no loader workers continues with the losses an uninterrupted run has.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from vsrife.arch import build_network, get_spec
from vsrife.metrics import psnr

from .config import TrainConfig
from .data import SEPTUPLET, TRIPLET, VimeoDataset, collate
from .losses import LapLoss
from .schedule import learning_rate

CHECKPOINT = "checkpoint.pt"


class CheckpointError(ValueError):
    pass


class TrainingStep(nn.Module):
    """The network plus its losses, so DistributedDataParallel sees one ``forward``."""

    def __init__(self, network: nn.Module, distill_weight: float) -> None:
        super().__init__()
        self.network = network
        self.lap = LapLoss()
        self.distill_weight = distill_weight

    def forward(self, img0: Tensor, gt: Tensor, img1: Tensor, timestep: Tensor) -> dict[str, Tensor]:
        out = self.network.forward_train(img0, img1, gt, timestep.view(-1, 1, 1, 1))
        l1 = self.lap(out.merged[-1], gt)
        teacher = self.lap(out.teacher_merged, gt)
        total = l1 + teacher + self.distill_weight * out.distill_loss
        return {
            "total": total,
            "l1": l1,
            "teacher": teacher,
            "distill": out.distill_loss,
            "prediction": out.merged[-1].detach(),
            "teacher_prediction": out.teacher_merged.detach(),
        }


# --- process group ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(cfg: TrainConfig) -> tuple[Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    info = Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    if cfg.device:
        device = torch.device(cfg.device)
    elif torch.cuda.is_available():
        device = torch.device("cuda", info.local_rank)
    else:
        device = torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device


# --- checkpoints -----------------------------------------------------------------------------------------


def rng_state() -> dict:
    state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [state[0], torch.from_numpy(state[1].copy()), state[2], state[3], state[4]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    random.setstate(_as_tuples(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write to a temporary file beside ``path``, then rename: a crash never leaves half a checkpoint."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, arch: str | None = None) -> dict:
    path = path / CHECKPOINT if path.is_dir() else path
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable training checkpoint ({exc})") from None
    if not isinstance(payload, dict) or "model" not in payload or "config" not in payload:
        raise CheckpointError(f"{path}: not a training checkpoint (expected model, optimizer, step, config)")
    if arch is not None and payload["config"]["arch"] != arch:
        raise CheckpointError(f"{path}: a checkpoint of {payload['config']['arch']}, not {arch}")
    return payload


# --- the loop ------------------------------------------------------------------------------------------


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: Path | None = None) -> None:
        self.cfg = cfg
        checkpoint = load_checkpoint(resume, cfg.arch) if resume is not None else None
        self.dist, self.device = init_distributed(cfg)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        spec = get_spec(cfg.arch)
        if not spec.teacher:
            raise ValueError(f"--arch {cfg.arch} has no teacher block to train with; use rife-paper or rife-paper-m")
        if cfg.septuplet and not spec.timestep:
            raise ValueError("--septuplet trains arbitrary timesteps: use --arch rife-paper-m")
        layout = SEPTUPLET if cfg.septuplet else TRIPLET
        self.train_set = VimeoDataset(cfg.data, "train", layout, crop=cfg.crop)
        self.val_set = VimeoDataset(cfg.data, "test" if cfg.validation == "test" else "validation", layout, crop=None)
        self.sampler = DistributedSampler(
            self.train_set, self.dist.world_size, self.dist.rank, shuffle=True, seed=cfg.seed, drop_last=True
        )
        self.steps_per_epoch = len(self.sampler) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"{cfg.data}: {len(self.train_set)} training samples are fewer than one batch "
                f"of {cfg.batch_size} per process"
            )
        self.total_steps = cfg.epochs * self.steps_per_epoch

        self._seed(cfg.seed + self.dist.rank)
        self.network = build_network(spec).to(self.device)
        self.step_module = TrainingStep(self.network, cfg.distill_weight).to(self.device)
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=1e-6, weight_decay=cfg.weight_decay)
        self.amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.step = 0
        self.batch_in_epoch = 0
        self.last_validated = -1
        self.last_checkpoint = -1
        self.started = time.monotonic()  # wall time of this process's run, logged with every record
        if checkpoint is not None:
            self._restore(checkpoint)
        model: nn.Module = self.step_module
        if self.dist.world_size > 1:
            devices = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=devices)
        self.model = torch.compile(model) if cfg.compile else model

        self.out = Path(cfg.out)
        self.writer = None
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tensorboard"))

    @staticmethod
    def _seed(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _restore(self, payload: dict) -> None:
        self.network.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scaler.load_state_dict(payload["scaler"])
        self.step, self.batch_in_epoch = payload["step"], payload["batch_in_epoch"]
        ranks = payload["rng"]
        set_rng_state(ranks[self.dist.rank] if self.dist.rank < len(ranks) else ranks[0])

    def _checkpoint(self) -> None:
        if self.step == self.last_checkpoint:
            return
        self.last_checkpoint = self.step
        states = [rng_state()]
        if self.dist.world_size > 1:
            # tensors do not survive all_gather_object's pickling: send each rank's state as torch.save bytes
            buffer = io.BytesIO()
            torch.save(rng_state(), buffer)
            blobs = [None] * self.dist.world_size
            dist.all_gather_object(blobs, buffer.getvalue())
            states = [torch.load(io.BytesIO(b), weights_only=True) for b in blobs]
            # a cheap proof that DDP kept the replicas identical: every rank's parameter checksum, logged
            checksums = [None] * self.dist.world_size
            dist.all_gather_object(checksums, parameter_checksum(self.network))
            self._log({"step": self.step, "param_checksums": checksums})
        if not self.dist.main:
            return
        payload = {
            "model": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "scheduler": {
                "total_steps": self.total_steps,
                "warmup": self.cfg.warmup_steps,
                "peak": self.cfg.lr,
                "floor": self.cfg.lr_min,
                "world_size": self.dist.world_size,
            },
            "step": self.step,
            "batch_in_epoch": self.batch_in_epoch,
            "rng": states,
            "config": dataclasses.asdict(self.cfg),
        }
        save_checkpoint(self.out / CHECKPOINT, payload)

    def _log(self, record: dict) -> None:
        if not self.dist.main:
            return
        record = {**record, "seconds": round(time.monotonic() - self.started, 1)}
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        for key, value in record.items():
            if isinstance(value, int | float) and key not in ("step", "epoch", "seconds"):
                self.writer.add_scalar(key, value, record["step"])

    def batches(self, epoch: int) -> list[list[int]]:
        self.sampler.set_epoch(epoch)
        order = list(self.sampler)
        size = self.cfg.batch_size
        return [order[i : i + size] for i in range(0, self.steps_per_epoch * size, size)]

    def _validate(self, epoch: float) -> None:
        self._log({"step": self.step, "epoch": epoch, **self.validate()})
        self.last_validated = self.step

    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        self.network.eval()
        scores, teacher_scores, losses = [], [], []
        for index in range(self.dist.rank, len(self.val_set), self.dist.world_size):
            img0, gt, img1, t = (x.unsqueeze(0) if torch.is_tensor(x) else x for x in self.val_set[index])
            img0, gt, img1 = (x.to(self.device).float() / 255 for x in (img0, gt, img1))
            h, w = img0.shape[-2:]
            pad = (0, -w % 32, 0, -h % 32)
            padded = [nn.functional.pad(x, pad) for x in (img0, gt, img1)]
            out = self.network.forward_train(padded[0], padded[2], padded[1], t)
            scores.append(psnr(out.merged[-1][..., :h, :w], gt))
            teacher_scores.append(psnr(out.teacher_merged[..., :h, :w], gt))
            losses.append(self.step_module.lap(out.merged[-1][..., :h, :w], gt).item())
        self.network.train()
        totals = torch.tensor([sum(scores), sum(teacher_scores), sum(losses), len(scores)], dtype=torch.float64)
        if self.dist.world_size > 1:
            dist.all_reduce(totals)
        count = totals[3]
        return {
            "val/psnr": (totals[0] / count).item(),
            "val/psnr_teacher": (totals[1] / count).item(),
            "val/loss": (totals[2] / count).item(),
        }

    def run(self) -> None:
        cfg = self.cfg
        start = time.monotonic()
        last_step = self.total_steps if not cfg.max_steps else min(self.total_steps, cfg.max_steps)
        bar = tqdm(total=last_step, initial=self.step, file=sys.stderr, disable=not self.dist.main, desc="train")
        try:
            self._run(bar, start, last_step)
        finally:
            bar.close()  # an error message then starts on a line of its own, not after the bar
        if self.writer:
            self.writer.close()
        if self.dist.world_size > 1:
            dist.barrier()

    def _run(self, bar: tqdm, start: float, last_step: int) -> None:
        """The loop: validate at step 0, train to ``last_step`` (or the time limit), validating and writing
        checkpoints as configured, and validate once more at the end."""
        cfg = self.cfg
        if self.step == 0:
            self._validate(0)
        self.network.train()
        stop = self.step >= last_step
        while not stop:
            epoch = self.step // self.steps_per_epoch
            batches = self.batches(epoch)[self.batch_in_epoch :]
            loader = DataLoader(
                self.train_set,
                batch_sampler=batches,
                num_workers=cfg.workers,
                collate_fn=collate,
                worker_init_fn=_seed_worker,
                pin_memory=self.device.type == "cuda",
            )
            for img0, gt, img1, t in loader:
                losses = self._train_step(img0, gt, img1, t)
                self.step += 1
                self.batch_in_epoch = (self.batch_in_epoch + 1) % self.steps_per_epoch
                bar.update(1)
                bar.set_postfix(loss=f"{losses['total']:.4f}")
                self._after_step(losses, epoch, img0, gt, img1)
                out_of_time = cfg.max_minutes and time.monotonic() - start > cfg.max_minutes * 60
                if self.step >= last_step or out_of_time:
                    stop = True
                    break
            epoch_done = self.batch_in_epoch == 0
            if epoch_done and (epoch + 1) % cfg.val_every_epochs == 0:
                self._validate(epoch + 1)
            if epoch_done or stop:
                self._checkpoint()
        if self.last_validated != self.step:
            self._validate(self.step / self.steps_per_epoch)

    def _train_step(self, img0: Tensor, gt: Tensor, img1: Tensor, t: Tensor) -> dict[str, float]:
        cfg = self.cfg
        lr = learning_rate(
            self.step,
            self.total_steps,
            cfg.lr,
            cfg.lr_min,
            cfg.warmup_steps,
            self.dist.world_size,
            cfg.reference_world_size,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        img0, gt, img1 = (x.to(self.device, non_blocking=True).float() / 255 for x in (img0, gt, img1))
        t = t.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            out = self.model(img0, gt, img1, t)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(out["total"]).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self._last = out
        return {k: v.item() for k, v in out.items() if v.dim() == 0} | {"lr": lr}

    def _after_step(self, losses: dict[str, float], epoch: int, img0: Tensor, gt: Tensor, img1: Tensor) -> None:
        cfg = self.cfg
        if self.step % cfg.log_every_steps == 0 or self.step == 1:
            record = {
                "step": self.step,
                "epoch": epoch,
                "loss/total": losses["total"],
                "loss/l1": losses["l1"],
                "loss/teacher": losses["teacher"],
                "loss/distill": losses["distill"],
                "lr": losses["lr"],
            }
            if not math.isfinite(losses["total"]):
                raise FloatingPointError(f"step {self.step}: the loss is {losses['total']}")
            self._log(record)
        if self.writer and cfg.image_every_steps and self.step % cfg.image_every_steps == 0:
            row = [img0[0], gt[0].float() / 255 if gt.dtype == torch.uint8 else gt[0], img1[0]]
            row = [x.float() / 255 if x.dtype == torch.uint8 else x for x in row]
            grid = torch.cat(
                [*row, self._last["prediction"][0].float().cpu(), self._last["teacher_prediction"][0].float().cpu()], 2
            ).clamp(0, 1)
            self.writer.add_image("img0 | gt | img1 | student | teacher", grid, self.step)
        if cfg.val_every_steps and self.step % cfg.val_every_steps == 0:
            self._validate(self.step / self.steps_per_epoch)
        if cfg.checkpoint_every_steps and self.step % cfg.checkpoint_every_steps == 0:
            self._checkpoint()


def parameter_checksum(network: nn.Module) -> str:
    import hashlib

    digest = hashlib.sha256()
    for tensor in network.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
