"""How the network runs: its execution paths ("precisions"), and the default chosen by measuring this CPU.

=============  ==============================================  =================================================
name           convolutions                                    everything else
=============  ==============================================  =================================================
``fp32``       float32, planar                                 upstream's exact sequence of operations: the
                                                               reference, pinned by the conformance tests
``fast32``     float32, channels-last                          shorter equivalent resampling, fused kernels
                                                               (float rounding apart, the same function)
``bf16``       bfloat16, channels-last                         as ``fast32``; frames, flows and warps float32
``int8``       int8 weights and activations in the blocks'     as ``fast32`` (see :mod:`vsrife.arch.int8`)
               bodies (oneDNN), the rest as ``fast32``
``int8-gptq``  as ``int8``, with GPTQ's weights (shipped per   as ``fast32``
               model, :mod:`vsrife.gptq`) and the finest
               blocks' activations at twice the bits
``fp16``       float16 (CUDA only)                             as ``fast32``
=============  ==============================================  =================================================

Which path is fastest depends on the CPU far more than on its feature flags: bfloat16 convolutions are 7x
*slower* than float32 ones on CPUs that only emulate bfloat16, and on some CPUs with AVX-512 BF16 they
still lose to float32. So the default on a CPU is measured (:func:`choose`): the network's typical
convolution shapes are timed on each path, then whole frames on the reference, ``fast32`` and the fastest of
the rest (convolutions alone can mislead); the fastest whole frames win, and the verdict is cached per CPU
model, vector features, core count, torch version (and oneDNN's ISA cap, if set) in the user cache folder.
``precision=`` always overrides it.

Paths calibrated per model (``int8-gptq``) are measured too, on the architecture they were shipped for, and
a model takes one by default only where it kept every real clip within 0.05 dB of ``fp32`` with this CPU's
activation bits and ran whole frames faster than the CPU's verdict (:meth:`Choice.path_for`).

Other programs running at the same time distort such a measurement (one taken during a test run here saw
the int8 path at 1.24x float32 instead of 2.09x). So each path counts its fastest round, and the probe notes
how much of the CPU its threads got: a verdict measured while other processes took a large share
(:data:`BUSY_LIMIT`) is measured again by a later process that finds the machine idle.
``python -m vsrife precision [--measure]`` shows the verdict and measures again on request.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import platformdirs
import torch
from torch import nn

from . import gptq
from .arch import build_network, get_spec, int8
from .errors import RifeError
from .stopwatch import in_turns

CACHE_ENV = "VSRIFE_CACHE_DIR"
PROBE_VERSION = 11  # bump when the probe or a path changes enough to invalidate cached verdicts
BUSY_LIMIT = 0.25  # share of the CPU the probe's threads did not get above which its verdict is provisional
PRESCREEN_FACTOR = 3.0  # times slower than the best on the probe's first shape: not probed whole


@dataclass(frozen=True)
class Precision:
    """One execution path: how :meth:`apply` converts a float32 network, and where it can run."""

    name: str
    summary: str
    dtype: torch.dtype  # of the convolutions
    channels_last: bool
    exact: bool  # upstream's exact sequence of operations
    devices: tuple[str, ...] = ("cpu", "cuda")
    # may the measured choice pick it for every model? (a path that loses accuracy must earn this on real
    # footage)
    default_candidate: bool = True
    quantized: bool = False  # int8 convolutions in the blocks' bodies (vsrife.arch.int8)
    # quantized as vsrife.gptq ships it for the model's weights: a default only for the models it kept within
    # the quality bar, where it is faster
    calibrated: bool = False

    def check(self, device: torch.device) -> None:
        """Raise a :class:`RifeError` if this path cannot run on ``device``."""
        if device.type not in self.devices:
            others = [p.name for p in PRECISIONS.values() if device.type in p.devices]
            raise RifeError(
                f"precision={self.name!r} runs on {' or '.join(d.upper() for d in self.devices)} only; "
                f"on {device.type.upper()} use one of {', '.join(others)}"
            )

    def apply(self, network: nn.Module, *, for_timing: bool = False) -> nn.Module:
        """A copy of ``network`` (float32, as loaded) converted to this path; the original is left as it is.
        ``for_timing``: calibrated paths take any weights of the architectures they were shipped for (as
        fast, not as accurate)."""
        if self.name == "fp32":
            return network
        converted = copy.deepcopy(network)
        converted.set_precision(self.dtype, channels_last=self.channels_last, exact=self.exact)
        if self.calibrated:
            gptq.quantize(network, converted, for_timing=for_timing)
        elif self.quantized:
            int8.quantize_network(converted)
        return converted


PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("fp32", "float32, upstream's exact operations (the reference)", torch.float32, False, True),
        Precision("fast32", "float32, channels-last, fused kernels", torch.float32, True, False),
        Precision("bf16", "bfloat16 convolutions", torch.bfloat16, True, False),
        Precision("fp16", "float16 convolutions (CUDA)", torch.float16, True, False, devices=("cuda",)),
        Precision(
            "int8",
            "int8 convolutions in the blocks' bodies (oneDNN), activations quantized per frame",
            torch.float32,
            True,
            False,
            devices=("cpu",),
            default_candidate=False,
            quantized=True,
        ),
        Precision(
            "int8-gptq",
            "int8 with GPTQ's weights (models 3.5, 3.8, 3.9) and wide activations in the finest blocks",
            torch.float32,
            True,
            False,
            devices=("cpu",),
            default_candidate=False,  # not for every model: per model, where calibrated (Choice.path_for)
            quantized=True,
            calibrated=True,
        ),
    )
}


def get(name: str) -> Precision:
    """The path called ``name``, or a :class:`RifeError` listing the known ones."""
    try:
        return PRECISIONS[name]
    except (KeyError, TypeError):
        raise RifeError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}") from None


# --- the measured choice --------------------------------------------------------------------------------------

# The convolutions that dominate every 4-block model at 720p: the eight body convolutions of each block,
# (channels, height, width) at strides 32, 16, 8 and 4 of 3.9's / 4.x's padded 768 x 1280 frame.
PROBE_SHAPES = ((192, 24, 40), (128, 48, 80), (96, 96, 160), (64, 192, 320))
PROBE_CONVS_PER_SHAPE = 8


@dataclass
class Choice:
    """The path the measurement picked on this machine, and what it measured: seconds of the probe, the body
    convolutions of one 720p frame (the rest of a frame adds some 10-20%)."""

    precision: str
    cpu: str
    cores: int
    torch: str
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # candidate -> why it was not timed or not chosen
    measured_at: str = ""
    busy: float = 0.0  # share of the CPU the probe's threads waited for (other processes had it)
    frames: dict[str, float] = field(default_factory=dict)  # seconds of whole small frames: they decide
    # seconds of whole frames (:data:`CALIBRATED_FRAME_SIZE`) of :data:`CALIBRATED_FRAME_MODEL`'s architecture
    # on the paths calibrated per model and on the verdict's path: they decide for the models those paths were
    # shipped for
    calibrated_frames: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    def speedup(self, path: str) -> float | None:
        """How many times faster than ``fp32`` whole frames ran on ``path`` here (``None``: not timed whole);
        for a calibrated path, the verdict's speed-up times how much faster than the verdict it ran."""
        frames, calibrated, verdict = self.frames, self.calibrated_frames, self.precision
        if "fp32" not in frames:
            return None
        if path in frames:
            return frames["fp32"] / frames[path]
        if path in calibrated and verdict in calibrated and verdict in frames:
            return frames["fp32"] / frames[verdict] * calibrated[verdict] / calibrated[path]
        return None

    @property
    def timed_paths(self) -> list[str]:
        """The paths whose whole frames were timed (:meth:`speedup` knows them)."""
        return [*dict.fromkeys([*self.frames, *self.calibrated_frames])]

    def path_for(self, network: nn.Module) -> tuple[str, str]:
        """The default path for ``network`` on this CPU, and why: a path calibrated for its exact weights where
        that kept them within the quality bar with this CPU's activation bits and ran whole frames more than
        5% faster than the CPU's verdict, else the verdict (:attr:`precision`)."""
        frames = self.calibrated_frames
        base = frames.get(self.precision)
        for name, seconds in frames.items():
            if not get(name).calibrated or base is None or seconds >= base / 1.05:
                continue
            if gptq.passes_by_default(network):
                why = (
                    f"calibrated for these weights of model {network.spec.name}, and faster than "
                    f"{self.precision} here ({seconds * 1000:.0f} against {base * 1000:.0f} ms a frame)"
                )
                return name, why
        return self.precision, self.describe()

    @property
    def provisional(self) -> bool:
        """Measured while other processes took much of the CPU: to be measured again when it is idle."""
        return self.busy > BUSY_LIMIT

    def describe(self) -> str:
        timings = ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in sorted(self.seconds.items(), key=lambda i: i[1]))
        when = f"on {self.measured_at} (cached)" if self.cached else "now"
        text = f"the fastest measured {when} on {self.cpu}, {self.cores} cores: {timings} per 720p frame's convolutions"
        for model, (height, width), frames in (
            (WHOLE_FRAME_MODEL, WHOLE_FRAME_SIZE, self.frames),
            (CALIBRATED_FRAME_MODEL, CALIBRATED_FRAME_SIZE, self.calibrated_frames),
        ):
            if frames:
                whole = ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in frames.items())
                text += f"; whole {width}x{height} frames of {model}: {whole}"
        if self.provisional:
            text += f" (other processes had {self.busy:.0%} of the CPU: measured again when it is idle)"
        return text + "".join(f"; {name}: {why}" for name, why in self.skipped.items())


