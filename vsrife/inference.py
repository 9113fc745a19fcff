"""The inference core: two frames in, intermediate frames out.

:class:`Interpolator` owns everything between "a network with weights" and "frames of any size": moving
tensors to the device, choosing the precision, zero-padding to the multiple the version needs (and cropping back),
per-frame encoder features, timestep maps, and recursive bisection for models without a timestep input.
The VapourSynth filter and the benchmarks drive it; it knows nothing about VapourSynth.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import precisions
from .allocator import tune_allocator
from .arch import SPECS, ArchSpec
from .arch.layers import is_power_of_two
from .errors import RifeError
from .weights import load_network

SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def check_precision(precision: str, device: torch.device) -> None:
    """Raise a :class:`RifeError` unless ``precision`` names a path that runs on ``device``."""
    precisions.get(precision).check(device)


@dataclass(frozen=True)
class PreparedFrame:
    """A frame ready for the network: padded ``1 x 3 x H' x W'`` on the device, plus what the network derives
    from each source frame once: encoder features (4.7+) and the fast path's warp layout."""

    image: Tensor
    features: Tensor | None
    height: int
    width: int
    layout: Tensor | None = None


def timestep_models() -> list[str]:
    return [name for name, spec in SPECS.items() if spec.timestep]


def check_ensemble(spec: ArchSpec, name: str | None = None) -> None:
    """Raise, naming the models that can, if ``spec`` cannot ensemble."""
    if not spec.can_ensemble:
        able = [n for n, s in SPECS.items() if s.can_ensemble]
        raise RifeError(f"model {name or spec.name} cannot ensemble; models that can: {', '.join(able)}")


def dyadic(t: float | Fraction) -> Fraction | None:
    """``t`` as a fraction with a power-of-two denominator, or ``None`` if it has none."""
    frac = Fraction(t).limit_denominator(1 << 16)
    return frac if is_power_of_two(frac.denominator) else None


class Interpolator:
    """Interpolate between two frames with one RIFE network.

    Args:
        network: a loaded network from :func:`vsrife.weights.load_network` (or :meth:`from_pretrained`).
        scale: flow resolution relative to the frame, one of 0.25, 0.5, 1, 2, 4 (0.5 suits 4K).
        ensemble: also run each block time-reversed and average (slower, sometimes smoother).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...; default CUDA when available.
        precision: the execution path, one of :data:`vsrife.precisions.PRECISIONS` (``"fp32"`` is the
            reference); default: :func:`vsrife.precisions.default_precision`, measured on CPUs. Frames, flows,
            warps and the result are always float32.
    """

    def __init__(
        self,
        network: nn.Module,
        *,
        scale: float = 1.0,
        ensemble: bool = False,
        device: str | torch.device | None = None,
        precision: str | None = None,
    ) -> None:
        spec: ArchSpec = network.spec  # type: ignore[assignment]
        if scale not in SCALES:
            raise RifeError(f"scale must be one of {', '.join(map(str, SCALES))}, not {scale}")
        if ensemble:
            check_ensemble(spec)
        self.spec = spec
        self.scale = float(scale)
        self.ensemble = ensemble
        self.device = torch.device(device) if device is not None else default_device()
        self.precision = precision or precisions.default_precision(self.device, network)
        check_precision(self.precision, self.device)
        network = precisions.get(self.precision).apply(network)  # a copy: the caller's weights stay float32
        self.network = network.to(self.device).eval().requires_grad_(False)
        if self.device.type == "cpu":
            tune_allocator()
        self.multiple = spec.padded_multiple(self.scale)

    @classmethod
    def from_pretrained(
        cls, model: str | None = None, model_path: str | os.PathLike | None = None, **kwargs
    ) -> Interpolator:
        """Load ``model`` from the weight store (or ``model_path``) and wrap it."""
        return cls(load_network(model, model_path), **kwargs)

    # --- frames --------------------------------------------------------------------------------------

    def prepare(self, image: Tensor) -> PreparedFrame:
        """Move a ``1 x 3 x H x W`` (or ``3 x H x W``) frame in [0, 1] to the device, pad it, encode it."""
        if image.dim() == 3:
            image = image.unsqueeze(0)
        height, width = image.shape[-2:]
        image = image.to(self.device, torch.float32, non_blocking=True)
        pad_h = -height % self.multiple
        pad_w = -width % self.multiple
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h))
        with torch.inference_mode():
            features = self.network.encode_frame(image)
            layout = self.network.warp_layout(image)
        return PreparedFrame(image, features, height, width, layout)

    # --- interpolation --------------------------------------------------------------------------------

    @torch.inference_mode()
    def interpolate(
        self, frame0: Tensor | PreparedFrame, frame1: Tensor | PreparedFrame, timesteps: float | Sequence[float] = 0.5
    ) -> Tensor | list[Tensor]:
        """The frame(s) at ``timesteps`` (each strictly between 0 and 1), cropped to the input size.

        Returns one ``1 x 3 x H x W`` tensor for a single timestep, a list for a sequence.
        """
        single = not isinstance(timesteps, Sequence)
        wanted = [float(timesteps)] if single else [float(t) for t in timesteps]  # type: ignore[arg-type]
        for t in wanted:
            if not 0.0 < t < 1.0:
                raise RifeError(f"timestep must be between 0 and 1 (exclusive), not {t}")
        p0 = frame0 if isinstance(frame0, PreparedFrame) else self.prepare(frame0)
        p1 = frame1 if isinstance(frame1, PreparedFrame) else self.prepare(frame1)
        if p0.image.shape != p1.image.shape:
            raise RifeError(f"frames differ in size: {tuple(p0.image.shape)} and {tuple(p1.image.shape)}")
        if self.spec.timestep:
            outs = [self._run(p0, p1, t) for t in wanted]
        else:
            outs = self._bisect(p0, p1, wanted)
        outs = [o[:, :, : p0.height, : p0.width] for o in outs]
        return outs[0] if single else outs

    __call__ = interpolate

    def _run(self, p0: PreparedFrame, p1: PreparedFrame, t: float) -> Tensor:
        features = (p0.features, p1.features) if p0.features is not None else None
        layouts = (p0.layout, p1.layout) if p0.layout is not None and p1.layout is not None else None
        return self.network(p0.image, p1.image, t, self.scale, self.ensemble, features, layouts)

    def _bisect(self, p0: PreparedFrame, p1: PreparedFrame, wanted: list[float]) -> list[Tensor]:
        """Models before 3.9 only make the midpoint: reach k/2^n by halving, sharing midpoints."""
        memo: dict[Fraction, Tensor] = {Fraction(0): p0.image, Fraction(1): p1.image}
        outs = []
        for t in wanted:
            target = dyadic(t)
            if target is None:
                raise RifeError(
                    f"model {self.spec.name} has no timestep input and only reaches timesteps k/2^n "
                    f"(factors 2, 4, 8 ...), not {t}; models with a timestep input: {', '.join(timestep_models())}"
                )
            lo, hi = Fraction(0), Fraction(1)
            while True:
                mid = (lo + hi) / 2
                if mid not in memo:
                    memo[mid] = self.network(memo[lo], memo[hi], 0.5, self.scale, self.ensemble)
                if mid == target:
                    break
                lo, hi = (lo, mid) if target < mid else (mid, hi)
            outs.append(memo[target])
        return outs


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
