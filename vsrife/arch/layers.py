"""Building blocks shared by every RIFE network: convolutions, residual units, resizing and warping.

Tensor conventions (as in torchvision's RAFT): images are ``N x 3 x H x W`` float in [0, 1]; optical flow
is ``N x 4 x H x W`` in pixels of the tensor it belongs to, channels ``(dx0, dy0, dx1, dy1)`` pointing from
the intermediate frame to frame 0 and to frame 1; masks are ``N x 1 x H x W`` logits.
"""

from __future__ import annotations

import threading
import weakref

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import kernels


class TiledWeight:
    """A per-channel parameter as the bfloat16 kernels read it (:func:`~vsrife.arch.kernels.tile_per_channel`),
    made again only when the parameter changes: another tensor, new data (``module.to`` swaps ``.data``), or
    an in-place update (loading, training). Rebuilding it on every call cost ~1 ms per 3.9 frame at 720p.

    Streams share one network, so several threads may call this at once: the cache is one tuple, replaced
    whole, and a reader never sees the state of one weight with the tiles of another.

    A weight made under ``torch.inference_mode`` (a network built there) has no version counter, so an
    in-place update could not be seen: such weights are tiled on every call, correct at ~1 ms a frame."""

    def __init__(self) -> None:
        self._cache: tuple[weakref.ref[Tensor], tuple, Tensor] | None = None

    def __call__(self, weight: Tensor) -> Tensor:
        if weight.is_inference():
            return kernels.tile_per_channel(weight)
        state = (weight.data_ptr(), weight.dtype, weight._version)
        cache = self._cache
        if cache is not None and cache[0]() is weight and cache[1] == state:
            return cache[2]
        tiled = kernels.tile_per_channel(weight)
        self._cache = (weakref.ref(weight), state, tiled)
        return tiled


class PReLU(nn.PReLU):
    """``nn.PReLU`` (same parameters and state-dict key) that works in place on bfloat16 and float32
    channels-last CPU tensors, through the fused kernel (the same numbers, one pass instead of two). Like
    ``nn.LeakyReLU(inplace=True)``, it is only used right after the layer that made its input."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25) -> None:
        super().__init__(num_parameters, init)
        self.tiled_weight = TiledWeight()

    def forward(self, x: Tensor) -> Tensor:
        if kernels.prelu_usable(x):
            return kernels.prelu_(x, self.tiled_weight(self.weight))
        return super().forward(x)


def conv(in_channels: int, out_channels: int, stride: int = 1, activation: str = "prelu") -> nn.Sequential:
    """3x3 convolution followed by PReLU (per channel) or LeakyReLU(0.2).

    Both upstream variants are ``nn.Sequential(conv, act)``, so the state-dict keys are ``<name>.0.*`` for the
    convolution and ``<name>.1.weight`` for the PReLU slope (LeakyReLU has no parameters).
    """
    act: nn.Module = PReLU(out_channels) if activation == "prelu" else nn.LeakyReLU(0.2, inplace=True)
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), act)


def deconv(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """4x4 stride-2 transposed convolution: doubles height and width."""
    return nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1)


def deconv_prelu(in_channels: int, out_channels: int) -> nn.Sequential:
    """Transposed convolution (x2) followed by PReLU, the up-sampling step of the refinement U-Nets."""
    return nn.Sequential(deconv(in_channels, out_channels), PReLU(out_channels))


class ResConv(nn.Module):
    """Residual 3x3 convolution with a learned per-channel gain: ``leaky_relu(conv(x) * beta + x)`` (v4.5+)."""

    def __init__(self, channels: int, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1, groups=groups)
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        self.tiled_beta = TiledWeight()

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        if kernels.bf16_usable(y) and kernels.bf16_usable(x):  # bfloat16 channels-last: one fused pass
            return kernels.residual_leaky_(y, self.tiled_beta(self.beta), x, self.relu.negative_slope)
        return self.relu(y * self.beta + x)


class Conv2(nn.Module):
    """Two 3x3 conv+PReLU layers, the first one strided: the encoder stage of ContextNet and the U-Nets."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = conv(in_channels, out_channels, stride)
        self.conv2 = conv(out_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x))


