"""The paper's learning-rate schedule: linear warm-up, then cosine decay, scaled by the number of GPUs."""

from __future__ import annotations

import math


def learning_rate(
    step: int,
    total_steps: int,
    peak: float = 3e-4,
    floor: float = 3e-6,
    warmup: int = 2000,
    world_size: int = 4,
    reference_world_size: int = 4,
) -> float:
    """``peak * step / warmup`` for the first ``warmup`` steps, then cosine from ``peak`` to ``floor`` at
    ``total_steps``; times ``world_size / reference_world_size`` (the recipe used 4 GPUs)."""
    if step < warmup:
        lr = peak * step / warmup
    else:
        progress = (step - warmup) / max(1, total_steps - warmup)
        lr = (peak - floor) * (0.5 * math.cos(math.pi * progress) + 0.5) + floor
    return lr * world_size / reference_world_size
