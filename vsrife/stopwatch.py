"""Timing several ways of doing one thing, fairly: the ways take turns, so that the machine's drift and
other programs' bursts fall on all of them rather than on whichever ran last. Used by the path choice
(:mod:`vsrife.precisions`) and the benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable


def in_turns(
    runs: dict[str, Callable[[], object]], rounds: int, *, warm_up: bool = True, give_up: float | None = None
) -> dict[str, list[float]]:
    """Seconds of ``rounds`` calls of each run, one call of each per round.

    ``warm_up``: call each run once first, untimed (oneDNN builds its kernels on the first call of a shape).
    ``give_up``: a run more than this many times slower than the fastest in the first round is not called
    again (its list keeps that one figure)."""
    if warm_up:
        for run in runs.values():
            run()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(rounds):
        for name, run in runs.items():
            if round_ and give_up is not None and seconds[name][0] > give_up * min(s[0] for s in seconds.values()):
                continue
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return seconds
