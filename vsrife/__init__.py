"""vsrife: RIFE video frame interpolation for VapourSynth.

``vsrife.RIFE(clip, multi=2, ...)`` is the filter (also ``core.rife.RIFE`` in any script, no import
needed); :mod:`vsrife.arch` holds the networks, :mod:`vsrife.weights` the weight store and
:mod:`vsrife.inference` the two-frames-in core.
"""

from __future__ import annotations

from typing import Any

from .allocator import request_huge_pages

__all__ = ["RIFE"]

request_huge_pages()  # before torch's first allocation, or never: see vsrife.allocator


def __getattr__(name: str) -> Any:
    # `python -m vsrife models ...` and training should not need to import VapourSynth
    if name == "RIFE":
        from .filter import RIFE

        return RIFE
    raise AttributeError(f"module 'vsrife' has no attribute {name!r}")
