"""Turn a training checkpoint into a weight file the plugin loads (``model_path=`` or the weight store)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vsrife.weights import check_architecture, get_spec

from .trainer import load_checkpoint


def export(checkpoint: Path, out: Path) -> str:
    """Write the network's state dict (teacher block included, as the paper networks define it) to ``out``,
    atomically; returns the architecture name."""
    payload = load_checkpoint(checkpoint)
    arch = payload["config"]["arch"]
    check_architecture(get_spec(arch), payload["model"], str(checkpoint))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload["model"], tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return arch