def resize(x: Tensor, factor: float) -> Tensor:
    """Bilinear resize by ``factor`` (``align_corners=False``), exactly as every upstream RIFE does it."""
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def resize_if_needed(x: Tensor, factor: float) -> Tensor:
    """:func:`resize`, skipped when ``factor`` is 1 (bilinear resampling at scale 1 returns its input exactly)."""
    return x if factor == 1.0 else resize(x, factor)


def is_power_of_two(x: float) -> bool:
    """Whether ``x`` is 1, 2, 4, 8 ... (the factors bilinear resampling shortcuts below rely on)."""
    return x >= 1 and float(x).is_integer() and int(x) & (int(x) - 1) == 0


def resize_twice(x: Tensor, up: float, down: float, fused: bool = False) -> Tensor:
    """``resize(resize(x, up), 1 / down)``: what a block's output becomes once the next block has resized it.

    Computed in one resize when that is the same function (up to float rounding), as it is between the blocks
    of every version with hidden features: with ``down`` a power of two >= 2 and ``up / down`` an even integer,
    each output pixel averages two samples of the up-sampled field taken ``1 / (2 up)`` source pixels either
    side of where a direct resize by ``up / down`` samples. Those points are odd multiples of
    ``1 / (2 up / down)`` from the source grid, so the pair never straddles a source pixel and the bilinear
    field is linear between them (borders clamp both alike). Otherwise the two resizes are done in turn.
    With ``fused``, a single up-sampling goes through the fused kernel when it can (same values up to rounding).
    """
    ratio = up / down
    if down == 1.0 or (is_power_of_two(down) and ratio.is_integer() and int(ratio) % 2 == 0):
        if fused and ratio > 1 and kernels.usable(x) and x.dim() == 4:
            return kernels.upsample_accumulate(x, ratio, 0, [])
        return resize_if_needed(x, ratio)
    return resize(resize_if_needed(x, up), 1.0 / down)


def resize_flow(flow: Tensor, factor: float) -> Tensor:
    """Resize a flow field and rescale its vectors so they stay in pixels of the new size."""
    return resize(flow, factor) * factor


def swap_flow(flow: Tensor) -> Tensor:
    """Exchange the two flow directions: ``(f_t->0, f_t->1)`` becomes ``(f_t->1, f_t->0)``."""
    return torch.cat((flow[:, 2:4], flow[:, :2]), 1)


_grid_cache: dict[tuple[int, int, str], Tensor] = {}
_grid_lock = threading.Lock()


def base_grid(height: int, width: int, device: torch.device) -> Tensor:
    """The identity sampling grid ``1 x 2 x H x W`` (x then y, in [-1, 1], float32), cached per shape and
    device."""
    key = (height, width, str(device))
    grid = _grid_cache.get(key)
    if grid is None:
        xs = torch.linspace(-1.0, 1.0, width, device=device).view(1, 1, 1, width).expand(1, 1, height, width)
        ys = torch.linspace(-1.0, 1.0, height, device=device).view(1, 1, height, 1).expand(1, 1, height, width)
        grid = torch.cat((xs, ys), 1)
        with _grid_lock:
            if len(_grid_cache) > 64:  # a long session with many resolutions: keep memory bounded
                _grid_cache.clear()
            _grid_cache[key] = grid
    return grid


