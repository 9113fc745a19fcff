"""vsrife: RIFE video frame interpolation for VapourSynth.

``vsrife.RIFE(clip, multi=2, ...)`` is the filter (also ``core.rife.RIFE`` in any script, no import
needed); :mod:`vsrife.arch` holds the networks, :mod:`vsrife.weights` the weight store and
:mod:`vsrife.inference` the two-frames-in core.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .allocator import request_huge_pages

DISTRIBUTION = "vsrife-zoo"  # not "vsrife": that name is vs-rife's on the package registry

__all__ = ["RIFE", "__version__", "rife"]

request_huge_pages()  # before torch's first allocation, or never: see vsrife.allocator

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    # `python -m vsrife models ...` and training should not need to import VapourSynth
    if name == "RIFE":
        from .filter import RIFE

        return RIFE
    if name == "rife":  # vs-rife 5.x's function
        from .compat import rife

        return rife
    raise AttributeError(f"module 'vsrife' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
