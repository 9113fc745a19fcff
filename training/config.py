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


def option(default: Any, help: str) -> Any:
    """A setting with its help text: the one place that explains it (flags, ``--help`` and config files)."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    data: str = option("", "dataset root in the Vimeo90K layout (see `make-dataset`)")
    septuplet: bool = option(False, "train on septuplets with random timesteps (RIFEm)")
    arch: str = option("rife-paper", "rife-paper or rife-paper-m (the paper networks, with teacher)")
    out: str = option("train_log/run", "run directory: config, checkpoints, TensorBoard logs, metrics.jsonl")
    epochs: int = option(300, "epochs of the cosine schedule")
    batch_size: int = option(16, "triplets per step and process")
    crop: int = option(224, "side of the square random crops, in pixels")
    lr: float = option(3e-4, "peak learning rate, reached after the warm-up")
    lr_min: float = option(3e-6, "learning rate at the end of the cosine schedule")
    warmup_steps: int = option(2000, "steps of linear warm-up from 0 to --lr")
    reference_world_size: int = option(4, "the learning rate is scaled by world size / this")
    weight_decay: float = option(1e-3, "AdamW weight decay")
    distill_weight: float = option(0.01, "weight of the distillation loss (0.005 or 0.002 suggested for RIFEm)")
    workers: int = option(8, "data-loader processes per training process (0: load in the training process)")
    seed: int = option(1234, "random seed of crops, augmentation and initialisation")
    validation: str = option("split", "split: the last 5% of the train list; test: the test list (a held-out clip)")
    val_every_epochs: int = option(5, "validate every N epochs")
    val_every_steps: int = option(0, "also validate every N steps (0: off)")
    checkpoint_every_steps: int = option(0, "also write a checkpoint every N steps (0: once per epoch)")
    image_every_steps: int = option(500, "write TensorBoard images every N steps")
    log_every_steps: int = option(10, "write scalars every N steps")
    max_steps: int = option(0, "stop after N steps in all (0: run every epoch)")
    max_minutes: float = option(0.0, "stop after this much wall time (0: no limit)")
    amp: bool = option(True, "float16 autocast and gradient scaling on CUDA (ignored on the CPU)")
    compile: bool = option(False, "torch.compile the model")
    device: str = option("", "cpu, cuda or cuda:N (default: cuda:<local rank> when available, else the CPU)")
    threads: int = option(0, "torch threads per process (0: torch's default)")

    @property
    def layout_name(self) -> str:
        return "septuplet" if self.septuplet else "triplet"


def _read_file(path: Path) -> dict[str, Any]:
    if path.suffix == ".json":
        return json.loads(path.read_text())
    with open(path, "rb") as f:
        return tomllib.load(f)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per field (booleans as ``--x/--no-x``) with the field's help and default; the parsed
    value stays ``None`` when the flag is not given, so a config file or resumed run can supply it."""
    parser.add_argument("--config", type=Path, help="a TOML or JSON file of settings (flags override it)")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        text = field.metadata["help"]
        if "default:" not in text:
            text += f" (default: {field.default if field.default != '' else 'none'})"
        text = text.replace("%", "%%")
        if field.type in ("bool", bool):
            action = argparse.BooleanOptionalAction
            parser.add_argument(flag, dest=field.name, action=action, default=None, help=text)
        else:
            kind = {"int": int, "float": float, "str": str}[str(field.type)]
            metavar = field.name.upper().split("_")[-1]
            parser.add_argument(flag, dest=field.name, type=kind, default=None, help=text, metavar=metavar)


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