def warp(image: Tensor, flow: Tensor, base: Tensor | None = None) -> Tensor:
    """Backward-warp ``image`` (``N x C x h x w``) by ``flow`` (``N x 2 x H x W``, pixels).

    Always computed in float32, whatever the dtype of the inputs (half-precision grids lose whole pixels at
    HD sizes), and returned in the image's dtype. As upstream, the grid has the flow's size while the
    vectors are normalised by the *image's* size; the two only differ in v3.5's ``scale != 1`` path.
    ``base`` replaces the identity grid (:func:`base_grid` of the flow's size), e.g. by a subset of its points.
    """
    dtype = image.dtype
    height, width = image.shape[-2:]
    # base + flow / ((size - 1) / 2) per channel, as upstream, in one contiguous pass (measured fastest)
    divisor = flow.new_tensor([(width - 1.0) / 2.0, (height - 1.0) / 2.0], dtype=torch.float32).view(1, 2, 1, 1)
    if base is None:
        base = base_grid(flow.shape[2], flow.shape[3], flow.device)
    grid = torch.addcdiv(base, flow.float(), divisor).permute(0, 2, 3, 1)
    out = F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.to(dtype)


def warp_pair(pair: Tensor, flow: Tensor) -> tuple[Tensor, Tensor]:
    """Warp frame 0 by ``flow[:, :2]`` and frame 1 by ``flow[:, 2:4]`` in one ``grid_sample`` call.

    ``pair`` is ``2N x C x h x w``: the N frames 0, then the N frames 1 (stack them once, reuse them for every
    block). One call on a batch of two is much faster than two calls, and gives the same numbers.
    """
    n, _, height, width = flow.shape
    # (N, 4, H, W) -> (2N, 2, H, W): for one frame pair a free view, the two halves are contiguous already
    if n == 1 and flow.is_contiguous():
        flows = flow.view(2, 2, height, width)
    else:
        flows = torch.cat((flow[:, :2], flow[:, 2:4]))
    warped = warp(pair, flows)
    return warped[:n], warped[n:]


def warp_subsampling_pays(down: float) -> bool:
    """Whether :func:`warp_pair_resized` warps only the pixels a down-sampling by ``down`` reads: for powers of
    two from 8 (below, warping everything was measured faster)."""
    return down >= 8 and is_power_of_two(down)


def warp_pair_resized(pair: Tensor, flow: Tensor, down: float) -> tuple[Tensor, Tensor]:
    """``resize`` of both :func:`warp_pair` results by ``1 / down``, warping only the pixels that reads.

    Bilinear down-sampling by a power of two ``down >= 4`` (``align_corners=False``) averages, for each output
    pixel, the 2 x 2 input pixels at rows and columns ``down * i + down / 2 - 1`` and ``down * i + down / 2``:
    4 of every ``down ** 2``. Those are warped with the grid points and flow vectors of the full-size warp and
    averaged with the down-sampling's weights, so the result is the same. Below ``down = 8`` that is slower
    than warping everything (measured at 720p: 25 against 19 ms at 4; 10 against 16 ms at 8, 8 against 23 ms
    at 16), so smaller factors, like any other, take the long way.
    """
    if not warp_subsampling_pays(down):
        first, second = warp_pair(pair, flow)
        return resize(first, 1.0 / down), resize(second, 1.0 / down)
    step, n = int(down), flow.shape[0]
    flows = torch.cat((flow[:, :2], flow[:, 2:4]))
    base = base_grid(flow.shape[2], flow.shape[3], flow.device)
    corners = {}
    for dy in (step // 2 - 1, step // 2):
        for dx in (step // 2 - 1, step // 2):
            points = (..., slice(dy, None, step), slice(dx, None, step))
            corners[dy, dx] = warp(pair, flows[points], base[points])
    low, high = step // 2 - 1, step // 2
    # the down-sampling's own arithmetic: rows weighted 0.5 / 0.5 of columns weighted 0.5 / 0.5
    top = corners[low, low] * 0.5 + corners[low, high] * 0.5
    bottom = corners[high, low] * 0.5 + corners[high, high] * 0.5
    out = top * 0.5 + bottom * 0.5
    return out[:n], out[n:]
