"""``RIFE``: the VapourSynth filter (``core.rife.RIFE``, ``clip.rife.RIFE``, ``vsrife.RIFE``).

The graph, for a factor ``num/den``:

* ``left``/``right``: the source clip and the clip shifted by one frame, spread to the output timeline
  with ``Interleave``/``SelectEvery`` (which fix fps and per-frame durations, also for variable rates).
* ``interpolated``: the network's frames. ``k`` branches ``SelectEvery(k, i)``, each with its own
  ``ModifyFrame``, re-``Interleave``d, so ``k`` frames are in flight at once (one ``ModifyFrame`` runs its
  callback one call at a time). They are computed on RGBS and converted back with each left frame's
  colorimetry, then given the left frame's props.
* The output picks, per frame: the source frame itself when the timestep is 0 (untouched, bit-exact),
  the left frame after the last source frame or across a scene change (or a blend, if asked), and the
  interpolated frame otherwise.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch
import vapoursynth as vs

from . import dedup as dedup_rules
from . import precisions
from . import quality as qualities
from .allocator import tune_allocator
from .arch import SPECS
from .arch.layers import is_power_of_two
from .colorimetry import Converter
from .compat import fetch_missing, legacy_arguments
from .device import DeviceIO, parse_device
from .errors import RifeError
from .inference import (
    SCALES,
    Interpolator,
    PreparedFrame,
    check_ensemble,
    check_precision,
    timestep_models,
)
from .nodes import shifted, uncached
from .scene import DEFAULT_THRESHOLD, marked_cut, scene_change_stats
from .timing import FrameMap, factor_from_args
from .weights import default_manifest, load_network

core = vs.core
MIN_SIDE = 8  # measured with 3.9 between identical frames: 1x1, 2x2, 4x4 off by 5, 6, 3 codes; 8x8 and up 1-2


def log(message: str, level: vs.MessageType = vs.MESSAGE_TYPE_INFORMATION) -> None:
    """To VapourSynth's log (vspipe prints it on stderr): stdout may be carrying video."""
    core.log_message(level, f"RIFE: {message}")


@dataclass
class _Settings:
    factor: Fraction
    sc: bool
    sc_threshold: float
    sc_blend: bool
    streams: int
    torch_threads: int | None  # per stream, on the CPU
    dedup: bool = False
    dedup_threshold: float = dedup_rules.DEFAULT_THRESHOLD
    dedup_max: int = dedup_rules.DEFAULT_MAX_RUN


def _use_torch_threads(count: int | None) -> None:
    """Give the calling stream thread ``count`` intra-op threads (``None``: leave them). torch's count is per
    thread once a thread has run a parallel loop, and filters with different stream counts share threads."""
    if count is not None and torch.get_num_threads() != count:
        torch.set_num_threads(count)


