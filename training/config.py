"""Training configuration: defaults (the original recipe), then a TOML/JSON file, then command-line flags.

The resolved configuration is saved as ``config.json`` in the run directory and inside every checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    data: str = ""  # dataset root (Vimeo90K layout)
    septuplet: bool = False  # train on septuplets with random timesteps (RIFEm)
    arch: str = "rife-paper"  # rife-paper | rife-paper-m (the paper networks, with teacher)
    out: str = "train_log/run"  # run directory: config, checkpoints, TensorBoard, metrics.jsonl
    epochs: int = 300
    batch_size: int = 16  # per process
    crop: int = 224
    lr: float = 3e-4
    lr_min: float = 3e-6
    warmup_steps: int = 2000
    reference_world_size: int = 4  # the learning rate is scaled by world_size / this
    weight_decay: float = 1e-3
    distill_weight: float = 0.01  # the original comment suggests 0.005 or 0.002 for RIFEm
    workers: int = 8  # data-loader processes per training process (0: load in the training process)
    seed: int = 1234
    validation: str = "split"  # split: last 5% of the train list; test: the test list (e.g. a held-out clip)
    val_every_epochs: int = 5
    val_every_steps: int = 0  # also validate every N steps (0: off)
    checkpoint_every_steps: int = 0  # also checkpoint every N steps (0: once per epoch)
    image_every_steps: int = 500  # TensorBoard images
    log_every_steps: int = 10
    max_steps: int = 0  # stop after N steps in all (0: run all epochs)
    max_minutes: float = 0.0  # stop after this much wall time (0: no limit)
    amp: bool = True  # float16 autocast + GradScaler on CUDA (ignored on the CPU)
    compile: bool = False  # torch.compile the model
    device: str = ""  # "" = cuda:<local rank> if available, else cpu
    threads: int = 0  # torch threads per process (0: torch's default)

    @property
    def layout_name(self) -> str:
        return "septuplet" if self.septuplet else "triplet"


def _read_file(path: Path) -> dict[str, Any]:
    if path.suffix == ".json":
        return json.loads(path.read_text())
    with open(path, "rb") as f:
        return tomllib.load(f)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per field (booleans as ``--x/--no-x``), defaulting to "not given"."""
    parser.add_argument("--config", type=Path, help="a TOML or JSON file of settings (flags override it)")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.type in ("bool", bool):
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=None)
        else:
            kind = {"int": int, "float": float, "str": str}[str(field.type)]
            parser.add_argument(flag, dest=field.name, type=kind, default=None)


def resolve(args: argparse.Namespace, base: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults < ``base`` (e.g. a resumed run's config) < ``--config`` file < flags."""
    values = dataclasses.asdict(TrainConfig())
    values.update(base or {})
    if getattr(args, "config", None):
        from_file = _read_file(args.config)
        unknown = set(from_file) - set(values)
        if unknown:
            raise ValueError(f"{args.config}: unknown settings {', '.join(sorted(unknown))}")
        values.update(from_file)
    for name in values:
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    return TrainConfig(**values)