def _cpuinfo(field: str) -> str | None:
    """The first core's ``field`` in ``/proc/cpuinfo`` (Linux), or ``None``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cache_path() -> Path:
    return Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("vsrife")) / "precision.json"


# the vector features that decide which path is fast, as /proc/cpuinfo names them
PATH_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
# oneDNN's own cap on the instructions it uses (its documented variables): it changes its kernels, not the CPU
ISA_CAP_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


def cpu_features() -> str:
    """Which of :data:`PATH_FEATURES` this CPU reports (Linux), space-separated."""
    flags = _cpuinfo("flags")
    if flags is None:
        return "unknown"
    present = set(flags.split())
    return " ".join(f for f in PATH_FEATURES if f in present) or "none of " + " ".join(PATH_FEATURES)


def onednn_caps() -> list[str]:
    """oneDNN's instruction-set caps set in this environment, as ``NAME=value`` (none: it uses the whole CPU)."""
    return [f"{name}={os.environ[name]}" for name in ISA_CAP_ENV if os.environ.get(name)]


def _cache_key(cpu: str, cores: int) -> str:
    """What a verdict holds for. The features too, not only the model name: a VM's CPU keeps its name when a
    host or hypervisor hides AMX, and the verdict flips with it (``bf16`` is 2x ``fast32`` with AMX here,
    slower than it without)."""
    parts = [cpu, cpu_features(), f"{cores} cores", f"torch {torch.__version__}", f"probe {PROBE_VERSION}"]
    parts += onednn_caps()
    return " | ".join(parts)