def RIFE(
    clip: vs.VideoNode,
    multi: int = 2,
    scale: float | None = None,
    *legacy_positional: Any,
    model: str | None = None,
    factor_num: int | None = None,
    factor_den: int | None = None,
    fps_num: int | None = None,
    fps_den: int | None = None,
    sc: bool = True,
    sc_threshold: float | None = None,
    sc_blend: bool = False,
    ensemble: bool | None = None,
    quality: str | None = None,
    device: str | int | None = None,
    precision: str | None = None,
    model_path: str | None = None,
    num_streams: int | None = None,
    auto_download: bool = False,
    dedup: bool = False,
    dedup_threshold: float | None = None,
    dedup_max: int | None = None,
    **legacy: Any,
) -> vs.VideoNode:
    """Raise the frame rate of ``clip`` with RIFE video frame interpolation.

    Args:
        clip: any constant format and size: YUV (4:2:0, 4:2:2, 4:4:4; 8-16 bit integer, half, float), RGB,
            GRAY. The output has the same format; source frames pass through untouched.
        multi: integer rate factor (2 doubles the rate). Ignored when a factor or fps is given.
        scale: flow resolution relative to the frame: 0.25, 0.5, 1.0, 2.0 or 4.0; default (``None``): chosen
            by ``quality`` from the frame size (1.0; 0.5 above 1440p with ``"balanced"``/``"best"``).
        model: model name (``python -m vsrife models list``); default: the manifest's default (3.9).
        factor_num, factor_den: any rational factor, e.g. 5/2 for 24 -> 60 fps.
        fps_num, fps_den: the target rate instead of a factor, e.g. 60000/1001; needs a clip with a rate.
        sc: don't interpolate across scene changes: where the left frame has ``_SceneChangeNext`` set (or,
            if the clip has no such props, where the built-in detector sees a cut), hold the left frame.
        sc_threshold: the detector's threshold on the mean absolute difference of a small gray copy
            (0..1); default ``vsrife.scene.DEFAULT_THRESHOLD``.
        sc_blend: at scene changes, blend the two frames by the timestep instead of holding the left one.
        ensemble: also run the network on the time-reversed pair and average (slower; not all models);
            default (``None``): as ``quality`` says.
        quality: ``"fast"`` (the original's choices), ``"balanced"`` or ``"best"`` (ensemble where the model
            can); default: ``"balanced"`` where the measured speed of this machine pays for it within the
            original's time per frame, else ``"fast"`` (see :mod:`vsrife.quality`; the log says which).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a CUDA index; default CUDA if available.
        precision: how the network runs: ``"fp32"`` (the reference), ``"fast32"``, ``"bf16"``, ``"int8"``,
            ``"int8-gptq"`` (CPU; the published weights of 3.5, 3.8 and 3.9) or ``"fp16"`` (CUDA); see
            :mod:`vsrife.precisions`. Default: on the CPU the fastest path measured on this machine (cached) that
            keeps the model within 0.05 dB of fp32, on CUDA fp32. Frames, flows and warps stay float32.
        model_path: a weight file of your own (e.g. from ``python -m training export``); ``model`` then
            names its architecture, or it is detected from the file.
        num_streams: frames interpolated concurrently (default: 2 on CUDA, 1 on the CPU, where torch
            already spreads one frame over all cores).
        auto_download: fetch the model's weights (verified, as ``python -m vsrife models download`` does) if
            they are not in the store yet; off by default, as in vs-rife.
        dedup: animation on twos and threes: a frame that repeats its predecessor belongs to the drawing
            before it, and output frames between two drawings are interpolated between them, so held drawings
            turn into motion (see :mod:`vsrife.dedup`). Also allows a factor of 1 (``multi=1``): the same
            rate, repeats replaced. A clip without repeats comes out as without ``dedup``.
        dedup_threshold: the largest difference (0..1, block means of a small gray copy) at which a frame
            still counts as a repeat; default ``vsrife.dedup.DEFAULT_THRESHOLD``.
        dedup_max: runs of more repeated frames than this are real pauses, held as they are (default 4).
        legacy_positional, legacy: vs-rife 1.x-3.x's ``device_type``, ``device_index``, ``fp16`` (also in that
            order after ``scale``, as 2.x took them) and ``model_ver``, taken as ``device``/``precision``/``model``
            (see :mod:`vsrife.compat`); any other keyword is an error that names its equivalent.
    """
    arguments = dict(locals())
    with stdout_to_stderr():  # a library printing must not corrupt a y4m pipe
        try:
            return _build(**legacy_arguments(arguments))
        except (RifeError, ValueError) as exc:
            raise vs.Error(f"RIFE: {exc}") from None


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to standard output, by Python or by native code writing to file descriptor 1,
    to standard error meanwhile. For script evaluation only (loading, the precision measurement, the first
    run of the network): vspipe writes the video to file descriptor 1 once frames are requested."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 at all (a host that closed it): nothing to protect
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _check_clip(clip: object) -> vs.VideoNode:
    if not isinstance(clip, vs.VideoNode):
        raise RifeError(f"clip must be a video clip (vs.VideoNode), not {type(clip).__name__}")
    if clip.format is None or clip.format.id == vs.NONE:
        raise RifeError("the clip's format varies from frame to frame; convert it to one format first")
    if clip.width == 0 or clip.height == 0:
        raise RifeError("the clip's frame size varies; resize it to one size first")
    if min(clip.width, clip.height) < MIN_SIDE:
        raise RifeError(
            f"frames of {clip.width}x{clip.height} are too small: RIFE needs at least {MIN_SIDE} pixels on each "
            f"side (smaller frames are mostly the zero padding the network needs: their interpolated frames "
            f"come out several codes off even between identical frames); resize the clip up first"
        )
    if clip.num_frames < 2:
        raise RifeError("the clip needs at least 2 frames to interpolate between")
    return clip


