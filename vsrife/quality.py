"""Quality settings: what the network spends per frame beyond the original's choices, and the default.

========== ============================== ====================================================================
name       ensemble                       flow scale (``scale=None``)
========== ============================== ====================================================================
``fast``   no                             1.0: the original implementation's choices
``balanced`` yes, where the model can     1.0; 0.5 for frames larger than 2560x1440 (as upstream advises 4K)
``best``   yes, where the model can       as ``balanced``; and model 3.1 when no model is named and the
                                          factor is a power of two (3.1 has no timestep input)
========== ============================== ====================================================================

Ensembling (also running each block on the time-reversed pair and averaging) gains 0.6-1.2 dB on every real
clip measured (``python -m vsrife.quality_study``; docs/quality.md) for about 1.8 times the network's work.
Model 3.1 (with its refinement networks) beats 3.9 with ensemble on every clip, by 0.4 dB on average and
1.2 dB over 3.9 alone, at 3.0-3.7 times 3.9's time: ``best`` only, never a default.
The default is ``balanced`` where that fits in the time the original implementation takes per frame and
``fast`` where it does not, decided from what was measured on this machine: a path's speed-up over ``fp32``
on whole frames (:meth:`vsrife.precisions.Choice.speedup`) must cover the model's ensemble cost. That path
may be a faster one than the plain default (``int8``, whose small losses ensemble more than makes up for)
unless ``precision=`` is given. Our ``fp32`` path is never slower than the original (the same operations, better
memory handling: 1.04-1.54x faster in the benchmark run of docs/quality.md), so a path that is that much
faster than ``fp32`` with ensemble is no slower than the original without. Explicit ``ensemble=`` and
``scale=`` always win over the setting.
"""

from __future__ import annotations

from dataclasses import dataclass

from .arch import ArchSpec
from .errors import RifeError
from .precisions import Choice

UHD_PIXELS = 2560 * 1440  # above this, scale=None means 0.5


@dataclass(frozen=True)
class Quality:
    """One named setting: whether to ensemble and how to choose the flow scale from the frame size."""

    name: str
    summary: str
    ensemble: bool
    coarse_flow_for_uhd: bool
    model: str | None = None  # preferred when none is named and the factor needs no timestep input

    def scale_for(self, width: int, height: int) -> float:
        return 0.5 if self.coarse_flow_for_uhd and width * height > UHD_PIXELS else 1.0


QUALITIES = {
    q.name: q
    for q in (
        Quality("fast", "the original's choices: no ensemble, flow scale 1", ensemble=False, coarse_flow_for_uhd=False),
        Quality("balanced", "ensemble where the model can; flow scale 0.5 above 1440p", True, True),
        Quality("best", "model 3.1 for factors 2, 4, 8 ..., else as balanced", True, True, model="3.1"),
    )
}

# The network's time with ensemble over its time without, measured with `python -m vsrife.quality_study` (the
# "cost" column; fast32, AMD EPYC Zen 3); unmeasured architectures are taken at 2 (every block twice).
ENSEMBLE_COST = {"3.9": 1.8}
UNMEASURED_ENSEMBLE_COST = 2.0


@dataclass(frozen=True)
class Verdict:
    quality: Quality
    why: str
    precision: str | None = None  # the path to run it on, where the setting chose one

    def settings(self, spec: ArchSpec, precision: str, width: int, height: int) -> tuple[str, bool, float]:
        """The path, ensemble and flow scale this verdict runs a ``width`` x ``height`` clip of model ``spec``
        with, where ``precision`` is the path chosen otherwise (the filter's defaults; its explicit arguments
        win over each)."""
        ensemble = self.quality.ensemble and spec.can_ensemble
        return self.precision or precision, ensemble, self.quality.scale_for(width, height)


def get(name: str) -> Quality:
    try:
        return QUALITIES[name]
    except KeyError:
        raise RifeError(f"quality must be one of {', '.join(QUALITIES)}, not {name!r}") from None


def default(spec: ArchSpec, precision: str, choice: Choice | None, path_given: bool = False) -> Verdict:
    """``balanced`` if its ensemble fits in the original's time per frame on this machine, else ``fast``.

    ``choice`` is the CPU's measured precision verdict (``None`` on CUDA, where nothing is measured yet:
    ``fast``). Unless the caller fixed the path (``path_given``), ``balanced`` may run on a faster measured
    path than the plain default (``int8``: ensemble more than makes up for what it loses)."""
    if not spec.can_ensemble:
        return Verdict(QUALITIES["fast"], f"model {spec.name} cannot ensemble")
    measured = {} if choice is None else {p: choice.speedup(p) for p in choice.timed_paths}
    speedups = {p: s for p, s in measured.items() if s is not None}
    if precision not in speedups:
        return Verdict(QUALITIES["fast"], "no measurement of this device says that ensemble would fit in time")
    cost = ENSEMBLE_COST.get(spec.name, UNMEASURED_ENSEMBLE_COST)
    path = precision if path_given else max(speedups, key=speedups.__getitem__)
    speedup = speedups[path]
    if speedup >= cost:
        why = f"{path} is {speedup:.2f}x fp32 here, more than the {cost:g}x that ensemble costs"
        return Verdict(QUALITIES["balanced"], why, path)
    which = path if path_given else f"the fastest path here, {path},"
    why = f"{which} is {speedup:.2f}x fp32, less than the {cost:g}x ensemble would cost"
    return Verdict(QUALITIES["fast"], why)