def _read_cache() -> dict:
    try:
        return json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, choice: Choice) -> None:
    """Add ``choice`` to the cache file atomically (a half-written cache would be read as empty)."""
    path = cache_path()
    entries = _read_cache()
    entries[key] = {k: v for k, v in asdict(choice).items() if k != "cached"}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.part")
        partial.write_text(json.dumps(entries, indent=1) + "\n")
        os.replace(partial, path)
    except OSError:  # a read-only home: measure again next time
        pass


class _Probe:
    """The body convolutions of one 720p frame (:data:`PROBE_SHAPES`) as ``precision`` runs them; for int8,
    with the per-layer range and quantization passes its chains make."""

    def __init__(self, precision: Precision) -> None:
        torch.manual_seed(0)
        self.cases: list[Callable[[], object]] = []
        for channels, height, width in PROBE_SHAPES:
            layer = nn.Conv2d(channels, channels, 3, 1, 1).eval().requires_grad_(False)
            x = torch.rand(1, channels, height, width)
            if precision.channels_last:
                layer = layer.to(precision.dtype, memory_format=torch.channels_last)
                x = x.to(precision.dtype, memory_format=torch.channels_last)
            if precision.quantized:
                slope = torch.full((channels,), 0.25)
                wide_finest = gptq.SHIPPED[CALIBRATED_FRAME_MODEL].wide_finest if precision.calibrated else 0
                # the finest blocks, every layer (an upper bound where the finest block widens only its first
                # layers: whole frames, CALIBRATED_FRAME_MODEL's, decide for calibrated paths)
                wide = len(self.cases) >= len(PROBE_SHAPES) - wide_finest
                chain = int8.Int8Chain([int8.Int8Conv2d(layer)], [slope], int8.activation_top(), wide=wide)
                self.cases.append(lambda chain=chain, x=x: chain(x))
            else:
                self.cases.append(lambda layer=layer, x=x: layer(x))

    @torch.inference_mode()
    def run(self) -> None:
        """One convolution of each shape (the frame has :data:`PROBE_CONVS_PER_SHAPE` of each)."""
        for case in self.cases:
            case()

    @torch.inference_mode()
    def first_shape_seconds(self, repeat: int = 3) -> float:
        """The fastest of ``repeat`` runs of the first (smallest) shape alone, after one to build its kernel:
        a few milliseconds, enough to tell a path that is several times slower."""
        return min(in_turns({"first": self.cases[0]}, repeat)["first"])