def _check_dedup(threshold: float | None, max_run: int | None) -> tuple[float, int]:
    if threshold is None:
        threshold = dedup_rules.DEFAULT_THRESHOLD
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold < 1:
        raise RifeError(f"dedup_threshold must be a number from 0 to 1, not {threshold!r}")
    if max_run is None:
        max_run = dedup_rules.DEFAULT_MAX_RUN
    if isinstance(max_run, bool) or not isinstance(max_run, int) or not 2 <= max_run <= 32:
        raise RifeError(f"dedup_max must be a whole number of frames from 2 to 32, not {max_run!r}")
    return float(threshold), max_run


def _check_model(model: str | None, model_path: str | None, factor: Fraction, ensemble: bool, dedup: bool) -> str:
    manifest = default_manifest()
    if model is not None and not isinstance(model, str):
        raise RifeError(
            f"model takes a name such as '4.6' or '3.9', not {model!r} (the RIFE ncnn plugin numbers its models; "
            "python -m vsrife models list shows the names)"
        )
    if model_path is None:
        name = model or manifest.default_model
        arch = manifest.get(name).arch
    else:
        name = model or os.path.basename(model_path)
        if model is not None and model not in SPECS and model not in manifest.entries:
            manifest.get(model)  # raises with the list of known names
        arch = None if model is None else (model if model in SPECS else manifest.get(model).arch)
    if arch is not None:
        spec = SPECS[arch]
        if not spec.timestep and dedup:
            raise RifeError(
                f"dedup needs a model with a timestep input (drawings held 3 frames need thirds), and model "
                f"{name} has none; use one of {', '.join(timestep_models())}"
            )
        if not spec.timestep and not is_power_of_two(factor.numerator):
            raise RifeError(
                f"model {name} has no timestep input and can only double, quadruple ... the rate "
                f"(factor {factor} needs timesteps in 1/{factor.numerator}ths); use one of "
                f"{', '.join(timestep_models())}"
            )
        if ensemble:
            check_ensemble(spec, name)
    return name


