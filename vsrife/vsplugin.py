"""Glue between the native ``rife`` namespace (``native/vsrife_plugin.c``) and :func:`vsrife.filter.RIFE`.

The native plugin imports this module on the first ``core.rife.RIFE`` call; importing it registers
:func:`_entry` as the implementation. Arguments arrive as VapourSynth passes them through a map: booleans as
0/1, everything as keyword arguments; keywords RIFE does not know get an error from it that names their
equivalent here. User errors go back as the ``error`` string, which the plugin turns
into the VapourSynth error message unchanged.
"""

from __future__ import annotations

from typing import Any

import vapoursynth as vs

from .filter import RIFE

_LEGACY_BOOLS = {"fp16", "fusion", "cuda_graphs", "trt"}  # vs-rife 2.x/3.x
_BOOLS = {"sc", "sc_blend", "ensemble", "auto_download", "dedup"} | _LEGACY_BOOLS


def _entry(**kwargs: Any) -> Any:
    for name in _BOOLS & set(kwargs):
        kwargs[name] = bool(kwargs[name])
    try:
        return RIFE(**kwargs)
    except vs.Error as exc:
        return {"error": str(exc)}


vs.core.rife.RegisterImplementation(impl=_entry)
