"""Glue between the native ``rife`` namespace (``native/vsrife_plugin.c``) and :func:`vsrife.filter.RIFE`.

The native plugin imports this module on the first ``core.rife.RIFE`` call; importing it registers
:func:`_entry` as the implementation. Arguments arrive as VapourSynth passes them through a map: booleans as
0/1, everything as keyword arguments. User errors go back as the ``error`` string, which the plugin turns
into the VapourSynth error message unchanged.
"""

from __future__ import annotations

import inspect
from typing import Any

import vapoursynth as vs

from .filter import RIFE

_BOOLS = {"sc", "sc_blend", "ensemble"}
_PARAMS = set(inspect.signature(RIFE).parameters)


def _entry(**kwargs: Any) -> Any:
    unknown = sorted(set(kwargs) - _PARAMS)
    if unknown:
        return {"error": f"RIFE: unknown argument(s) {', '.join(unknown)}; RIFE takes {', '.join(sorted(_PARAMS))}"}
    for name in _BOOLS & set(kwargs):
        kwargs[name] = bool(kwargs[name])
    try:
        return RIFE(**kwargs)
    except vs.Error as exc:
        return {"error": str(exc)}


vs.core.rife.RegisterImplementation(impl=_entry)
