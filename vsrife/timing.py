"""Output length, frame mapping and timing for a rational rate factor.

N source frames and a factor ``num/den`` (reduced, > 1) give ``ceil(N * num / den)`` output frames. Output
frame ``n`` shows source frame ``n * den // num`` at timestep ``(n * den % num) / num``; the outputs after
the last source frame hold it. This keeps the total duration: every source frame's time is split evenly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import vapoursynth as vs

from .nodes import uncached

core = vs.core


@dataclass(frozen=True)
class FrameMap:
    num: int
    den: int
    source_frames: int

    def __post_init__(self) -> None:
        factor = Fraction(self.num, self.den)
        if (factor.numerator, factor.denominator) != (self.num, self.den):
            raise ValueError("FrameMap needs a reduced fraction")

    @property
    def length(self) -> int:
        return -(-self.source_frames * self.num // self.den)

    def source(self, n: int) -> int:
        return n * self.den // self.num

    def timestep(self, n: int) -> Fraction:
        return Fraction(n * self.den % self.num, self.num)

    def is_source_frame(self, n: int) -> bool:
        return n % self.num == 0  # n * den % num == 0 with gcd(num, den) == 1

    def spread(self, clip: vs.VideoNode) -> vs.VideoNode:
        """Output frame ``n`` -> ``clip``'s frame ``source(n)``, with fps and per-frame durations divided by
        the factor (``Interleave`` and ``SelectEvery`` adjust both, also for variable-rate clips). The spread
        nodes keep no frames of their own: ``clip``'s cache, if any, serves repeated requests."""
        spread = uncached(core.std.Interleave([clip] * self.num))
        return uncached(spread.std.SelectEvery(self.den, 0)) if self.den > 1 else spread


def factor_from_args(
    clip: vs.VideoNode,
    multi: int | None,
    factor_num: int | None,
    factor_den: int | None,
    fps_num: int | None,
    fps_den: int | None,
    *,
    allow_same_rate: bool = False,
) -> Fraction:
    """The rate factor the arguments ask for (raises ``ValueError`` with a user-facing message); a factor of 1
    only with ``allow_same_rate`` (dedup replaces repeated frames without adding any)."""
    given = {"multi": multi, "factor_num": factor_num, "factor_den": factor_den, "fps_num": fps_num, "fps_den": fps_den}
    for name, value in given.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(
                f"{name} must be a whole number, not {value!r} (use factor_num/factor_den for "
                "fractions, e.g. 5 and 2 for 2.5)"
            )
    if fps_num is not None or fps_den is not None:
        if factor_num is not None or factor_den is not None:
            raise ValueError("give either fps_num/fps_den or factor_num/factor_den, not both")
        if fps_num is None:
            raise ValueError("fps_den needs fps_num")
        if fps_num < 1 or (fps_den is not None and fps_den < 1):
            raise ValueError("fps_num and fps_den must be positive")
        if clip.fps == 0:
            raise ValueError(
                "fps_num/fps_den need a clip with a known frame rate, and this one has none (variable rate "
                "or unknown). Use multi= or factor_num/factor_den, or set a rate with std.AssumeFPS first"
            )
        factor = Fraction(fps_num, fps_den or 1) / clip.fps
    elif factor_num is not None or factor_den is not None:
        if factor_num is None:
            raise ValueError("factor_den needs factor_num")
        if factor_num < 1 or (factor_den is not None and factor_den < 1):
            raise ValueError("factor_num and factor_den must be positive")
        factor = Fraction(factor_num, factor_den or 1)
    else:
        if multi is None:
            multi = 2
        if multi < 2 and not (allow_same_rate and multi == 1):
            raise ValueError(f"multi must be at least 2 (got {multi}); use factor_num/factor_den for other factors")
        factor = Fraction(multi)
    if factor < 1 or (factor == 1 and not allow_same_rate):
        raise ValueError(
            f"the factor {factor} would not raise the frame rate; RIFE only adds frames. To drop frames use "
            "std.SelectEvery, or change_fps from vstools"
        )
    return factor