@dataclass
class Measurement:
    """What :func:`measure` found: each path's fastest round, and how busy the machine was meanwhile."""

    seconds: dict[str, float]
    busy: float


def measure(candidates: list[Precision], rounds: int = 5, prescreen: bool = True) -> Measurement:
    """The fastest of ``rounds`` runs of each candidate's probe, the candidates taking turns (the machine
    drifts; other programs only ever slow a round down); one that is more than twice as slow as the best
    after the first round is not timed again. A path more than :data:`PRESCREEN_FACTOR` times slower than
    the best on the first shape alone (bfloat16 where the CPU emulates it: 7-10x) is not run whole at all:
    its figure is the first shape's time scaled as the best path's whole probe scales it (the warm-up and one
    round of emulated bfloat16 took ~10 s at first use on AVX2 CPUs; ``prescreen=False`` runs every path
    whole, as the benchmark does). ``busy``: the share of the CPU time the probe's threads could have used
    that they did not get (0 on an idle machine; process CPU time against wall time)."""
    probes = {p.name: _Probe(p) for p in candidates}
    first = {name: probe.first_shape_seconds() for name, probe in probes.items()} if prescreen else {}
    quickest = min(first.values(), default=0.0)
    slow = {name for name, s in first.items() if s > PRESCREEN_FACTOR * quickest}
    probes = {name: probe for name, probe in probes.items() if name not in slow}
    for probe in probes.values():
        probe.run()  # warm-up: oneDNN builds its kernels on the first call of each shape
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    times = in_turns({name: probe.run for name, probe in probes.items()}, rounds, warm_up=False, give_up=2.0)
    threads = min(torch.get_num_threads(), os.cpu_count() or 1)
    used = (time.process_time() - cpu_start) / max(time.perf_counter() - wall_start, 1e-9) / threads
    seconds = {name: min(t) * PROBE_CONVS_PER_SHAPE for name, t in times.items()}
    best = min(seconds, key=seconds.__getitem__)
    for name in slow:  # scaled from the first shape, as the best path's whole probe scales
        seconds[name] = first[name] * seconds[best] / first[best]
    return Measurement(seconds, round(max(0.0, min(1.0, 1.0 - used)), 2))


def idle_share(interval: float = 0.2) -> float | None:
    """The share of all cores' time that was idle over ``interval`` seconds (``/proc/stat``; ``None`` where
    there is none)."""

    def totals() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait

    try:
        total0, idle0 = totals()
        time.sleep(interval)
        total1, idle1 = totals()
    except (OSError, ValueError, IndexError):
        return None
    return (idle1 - idle0) / (total1 - total0) if total1 > total0 else None


_measured_in_this_process = False