def _build(
    clip: vs.VideoNode,
    multi: int,
    scale: float | None,
    model: str | None,
    factor_num: int | None,
    factor_den: int | None,
    fps_num: int | None,
    fps_den: int | None,
    sc: bool,
    sc_threshold: float | None,
    sc_blend: bool,
    ensemble: bool | None,
    quality: str | None,
    device: str | int | None,
    precision: str | None,
    model_path: str | None,
    num_streams: int | None,
    auto_download: bool,
    dedup: bool,
    dedup_threshold: float | None,
    dedup_max: int | None,
) -> vs.VideoNode:
    clip = _check_clip(clip)
    factor = factor_from_args(clip, multi, factor_num, factor_den, fps_num, fps_den, allow_same_rate=bool(dedup))
    if scale is not None and scale not in SCALES:
        raise RifeError(f"scale must be one of {', '.join(map(str, SCALES))}, not {scale}")
    asked_quality = None if quality is None else qualities.get(quality)
    preferred = asked_quality.model if asked_quality is not None else None
    # the preferred model has no timestep input: only for factors bisection reaches, and not under dedup
    if preferred and model is None and model_path is None and is_power_of_two(factor.numerator) and not dedup:
        model = preferred
    name = _check_model(model, model_path, factor, bool(ensemble), bool(dedup))
    threshold, max_run = _check_dedup(dedup_threshold, dedup_max)
    if auto_download and model_path is None:
        fetch_missing(name)
    try:
        torch_device = parse_device(device)
    except RuntimeError as exc:
        raise RifeError(f"device {device!r} is not a device torch knows ({exc})") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise RifeError(f"device {device!r} asks for CUDA, but torch sees no CUDA GPU; use device='cpu'")
    if precision is not None:
        check_precision(precision, torch_device)

    if num_streams is not None and (not isinstance(num_streams, int) or isinstance(num_streams, bool)):
        raise RifeError(f"num_streams must be a whole number, not {num_streams!r}")
    streams = num_streams if num_streams else (2 if torch_device.type == "cuda" else 1)
    if streams < 1:
        raise RifeError("num_streams must be at least 1")
    settings = _Settings(
        factor=factor,
        sc=bool(sc),
        sc_threshold=DEFAULT_THRESHOLD if sc_threshold is None else float(sc_threshold),
        sc_blend=bool(sc_blend),
        streams=streams,
        # k frames in flight on the CPU, each spread over cores/k torch threads: together they fill the cores
        torch_threads=max(1, (os.cpu_count() or 1) // streams) if torch_device.type == "cpu" else None,
        dedup=bool(dedup),
        dedup_threshold=threshold,
        dedup_max=max_run,
    )

    def load() -> tuple[Interpolator, str, str]:
        _use_torch_threads(settings.torch_threads)
        # the CPU's measured verdict (once per machine, then cached): the default path, and what it can afford
        needs_measure = precision is None or (asked_quality is None and ensemble is None)
        choice = precisions.choose() if torch_device.type == "cpu" and needs_measure else None
        network = load_network(model, model_path)
        chosen, why = precision, "as asked"
        if chosen is None and choice is not None:
            chosen, why = choice.path_for(network)
        elif chosen is None:
            chosen, why = precisions.default_precision(torch_device), "the default on CUDA"
        verdict = (
            qualities.Verdict(asked_quality, "as asked")
            if asked_quality is not None
            else qualities.default(network.spec, chosen, choice, path_given=precision is not None)
        )
        path, default_ensemble, default_scale = verdict.settings(network.spec, chosen, clip.width, clip.height)
        # the default quality may run its ensemble on a faster path, whose losses the ensemble makes up for
        if ensemble is None and path != chosen:
            chosen, why = path, f"{why}; {path} for quality {verdict.quality.name}"
        use_ensemble = default_ensemble if ensemble is None else ensemble
        use_scale = default_scale if scale is None else scale
        core = Interpolator(
            network, scale=use_scale, ensemble=bool(use_ensemble), device=torch_device, precision=chosen
        )
        chose = f"quality {verdict.quality.name} ({verdict.why}): ensemble {bool(use_ensemble)}, scale {use_scale:g}"
        # one small interpolation now, while standard output is protected: libraries that print do so on
        # their first use (once frames flow, file descriptor 1 carries the video)
        with torch.inference_mode():
            small = torch.zeros(1, 3, core.multiple, core.multiple)
            core.interpolate(small, small, 0.5)
        return core, why, chose

    if torch_device.type == "cpu":
        tune_allocator()  # before the stream threads first allocate: they would keep arenas of their own
    workers = _workers(streams)
    # loading and measuring run parallel loops: on a stream thread too, so that no other thread owns a pool
    interpolator, why, chose = workers[0].submit(load).result()
    log(
        f"model {name} on {torch_device} ({interpolator.precision}), factor {factor}, {streams} stream(s)"
        + (f", {settings.torch_threads} torch thread(s) each" if settings.torch_threads else "")
    )
    log(f"precision {interpolator.precision}: {why}")
    log(chose)
    return _Graph(clip, interpolator, settings, workers).output


_stream_threads: list[ThreadPoolExecutor] = []
_stream_threads_lock = threading.Lock()


def _workers(streams: int) -> list[ThreadPoolExecutor]:
    """The threads of streams 0 .. streams - 1, on which all torch work of every RIFE filter in the process runs.

    torch's OpenMP thread pools belong to the thread that starts a parallel loop: every other thread that runs
    torch code (VapourSynth's workers, the script's main thread, another filter's threads) would add a pool of
    its own. Once libgomp manages more threads than there are cores, it stops spinning at barriers and sleeps
    instead, which made the network ~7% slower at 720p. So the threads are the process's, not the filter's:
    stream ``i`` of every filter runs on the same thread, which keeps one warm pool."""
    with _stream_threads_lock:
        while len(_stream_threads) < streams:
            index = len(_stream_threads)
            _stream_threads.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rife-{index}"))
        return _stream_threads[:streams]


class _FrameCache:
    """Prepared (uploaded, padded, encoded) source frames by index; a few are reused by neighbouring outputs."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[int, PreparedFrame] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, index: int, make) -> PreparedFrame:
        with self.lock:
            item = self.items.get(index)
            if item is not None:
                self.items.move_to_end(index)
                return item
        item = make()
        with self.lock:
            self.items[index] = item
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return item


class _Graph:
    def __init__(
        self,
        clip: vs.VideoNode,
        interpolator: Interpolator,
        settings: _Settings,
        workers: list[ThreadPoolExecutor],
    ) -> None:
        self.clip = clip
        self.core = interpolator
        self.settings = settings
        self.map = FrameMap(settings.factor.numerator, settings.factor.denominator, clip.num_frames)
        self.io = DeviceIO(interpolator.device)
        self.workers = workers  # one per stream: VapourSynth's callbacks hand the torch work to them
        self.environment = vs.get_current_environment()  # the script's core, for frames made on the workers
        self.cache = _FrameCache(2 * settings.streams + 2)
        self.converter = Converter(clip, lambda message: log(message, vs.MESSAGE_TYPE_WARNING))

        following = shifted(clip, 1)
        self.left = self.map.spread(clip)
        self.right = self.map.spread(following)
        stats = scene_change_stats(clip) if settings.sc else None
        self.stats = self.map.spread(stats) if stats is not None else None
        # dedup: per output frame, the run of held frames its source frame belongs to (see vsrife.dedup)
        self.runs = self.map.spread(self._runs(clip, stats)) if settings.dedup else None
        rgb = self.converter.to_rgb()
        if self.runs is None:
            left_rgb, right_rgb = self.map.spread(rgb), self.map.spread(shifted(rgb, 1))
        else:
            left_rgb, right_rgb = self._paired_sources(rgb)
        interpolated_rgb = self._interpolate(left_rgb, right_rgb)
        interpolated = self.converter.from_rgb(interpolated_rgb, self.left)
        self.interpolated = uncached(core.std.CopyFrameProps(interpolated, self.left))
        self._blends: dict[Fraction, vs.VideoNode] = {}
        self.output = self._assemble()

    # --- held drawings (dedup) -----------------------------------------------------------------------

    def _runs(self, clip: vs.VideoNode, stats: vs.VideoNode | None) -> vs.VideoNode:
        """Per source frame, its run of held frames; ``stats``: the scene-change detector's, if ``sc``."""
        settings = self.settings
        marks = dedup_rules.marks(
            clip,
            (lambda n, f: self._is_cut(f[0].props, f[1].props)) if stats is not None else None,
            [clip, stats] if stats is not None else [],
        )
        return dedup_rules.runs(marks, threshold=settings.dedup_threshold, max_run=settings.dedup_max)

    def _plan(self, n: int, run_props: vs.FrameProps | None) -> dedup_rules.Plan | None:
        """Output frame ``n``'s plan inside a run of held drawings; ``None``: the plain path."""
        if run_props is None:
            return None
        time = Fraction(n * self.map.den, self.map.num)
        return dedup_rules.plan(time, dedup_rules.run_of(run_props))

    def _pair(self, n: int, run_props: vs.FrameProps | None) -> tuple[int, int, Fraction]:
        """The source frames and timestep of output frame ``n``'s network frame."""
        plan = self._plan(n, run_props)
        if plan is None or plan.right is None:
            source = self.map.source(n)
            return source, source + 1, self.map.timestep(n)
        return plan.left, plan.right, plan.timestep

    def _paired_sources(self, rgb: vs.VideoNode) -> tuple[vs.VideoNode, vs.VideoNode]:
        """Per output frame, the RGB source frames of :meth:`_pair` (chosen among shifted copies)."""
        copies = {o: self.map.spread(shifted(rgb, o)) for o in dedup_rules.window(self.settings.dedup_max)}

        def choose(side: int):
            def select(n: int, f: vs.VideoFrame) -> vs.VideoNode:
                return copies[self._pair(n, f.props)[side] - self.map.source(n)]

            return select

        assert self.runs is not None
        template = copies[0]
        return tuple(  # type: ignore[return-value]
            uncached(core.std.FrameEval(template, choose(side), prop_src=self.runs, clip_src=list(copies.values())))
            for side in (0, 1)
        )

    # --- the network's frames ------------------------------------------------------------------------

    def _interpolate(self, left_rgb: vs.VideoNode, right_rgb: vs.VideoNode) -> vs.VideoNode:
        k = self.settings.streams
        inputs = [left_rgb, right_rgb] + ([self.runs] if self.runs is not None else [])
        if k == 1:
            return uncached(left_rgb.std.ModifyFrame(inputs, self._callback(1, 0)))
        branches = []
        for i in range(k):
            selected = [uncached(c.std.SelectEvery(k, i)) for c in inputs]
            branches.append(uncached(selected[0].std.ModifyFrame(selected, self._callback(k, i))))
        return uncached(core.std.Interleave(branches))

    def _callback(self, k: int, branch: int):
        def interpolate(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
            out_n = n * k + branch
            left, right, t = self._pair(out_n, f[2].props if len(f) > 2 else None)
            return self.workers[branch].submit(self._frame, left, right, float(t), f[0], f[1]).result()

        return interpolate

    def _frame(self, src0: int, src1: int, t: float, left: vs.VideoFrame, right: vs.VideoFrame) -> vs.VideoFrame:
        """The frame at ``t`` between source frames ``src0`` and ``src1``, as RGBS (on a worker thread)."""
        _use_torch_threads(self.settings.torch_threads)
        p0 = self.cache.get(src0, lambda: self._prepare(left))
        p1 = self.cache.get(src1, lambda: self._prepare(right))
        with self.io.compute(), torch.inference_mode():
            result = self.core.interpolate(p0, p1, t)
        with self.environment.use():
            return self.io.download(result, left)

    def _prepare(self, frame: vs.VideoFrame) -> PreparedFrame:
        tensor = self.io.upload(frame)
        with self.io.compute():
            return self.core.prepare(tensor)

    # --- choosing per output frame -------------------------------------------------------------------

    def _blend(self, t: Fraction) -> vs.VideoNode:
        node = self._blends.get(t)
        if node is None:
            node = self._blends.setdefault(t, core.std.Merge(self.left, self.right, float(t)))
        return node

    def _is_cut(self, left_props: vs.FrameProps, stats_props: vs.FrameProps) -> bool:
        """Whether a scene change follows a source frame: its ``_SceneChangeNext``, else the detector."""
        cut = marked_cut(left_props, self.converter.complain_once)
        return cut if cut is not None else stats_props["PlaneStatsDiff"] > self.settings.sc_threshold

    def _decide(self, n: int, frames: list[vs.VideoFrame]) -> tuple[vs.VideoNode, dedup_rules.Plan]:
        """The node output frame ``n`` comes from, and what it shows (``frames``: :meth:`_prop_sources` at n)."""
        fmap, settings = self.map, self.settings
        source, t = fmap.source(n), fmap.timestep(n)
        held = dedup_rules.Plan(source, None, Fraction(0))
        if self.runs is not None:
            plan = self._plan(n, frames[-1].props)
            if plan is not None:
                return (self.left if plan.right is None else self.interpolated), plan
        if fmap.is_source_frame(n) or source >= self.clip.num_frames - 1:
            return self.left, held  # a source frame, or the last one held
        plan = dedup_rules.Plan(source, source + 1, t)
        if settings.sc and self._is_cut(frames[0].props, frames[1].props):
            return (self._blend(t), plan) if settings.sc_blend else (self.left, held)
        return self.interpolated, plan

    def _prop_sources(self) -> list[vs.VideoNode]:
        optional = [self.stats, self.runs]
        return [self.left] + [node for node in optional if node is not None]

    def _assemble(self) -> vs.VideoNode:
        def pick(n: int, f: vs.VideoFrame | list[vs.VideoFrame]) -> vs.VideoNode:
            return self._decide(n, f if isinstance(f, list) else [f])[0]

        sources = [self.left, self.interpolated] + ([self.right] if self.settings.sc_blend else [])
        chosen = core.std.FrameEval(self.left, pick, prop_src=self._prop_sources(), clip_src=sources)
        return self._with_timeline_props(chosen) if self.runs is not None else chosen

    def _with_timeline_props(self, chosen: vs.VideoNode) -> vs.VideoNode:
        """``RifeDrawings`` (the source frames) and ``RifeTimestep`` on every output frame, for inspection."""

        def annotate(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
            out = f[0].copy()
            out.props.update(dedup_rules.describe(self._decide(n, f[1:])[1]))
            return out

        return chosen.std.ModifyFrame([chosen, *self._prop_sources()], annotate)
