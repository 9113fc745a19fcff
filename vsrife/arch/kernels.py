"""The fused CPU kernels of the fast path (``native/kernels.c``), loaded with ctypes.

They are an optimisation, never a requirement: :func:`usable` says whether a tensor can go through them (the
library was built, the tensor is float32 on the CPU), and callers fall back to the PyTorch operations
otherwise (CUDA, a source checkout that was not built, other platforms). The library is built with the
package (``setup.py``) and links the OpenMP runtime PyTorch already loaded, so both share one thread pool.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.machinery
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor


def _declare(library: ctypes.CDLL) -> None:
    """Argument and result types of every kernel (AttributeError if the library lacks one)."""
    function = library.vsrife_upsample_accumulate
    function.restype = ctypes.c_int
    function.argtypes = [
        ctypes.c_void_p,  # low
        ctypes.c_void_p,  # out
        ctypes.c_void_p,  # base planes (array of pointers) or NULL
        *[ctypes.c_int64] * 6,  # n, c, h, w, H, W
        ctypes.c_float,  # ratio_h
        ctypes.c_float,  # ratio_w
        ctypes.c_void_p,  # mult
        ctypes.c_int,  # threads
    ]
    library.vsrife_residual_leaky_bf16_channels_last.restype = None
    library.vsrife_residual_leaky_bf16_channels_last.argtypes = [
        ctypes.c_void_p,  # y (bfloat16, channels-last), updated in place
        ctypes.c_void_p,  # x (bfloat16, channels-last)
        ctypes.c_void_p,  # gains (float32, one per channel, repeated PRELU_TILE times)
        ctypes.c_int64,  # pixels
        ctypes.c_int64,  # channels
        ctypes.c_float,  # negative slope
        ctypes.c_int,  # threads
    ]
    library.vsrife_prelu_tile.restype = ctypes.c_int64
    library.vsrife_prelu_tile.argtypes = []
    library.vsrife_prelu_bf16_channels_last.restype = None
    library.vsrife_prelu_bf16_channels_last.argtypes = [
        ctypes.c_void_p,  # x (bfloat16, channels-last)
        ctypes.c_void_p,  # slope (float32, one per channel)
        ctypes.c_int64,  # pixels
        ctypes.c_int64,  # channels
        ctypes.c_int,  # threads
    ]
    library.vsrife_pixel_shuffle_bf16_to_float.restype = None
    library.vsrife_pixel_shuffle_bf16_to_float.argtypes = [
        ctypes.c_void_p,  # x (bfloat16, channels-last)
        *[ctypes.c_int64] * 3,  # c (output channels), h, w
        ctypes.c_void_p,  # out (float32)
        ctypes.c_int,  # threads
    ]
    library.vsrife_warp_sources.restype = ctypes.c_int
    library.vsrife_warp_sources.argtypes = [
        ctypes.c_void_p,  # images (array of pointers; channels-last, padded to groups of four)
        ctypes.c_void_p,  # groups of four channels per image
        ctypes.c_void_p,  # channels used per image
        ctypes.c_void_p,  # side per image (0: flow channels 0-1, 1: 2-3)
        ctypes.c_int64,  # images
        ctypes.c_void_p,  # flow
        *[ctypes.c_int64] * 3,  # H, W, down
        ctypes.c_void_p,  # out (array of pointers, one per image)
        *[ctypes.c_int64] * 2,  # out's channel stride and pixel stride (floats)
        ctypes.c_int,  # threads
    ]
    library.vsrife_warp_blend.restype = ctypes.c_int
    library.vsrife_warp_blend.argtypes = [
        ctypes.c_void_p,  # image 0 (channels-last, four channels)
        ctypes.c_void_p,  # image 1
        ctypes.c_void_p,  # flow
        ctypes.c_void_p,  # alpha
        *[ctypes.c_int64] * 3,  # H, W, channels
        ctypes.c_void_p,  # out
        ctypes.c_int,  # threads
    ]
    library.vsrife_quantize_u8.restype = None
    library.vsrife_quantize_u8.argtypes = [
        ctypes.c_void_p,  # x (float32)
        ctypes.c_void_p,  # q (uint8, x's layout)
        ctypes.c_int64,  # count
        *[ctypes.c_float] * 3,  # 1 / scale, zero point, top
        ctypes.c_int,  # threads
    ]
    library.vsrife_prelu_quantize_u8.restype = None
    library.vsrife_prelu_quantize_u8.argtypes = [
        ctypes.c_void_p,  # x (float32, channels-last), PReLU'd in place if q is NULL
        ctypes.c_void_p,  # slopes (float32, one per channel, repeated PRELU_TILE times)
        ctypes.c_int64,  # pixels
        ctypes.c_int64,  # channels
        ctypes.c_void_p,  # q (uint8, channels-last) or NULL
        *[ctypes.c_float] * 3,  # 1 / scale, zero point, top
        ctypes.c_int,  # threads
    ]
    library.vsrife_quantize_planes.restype = None
    library.vsrife_quantize_planes.argtypes = [
        ctypes.c_void_p,  # x (float32, channels-last)
        ctypes.c_void_p,  # slopes (float32, one per channel, repeated PRELU_TILE times) or NULL
        ctypes.c_int64,  # pixels
        ctypes.c_int64,  # channels
        ctypes.c_void_p,  # high plane (uint8, x's layout)
        ctypes.c_void_p,  # low plane
        *[ctypes.c_float] * 3,  # 1 / scale, zero point, top
        ctypes.c_int,  # bits per plane
        ctypes.c_int,  # threads
    ]
    library.vsrife_range_f32.restype = None
    library.vsrife_range_f32.argtypes = [
        ctypes.c_void_p,  # x (float32, channels-last if slopes)
        ctypes.c_void_p,  # slopes (float32, one per channel, repeated PRELU_TILE times) or NULL
        ctypes.c_int64,  # pixels
        ctypes.c_int64,  # channels
        ctypes.c_void_p,  # out: min, max (float32)
        ctypes.c_int,  # threads
    ]
    library.vsrife_residual_leaky_f32.restype = None
    library.vsrife_residual_leaky_f32.argtypes = [
        ctypes.c_void_p,  # x (float32), updated in place
        ctypes.c_void_p,  # y (float32, x's layout)
        ctypes.c_int64,  # count
        ctypes.c_float,  # negative slope
        ctypes.c_void_p,  # out: min, max (float32)
        ctypes.c_int,  # threads
    ]
    library.vsrife_use_baseline.restype = None
    library.vsrife_use_baseline.argtypes = [ctypes.c_int]
    library.vsrife_pack_channels_last.restype = None
    library.vsrife_pack_channels_last.argtypes = [
        ctypes.c_void_p,  # plane pointers
        ctypes.c_int64,  # channels
        ctypes.c_int64,  # height
        ctypes.c_int64,  # width
        ctypes.c_void_p,  # out (float32, channels-last)
        ctypes.c_int64,  # out's pixel stride (floats)
        ctypes.c_int,  # threads
    ]


def _load() -> ctypes.CDLL | None:
    here = Path(__file__).resolve().parent.parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_kernels{suffix}"
        if path.exists():
            try:
                library = ctypes.CDLL(str(path))
                _declare(library)
            except (OSError, AttributeError):  # not loadable, or built from older sources: use the fallbacks
                return None
            return library
    return None


_library = _load()
PRELU_TILE = _library.vsrife_prelu_tile() if _library is not None else 0


def _check(status: int) -> None:
    """The kernels return -1 when a per-thread buffer could not be allocated."""
    if status != 0:
        raise MemoryError("vsrife kernels: out of memory")


def available() -> bool:
    """Whether the kernel library was built and loads."""
    return _library is not None


@contextlib.contextmanager
def baseline_build() -> Iterator[None]:
    """Run every kernel's baseline build instead of its x86-64-v4 (AVX-512) one, which this CPU may otherwise
    pick: the tests compare the two. Not thread-safe: for tests only."""
    if _library is None:
        raise RuntimeError("the kernel library is not built")
    _library.vsrife_use_baseline(1)
    try:
        yield
    finally:
        _library.vsrife_use_baseline(0)


def usable(x: Tensor) -> bool:
    """Whether ``x`` can go through the kernels: a float32 CPU tensor, and the library is there."""
    return _library is not None and x.device.type == "cpu" and x.dtype == torch.float32


def _planes_contiguous(t: Tensor) -> bool:
    """Whether each ``H x W`` plane of an ``N x C x H x W`` tensor is one block of memory (channel and batch
    strides may be anything: views of other tensors' channels qualify)."""
    return t.stride(3) == 1 and t.stride(2) == t.shape[3]


def _plane_pointers(t: Tensor) -> list[list[int]]:
    """Per image, the address of each ``H x W`` plane of an ``N x C x H x W`` tensor with contiguous planes."""
    n, c, _, _ = t.shape
    if not _planes_contiguous(t):
        raise ValueError("each plane must be contiguous")
    size = t.element_size()
    return [[t.data_ptr() + (b * t.stride(0) + ch * t.stride(1)) * size for ch in range(c)] for b in range(n)]


def upsample_accumulate(head: Tensor, factor: float, scaled_channels: int, bases: list[Tensor]) -> Tensor:
    """``bases + resize(head * m, factor)`` in one pass: how a block's update joins the running estimate.

    ``head`` is ``N x C x h x w`` float32; its first ``scaled_channels`` channels (the flow, in pixels of the
    block's resolution) are multiplied by ``factor`` so they count pixels of the result. ``bases`` are
    ``N x C_i x H x W`` tensors added, in order, to the first channels of the result (e.g. ``[flow, mask]``,
    or ``[flow]`` when the mask is replaced, or ``[]``). Returns ``N x C x H x W`` with ``H = h * factor``
    (bilinear, ``align_corners=False``, as :func:`~vsrife.arch.layers.resize`).
    """
    if not usable(head) or head.dim() != 4:
        raise ValueError("upsample_accumulate takes a 4-D float32 CPU tensor (check usable() first)")
    head = head.contiguous()
    n, c, h, w = head.shape
    height, width = int(h * factor), int(w * factor)
    kept = []  # contiguous copies must outlive the call
    planes: list[list[int]] = [[] for _ in range(n)]  # per image, the base planes in channel order
    for base in bases:
        if base.dim() != 4 or base.shape[0] != n or base.shape[2:] != (height, width) or not usable(base):
            raise ValueError(f"base {tuple(base.shape)} does not match {n} x C x {height} x {width} float32")
        if not _planes_contiguous(base):
            base = base.contiguous()
        kept.append(base)
        for image, pointers in zip(planes, _plane_pointers(base), strict=True):
            image += pointers
    if len(planes[0]) > c:
        raise ValueError(f"the bases have {len(planes[0])} channels, the update only {c}")
    # one pointer per output plane, image by image; channels past the bases get none
    pointers = [image[ch] if ch < len(image) else None for image in planes for ch in range(c)]
    out = torch.empty((n, c, height, width), dtype=torch.float32)
    mult = torch.tensor([factor] * scaled_channels + [1.0] * (c - scaled_channels), dtype=torch.float32)
    plane_array = (ctypes.c_void_p * len(pointers))(*pointers) if bases else None
    status = _library.vsrife_upsample_accumulate(  # type: ignore[union-attr]
        head.data_ptr(),
        out.data_ptr(),
        plane_array,
        n,
        c,
        h,
        w,
        height,
        width,
        1.0 / factor,
        1.0 / factor,
        mult.data_ptr(),
        torch.get_num_threads(),
    )
    del kept
    _check(status)
    return out


def bf16_usable(x: Tensor) -> bool:
    """Whether the bfloat16 kernels (:func:`prelu_`, :func:`residual_leaky_`, :func:`pixel_shuffle_to_float`)
    can take ``x``: bfloat16, 4-D channels-last, on the CPU, not part of an autograd graph."""
    return (
        _library is not None
        and x.device.type == "cpu"
        and x.dtype == torch.bfloat16
        and x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.requires_grad
    )


def tile_per_channel(values: Tensor) -> Tensor:
    """Per-channel values as :func:`prelu_` and :func:`residual_leaky_` read them: float32, repeated
    ``PRELU_TILE`` times (the kernels run over tiles of pixels). Both accept either form; modules keep the
    tiled one (:class:`~vsrife.arch.layers.TiledWeight`) rather than rebuilding it on every call."""
    return values.detach().to(torch.float32).reshape(-1).repeat(PRELU_TILE)


def _per_channel(x: Tensor) -> tuple[int, int]:
    """The sizes a per-channel argument of the bfloat16 kernels may have for ``x``: plain, or tiled."""
    return x.shape[1], x.shape[1] * PRELU_TILE


def residual_leaky_(y: Tensor, gain: Tensor, x: Tensor, slope: float) -> Tensor:
    """``leaky_relu(y * gain + x, slope)`` into ``y``, in one pass instead of three, bit for bit PyTorch's
    (v4.5+'s ResConv: ``y`` the convolution's output, ``gain`` its per-channel ``beta``, plain or as
    :func:`tile_per_channel` makes it, ``x`` its input). Both tensors bfloat16 channels-last of one shape."""
    if not (bf16_usable(y) and bf16_usable(x) and x.shape == y.shape and gain.numel() in _per_channel(y)):
        raise ValueError("residual_leaky_ takes two bfloat16 channels-last CPU tensors of one shape, one gain each")
    gains = gain if gain.numel() > y.shape[1] else tile_per_channel(gain)
    n, c, h, w = y.shape
    _library.vsrife_residual_leaky_bf16_channels_last(  # type: ignore[union-attr]
        y.data_ptr(), x.data_ptr(), gains.data_ptr(), n * h * w, c, slope, torch.get_num_threads()
    )
    return y


def prelu_usable(x: Tensor) -> bool:
    """Whether :func:`prelu_` can take ``x``: bfloat16 or float32, 4-D channels-last, on the CPU, not part of
    an autograd graph."""
    return bf16_usable(x) or (_float_channels_last(x) and not x.requires_grad)


def prelu_(x: Tensor, slope: Tensor) -> Tensor:
    """In-place PReLU of a bfloat16 or float32 channels-last tensor (one slope per channel, plain or as
    :func:`tile_per_channel` makes it); bit for bit ``torch.nn.functional.prelu``, in one pass instead of a
    copy (ATen's float32 PReLU on channels-last tensors took 10 ms for 3.9's largest at 720p)."""
    if not prelu_usable(x) or slope.numel() not in _per_channel(x):
        raise ValueError("prelu_ takes a bfloat16 or float32 channels-last CPU tensor and one slope per channel")
    slopes = slope if slope.numel() > x.shape[1] else tile_per_channel(slope)
    n, c, h, w = x.shape
    if x.dtype == torch.float32:  # the int8 chains' kernel, with nothing to quantize: PReLU in place
        _library.vsrife_prelu_quantize_u8(  # type: ignore[union-attr]
            x.data_ptr(), slopes.data_ptr(), n * h * w, c, None, 1.0, 0.0, 255.0, torch.get_num_threads()
        )
        return x
    _library.vsrife_prelu_bf16_channels_last(  # type: ignore[union-attr]
        x.data_ptr(), slopes.data_ptr(), n * h * w, c, torch.get_num_threads()
    )
    return x


def pack_usable(parts: list[Tensor]) -> bool:
    """Whether :func:`pack_channels_last` takes ``parts``."""
    if _library is None or not parts:
        return False
    size = parts[0].shape[2:]
    return all(
        p.dim() == 4 and p.shape[0] == 1 and p.shape[2:] == size and usable(p) and _planes_contiguous(p) for p in parts
    )


def pack_channels_last(parts: list[Tensor], out: Tensor | None = None) -> Tensor:
    """``torch.cat(parts, 1).contiguous(memory_format=torch.channels_last)`` in one pass, for one image
    (``1 x C_i x H x W`` float32 parts whose planes are contiguous); with ``out`` (channels of a wider
    channels-last image, see :func:`channels_last_view_usable`), written there and returned."""
    if not pack_usable(parts):
        raise ValueError("pack_channels_last takes 1 x C x H x W float32 CPU parts of one size")
    pointers = [plane for p in parts for plane in _plane_pointers(p)[0]]
    _, _, h, w = parts[0].shape
    if out is None:
        out = torch.empty((1, len(pointers), h, w), dtype=torch.float32, memory_format=torch.channels_last)
    else:
        _check_view(out, len(pointers), h, w)
    _library.vsrife_pack_channels_last(  # type: ignore[union-attr]
        (ctypes.c_void_p * len(pointers))(*pointers),
        len(pointers),
        h,
        w,
        out.data_ptr(),
        out.stride(3),
        torch.get_num_threads(),
    )
    return out


def channels_last_view_usable(view: Tensor) -> bool:
    """Whether ``view`` is some channels of a ``1 x C x H x W`` float32 channels-last CPU image (e.g.
    ``image[:, a:b]``), which :func:`pack_channels_last` and :func:`warp_sources` can write into: a block's
    input is allocated whole and filled part by part, the parts never stored on their own."""
    n, c, _, w = view.shape
    return (
        usable(view) and n == 1 and view.stride(1) == 1 and view.stride(3) >= c and view.stride(2) == w * view.stride(3)
    )


def _check_view(out: Tensor, channels: int, h: int, w: int) -> None:
    if not (channels_last_view_usable(out) and out.shape == (1, channels, h, w)):
        raise ValueError(f"out {tuple(out.shape)} is not a channels-last view of {channels} x {h} x {w}")


def shuffle_usable(x: Tensor) -> bool:
    """Whether :func:`pixel_shuffle_to_float` takes ``x``."""
    return bf16_usable(x) and x.shape[0] == 1 and x.shape[1] % 4 == 0


def pixel_shuffle_to_float(x: Tensor) -> Tensor:
    """``F.pixel_shuffle(x, 2).to(torch.float32, memory_format=torch.contiguous_format)`` in one pass, bit for
    bit, for ``1 x 4C x h x w`` bfloat16 channels-last (a 4.5+ head's transposed convolution): the block's
    update and hidden features come out planar, ready for the float32 kernels."""
    if not shuffle_usable(x):
        raise ValueError("pixel_shuffle_to_float takes a 1 x 4C x h x w bfloat16 channels-last CPU tensor")
    _, channels, height, width = x.shape
    out = torch.empty((1, channels // 4, 2 * height, 2 * width), dtype=torch.float32)
    _library.vsrife_pixel_shuffle_bf16_to_float(  # type: ignore[union-attr]
        x.data_ptr(), channels // 4, height, width, out.data_ptr(), torch.get_num_threads()
    )
    return out


MAX_WARP_SOURCES = 8  # pairs; the kernel takes 16 images


def warp_layout(image: Tensor) -> Tensor:
    """A ``1 x C x H x W`` float32 image in the layout :func:`warp_sources` reads: channels-last with the
    channels zero-padded to a multiple of four (``1 x 4k x H x W``), so that four channels of a pixel are one
    16-byte load. Channels-last images with ``C % 4 == 0`` (the fast path's encoder features) are returned
    as they are."""
    n, channels, height, width = image.shape
    if n == 1 and channels % 4 == 0 and image.is_contiguous(memory_format=torch.channels_last):
        return image
    out = image.new_zeros((n, height, width, 4 * ((channels + 3) // 4))).permute(0, 3, 1, 2)
    out[:, :channels] = image
    return out


def _check_flow(flow: Tensor, kernel: str) -> tuple[int, int]:
    """The height and width of a flow the warp kernels take (contiguous ``1 x 4 x H x W`` float32, CPU)."""
    _, four, height, width = flow.shape
    if not (usable(flow) and flow.is_contiguous() and flow.shape[0] == 1 and four == 4):
        raise ValueError(f"{kernel} takes a contiguous 1 x 4 x H x W float32 CPU flow")
    return height, width


def _check_layout(image: Tensor, flow: Tensor) -> int:
    """The channels (a multiple of four) of an image in :func:`warp_layout` that fits ``flow``."""
    padded = image.shape[1]
    if not (usable(image) and image.shape == (1, padded, *flow.shape[2:])):
        raise ValueError(f"image {tuple(image.shape)} does not fit flow {tuple(flow.shape)}")
    if padded % 4 or not image.is_contiguous(memory_format=torch.channels_last) or image.data_ptr() % 16:
        raise ValueError("images must be in warp_layout (channels-last, 16-byte aligned)")
    if image.numel() >= 2**31:  # the kernels index pixels with 32-bit integers
        raise ValueError(f"an image of 2^31 values or more: {tuple(image.shape)}")
    return padded


def warp_sources(
    pairs: list[tuple[Tensor, Tensor, int]], flow: Tensor, down: int = 1, out: Tensor | None = None
) -> Tensor:
    """Warp image pairs by a flow and down-sample the results in one pass (the fast path's block inputs).

    ``pairs``: ``(image0, image1, channels)`` with both images in :func:`warp_layout` (``1 x 4k x H x W``) and
    the first ``channels`` of them wanted; ``flow``: ``1 x 4 x H x W`` in pixels. Image 0 is warped by
    ``flow[:, :2]``, image 1 by ``flow[:, 2:4]`` (:func:`~vsrife.arch.layers.warp_pair`), then down-sampled by
    ``down`` (1 or a power of two; :func:`~vsrife.arch.layers.resize` by ``1 / down``) warping only the 2 x 2
    pixels per output pixel the down-sampling reads. Returns ``1 x C x H/down x W/down`` float32 with, per
    pair, the ``channels`` of image 0 then those of image 1; equal to the PyTorch operations up to float
    rounding. With ``out`` (channels of a wider channels-last image, see :func:`channels_last_view_usable`)
    the result is written there and returned.
    """
    height, width = _check_flow(flow, "warp_sources")
    if not 0 < len(pairs) <= MAX_WARP_SOURCES or down < 1 or down & (down - 1):
        raise ValueError(f"warp_sources takes 1 to {MAX_WARP_SOURCES} pairs and a power-of-two factor, not {down}")
    images, groups, channels = [], [], []
    for image0, image1, used in pairs:
        for image in (image0, image1):
            padded = _check_layout(image, flow)
            if not 0 < used <= padded:
                raise ValueError(f"{used} channels wanted of {padded}")
            images.append(image.data_ptr())
            groups.append(padded // 4)
            channels.append(used)
    h, w = height // down, width // down
    if out is None:
        out = torch.empty((1, sum(channels), h, w), dtype=torch.float32)
        channel_stride, pixel_stride = h * w, 1
    else:
        _check_view(out, sum(channels), h, w)
        channel_stride, pixel_stride = 1, out.stride(3)
    offsets = itertools.accumulate(channels, initial=0)
    out_planes = [out.data_ptr() + offset * channel_stride * out.element_size() for offset in offsets]
    count = len(images)
    status = _library.vsrife_warp_sources(  # type: ignore[union-attr]
        (ctypes.c_void_p * count)(*images),
        (ctypes.c_int64 * count)(*groups),
        (ctypes.c_int64 * count)(*channels),
        (ctypes.c_int64 * count)(*[k % 2 for k in range(count)]),
        count,
        flow.data_ptr(),
        height,
        width,
        down,
        (ctypes.c_void_p * count)(*out_planes[:count]),
        channel_stride,
        pixel_stride,
        torch.get_num_threads(),
    )
    _check(status)
    return out


def warp_blend(image0: Tensor, image1: Tensor, channels: int, flow: Tensor, alpha: Tensor) -> Tensor:
    """``warp(image0, flow[:, :2]) * alpha + warp(image1, flow[:, 2:4]) * (1 - alpha)`` in one pass, the
    warped frames never stored: the result of every version without a refinement network.

    ``image0``, ``image1``: ``1 x 4 x H x W`` in :func:`warp_layout` (of frames with ``channels`` <= 4);
    ``flow``: contiguous ``1 x 4 x H x W`` in pixels; ``alpha``: ``1 x 1 x H x W`` (the mask's sigmoid).
    Returns ``1 x channels x H x W`` float32, equal to the PyTorch operations up to float rounding."""
    height, width = _check_flow(flow, "warp_blend")
    if not (usable(alpha) and alpha.is_contiguous() and alpha.shape == (1, 1, height, width)):
        raise ValueError(f"alpha {tuple(alpha.shape)} does not fit flow {tuple(flow.shape)}")
    if not (_check_layout(image0, flow) == _check_layout(image1, flow) == 4 and 0 < channels <= 4):
        raise ValueError(f"warp_blend takes layouts of four channels and 1 to 4 of them wanted, not {channels}")
    out = torch.empty((1, channels, height, width), dtype=torch.float32)
    _check(
        _library.vsrife_warp_blend(  # type: ignore[union-attr]
            image0.data_ptr(),
            image1.data_ptr(),
            flow.data_ptr(),
            alpha.data_ptr(),
            height,
            width,
            channels,
            out.data_ptr(),
            torch.get_num_threads(),
        )
    )
    return out


# --- uint8 activations of the int8 path ----------------------------------------------------------------------


@dataclass(frozen=True)
class Quantizer:
    """Per-tensor affine uint8 quantization of activations: ``q = clamp(round(x / scale + zero_point), 0, top)``
    with ``top`` 255, or 127 where 8-bit activations would overflow the CPU's int8 convolutions."""

    scale: float
    zero_point: int
    top: int = 255

    @classmethod
    def spanning(cls, lo: float, hi: float, top: int = 255) -> Quantizer:
        """The quantization of ``[lo, hi]``, widened to include 0, which stays exact (zero padding)."""
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        scale = max(hi - lo, 1e-8) / top
        return cls(scale, round(-lo / scale), top)

    def codes(self, x: Tensor) -> Tensor:
        """The integer codes of ``x`` (int32, any ``top``), in PyTorch: the kernels' arithmetic."""
        return torch.round(x * (1.0 / self.scale) + self.zero_point).clamp_(0, self.top).int()

    def reference(self, x: Tensor) -> Tensor:
        """The PyTorch operations the kernels compute in one pass (the fallback without the library)."""
        return self.codes(x).to(torch.uint8)

    def _args(self) -> tuple[float, float, float]:
        return 1.0 / self.scale, float(self.zero_point), float(self.top)

    def planes(self, bits: int) -> tuple[Quantizer, Quantizer]:
        """A wide quantization (``top`` = 2^(2 bits) - 1) as the two planes :func:`quantize_planes` makes:
        ``x = scale * (q - zero_point)`` with ``q = high * 2^bits + low`` is ``high``'s value under the first
        quantizer plus ``low``'s under the second."""
        if self.top != (1 << 2 * bits) - 1:
            raise ValueError(f"a quantizer with top {self.top} does not split into two {bits}-bit planes")
        high = Quantizer(self.scale * (1 << bits), self.zero_point >> bits, (1 << bits) - 1)
        return high, Quantizer(self.scale, self.zero_point & ((1 << bits) - 1), (1 << bits) - 1)


def _float_channels_last(x: Tensor) -> bool:
    return usable(x) and x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)


def _slopes_fit(x: Tensor, slope: Tensor) -> bool:
    return _float_channels_last(x) and slope.numel() in _per_channel(x)


def _tiled(x: Tensor, slope: Tensor) -> Tensor:
    return slope if slope.numel() > x.shape[1] else tile_per_channel(slope)


def value_range(x: Tensor, slope: Tensor | None = None) -> tuple[float, float]:
    """Min and max of ``x`` (float32 channels-last), PReLU'd by ``slope`` (one per channel) if given."""
    if not _float_channels_last(x) or (slope is not None and not _slopes_fit(x, slope)):
        values = x if slope is None else F.prelu(x, slope.reshape(-1)[: x.shape[1]])
        return float(values.min()), float(values.max())
    out = torch.empty(2)
    n, c, h, w = x.shape
    slopes = None if slope is None else _tiled(x, slope)
    _library.vsrife_range_f32(  # type: ignore[union-attr]
        x.data_ptr(), None if slopes is None else slopes.data_ptr(), n * h * w, c, out.data_ptr(),
        torch.get_num_threads(),
    )  # fmt: skip
    return float(out[0]), float(out[1])


def quantize_u8(x: Tensor, quantizer: Quantizer) -> Tensor:
    """``x`` (float32 CPU, channels-last) as uint8 in the same layout, in one pass."""
    if not _float_channels_last(x):
        return quantizer.reference(x).contiguous(memory_format=torch.channels_last)
    q = torch.empty_like(x, dtype=torch.uint8)
    _library.vsrife_quantize_u8(  # type: ignore[union-attr]
        x.data_ptr(), q.data_ptr(), x.numel(), *quantizer._args(), torch.get_num_threads()
    )
    return q


def quantize_planes(x: Tensor, quantizer: Quantizer, bits: int, slope: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``x`` (float32 channels-last), PReLU'd by ``slope`` if given, quantized by the wide ``quantizer``
    (``top`` = 2^(2 bits) - 1) and split into a high and a low uint8 plane in one pass (see
    :meth:`Quantizer.planes`): activations with twice the bits, for convolutions that take 8 or 7."""
    mask = (1 << bits) - 1
    if not _float_channels_last(x) or (slope is not None and not _slopes_fit(x, slope)):
        values = x if slope is None else F.prelu(x, slope.reshape(-1)[: x.shape[1]])
        wide = quantizer.codes(values)
        planes = (wide >> bits).to(torch.uint8), (wide & mask).to(torch.uint8)
        return tuple(p.contiguous(memory_format=torch.channels_last) for p in planes)  # type: ignore[return-value]
    high, low = torch.empty_like(x, dtype=torch.uint8), torch.empty_like(x, dtype=torch.uint8)
    slopes = None if slope is None else _tiled(x, slope)  # held until the call returns
    n, c, h, w = x.shape
    _library.vsrife_quantize_planes(  # type: ignore[union-attr]
        x.data_ptr(), None if slopes is None else slopes.data_ptr(), n * h * w, c, high.data_ptr(), low.data_ptr(),
        *quantizer._args(), bits, torch.get_num_threads(),
    )  # fmt: skip
    return high, low


def prelu_quantize_(x: Tensor, slope: Tensor, quantizer: Quantizer | None) -> Tensor | None:
    """PReLU of a convolution's float32 channels-last output ``x`` (one slope per channel, plain or as
    :func:`tile_per_channel` makes it), quantized by ``quantizer`` (the next layer's input) and returned;
    without a quantizer, ``x`` itself PReLU'd in place. One pass over ``x``."""
    if not _slopes_fit(x, slope):
        activated = F.prelu(x, slope.reshape(-1)[: x.shape[1]])
        if quantizer is None:
            x.copy_(activated)
            return None
        return quantizer.reference(activated)
    q = None if quantizer is None else torch.empty_like(x, dtype=torch.uint8)
    slopes = _tiled(x, slope)  # held until the call returns: a temporary's memory could be reused meanwhile
    n, c, h, w = x.shape
    args = quantizer._args() if quantizer is not None else (1.0, 0.0, 255.0)
    _library.vsrife_prelu_quantize_u8(  # type: ignore[union-attr]
        x.data_ptr(), slopes.data_ptr(), n * h * w, c, None if q is None else q.data_ptr(), *args,
        torch.get_num_threads(),
    )  # fmt: skip
    return q


def residual_leaky_float_(x: Tensor, y: Tensor, slope: float) -> tuple[float, float]:
    """``x = leaky_relu(y + x, slope)`` in place (v4.5+'s ResConv tail, the gain folded into ``y``) and the
    result's min and max, in one pass; ``x`` and ``y`` float32 channels-last of one shape."""
    if not (_float_channels_last(x) and _float_channels_last(y) and x.shape == y.shape):
        x.copy_(F.leaky_relu(y + x, slope))
        return float(x.min()), float(x.max())
    out = torch.empty(2)
    _library.vsrife_residual_leaky_f32(  # type: ignore[union-attr]
        x.data_ptr(), y.data_ptr(), x.numel(), slope, out.data_ptr(), torch.get_num_threads()
    )
    return float(out[0]), float(out[1])