def choose(force_measure: bool = False) -> Choice:
    """The fastest default path on this CPU: cached, or measured now (a few seconds) and cached.

    Every CPU path's convolutions are probed (:func:`measure`); then whole frames (:func:`whole_frame_seconds`)
    of ``fp32``, ``fast32``, the fastest other candidate and the fastest opt-in path by that probe. The
    candidate with the fastest whole frames wins; another path must beat ``fast32`` by more than 5%. ``fp32``
    is a candidate, so the choice is never slower than the reference. The whole frames are also what
    :mod:`vsrife.quality` reads (:meth:`Choice.speedup`): convolutions alone mislead (``fp32``'s NCHW ones
    timed faster than channels-last ones here while its whole frames were 1.3-1.6x slower), and they leave
    out the resampling and warping that ensemble doubles too. A cached verdict that was measured on a busy
    machine (:attr:`Choice.provisional`) is measured again, at most once per process, when the machine is
    idle now."""
    global _measured_in_this_process
    cpu, cores = cpu_name(), os.cpu_count() or 1
    key = _cache_key(cpu, cores)
    entry = None if force_measure else _read_cache().get(key)
    if entry is not None:
        try:
            cached = Choice(**entry, cached=True)
        except TypeError:  # written by another version
            cached = None
        if cached is not None and not (cached.provisional and _may_measure_again()):
            return cached
    _measured_in_this_process = True
    choice = Choice("fast32", cpu, cores, torch.__version__, measured_at=time.strftime("%Y-%m-%d %H:%M:%S"))
    candidates, timed_only, calibrated = [], [], []
    for precision in PRECISIONS.values():
        if "cpu" in precision.devices:
            kind = calibrated if precision.calibrated else candidates if precision.default_candidate else timed_only
            kind.append(precision)
    # the opt-in paths are timed too: vsrife.quality may spend their speed on ensemble, which more than
    # makes up for what they lose
    measurement = measure(candidates + timed_only + calibrated)
    choice.seconds, choice.busy = measurement.seconds, measurement.busy
    for precision in timed_only:
        choice.skipped[precision.name] = "not a plain default (it loses accuracy); ensemble may pay for it"

    def fastest(paths: list[Precision], seconds: dict[str, float]) -> str:
        return min((p.name for p in paths if p.name in seconds), key=seconds.__getitem__)

    probe_winner = fastest(candidates, choice.seconds)
    contenders = ["fp32", "fast32", probe_winner]
    if timed_only:
        contenders.append(fastest(timed_only, choice.seconds))
    choice.frames = whole_frame_seconds([get(name) for name in dict.fromkeys(contenders)])
    winner = fastest(candidates, choice.frames)
    if choice.frames[winner] < choice.frames["fast32"] / 1.05:
        choice.precision = winner
    if probe_winner != choice.precision and choice.seconds[probe_winner] < choice.seconds["fast32"] / 1.05:
        choice.skipped[probe_winner] = "faster convolutions, but not faster whole frames"
    if calibrated:  # only for the models they were calibrated for: timed on such an architecture
        paths = list(dict.fromkeys([get(choice.precision), *calibrated]))
        choice.calibrated_frames = whole_frame_seconds(paths, CALIBRATED_FRAME_MODEL, CALIBRATED_FRAME_SIZE)
        for precision in calibrated:
            choice.skipped[precision.name] = "a default only for the models it was calibrated for"
    _write_cache(key, choice)
    return choice


WHOLE_FRAME_MODEL = "4.6"  # a typical 4-block network; random weights: speed does not depend on values
CALIBRATED_FRAME_MODEL = "3.9"  # the architecture of the models with shipped calibrations (vsrife.gptq)
WHOLE_FRAME_SIZE = (256, 448)
# rounds in turns, each path's fastest counts: with 2, a burst of the VM's drift slowed both of bf16's rounds and
# int8-gptq became the AMX Xeon's verdict for 3.9 (103 against 87 ms; 65 against 89 ms when measured again)
WHOLE_FRAME_ROUNDS = 4
# larger: int8-gptq's extra passes weigh more on small frames (3.9 without AMX, ad hoc: 1.03-1.05x fast32 at
# 448x256, 1.12-1.20x at 896x512 and 720p)
CALIBRATED_FRAME_SIZE = (512, 896)


def whole_frame_seconds(
    paths: list[Precision],
    model: str = WHOLE_FRAME_MODEL,
    size: tuple[int, int] = WHOLE_FRAME_SIZE,
    rounds: int = WHOLE_FRAME_ROUNDS,
) -> dict[str, float]:
    """The fastest of ``rounds`` whole interpolations of a frame pair of ``size`` (height, width; default
    small) through architecture ``model`` with seeded random weights on each path, the paths taking turns:
    resampling, warping and blending included, which the convolution probe leaves out (about 0.1 s a frame)."""
    torch.manual_seed(0)
    # built as users build it, outside inference mode: its weights keep their version counters
    network = build_network(get_spec(model)).eval()
    height, width = size
    frames = torch.rand(2, 1, 3, height, width)
    runs = {p.name: functools.partial(p.apply(network, for_timing=True), frames[0], frames[1], 0.5) for p in paths}
    with torch.inference_mode():
        return {name: min(seconds) for name, seconds in in_turns(runs, rounds).items()}


def _may_measure_again() -> bool:
    """Whether a provisional verdict is measured again now: once per process, and only on an idle machine."""
    if _measured_in_this_process:
        return False
    idle = idle_share()
    return idle is not None and idle >= 1.0 - BUSY_LIMIT / 2


def default_precision(device: torch.device, network: nn.Module | None = None) -> str:
    """``fp32`` on CUDA (``fp16`` is there on request); on the CPU the measured :func:`choose`, for
    ``network`` if given (:meth:`Choice.path_for`)."""
    if device.type != "cpu":
        return "fp32"
    choice = choose()
    return choice.precision if network is None else choice.path_for(network)[0]
