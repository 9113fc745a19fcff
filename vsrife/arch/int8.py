"""The int8 path: the IFBlocks' bodies in int8 on the CPU, through oneDNN.

What is quantized: the body of every block — 3.9-4.4's eight conv + PReLU/LeakyReLU layers, 4.5+'s eight
ResConv units, 3.x's pairs with a skip — which holds most of a frame's arithmetic. What stays float32,
because quantizing it cost accuracy on real footage (measured per layer: ``docs/performance.md``): both
layers of each block's ``conv0`` (its input mixes frames in [0, 1] with flows in pixels; its second layer
alone cost 0.4 dB), the heads (transposed convolutions that predict the flow itself), the feature encoders,
and all resampling, warping and blending.

Weights are int8 per output channel (symmetric, ``max |w| / 127``). Activations are uint8 per tensor, their
range measured on each frame as it runs: one pass finds the range of a layer's activated output, a second
applies the activation and quantizes (:mod:`~vsrife.arch.kernels`). Fixed ranges calibrated on real frames
were measured first and lose 0.4-4 dB: a body's activations span 2 on one frame and 17 on another. The
convolutions are PyTorch's x86 quantization operators (``torch.ops.onednn.qconv_prepack`` and
``qconv2d_pointwise``, the ones its int8 compiler flow lowers to) on plain uint8/int8 tensors: no
(deprecated) quantized tensor types.

CPUs without VNNI (AVX-512 VNNI, AVX-VNNI or AMX) multiply uint8 by int8 in 16-bit pairs that overflow with
8-bit activations; there activations get 7 bits (``top`` 127), as PyTorch's own x86 recipe does. Which case
applies is found by running one such convolution, not read off a flag (:func:`activation_top`).

The ``int8-gptq`` path (:mod:`vsrife.gptq`) builds on the same chains: *wide* activations in the finest blocks,
twice the bits as a high and a low uint8 plane, each convolution run on both and summed by oneDNN's ``sum``
post-op (:meth:`Int8Conv2d.forward_planes`; in each block, where the model allows, only for its first
layers), and GPTQ's weights (``rounding``): 3.9 loses nothing against float32 on any real clip, where the plain
path loses 0.12 dB (``docs/performance.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import cache

import torch
from torch import Tensor, nn

from . import kernels
from .kernels import Quantizer
from .layers import ResConv

MAX_PACKED_SHAPES = 4  # per convolution: input shapes whose packed weights are kept


@cache
def activation_top() -> int:
    """255 if this CPU's int8 convolutions take 8-bit activations exactly, else 127 (see the module doc)."""
    channels = 64
    x = torch.full((1, channels, 4, 4), 255, dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    weight = torch.full((channels, channels, 3, 3), 127, dtype=torch.int8)
    scales = torch.ones(channels)
    packed = torch.ops.onednn.qconv_prepack(weight, scales, 1.0, 0, [1, 1], [1, 1], [1, 1], 1, None)
    out = torch.ops.onednn.qconv2d_pointwise(
        x, 1.0, 0, packed, scales, torch.zeros(channels, dtype=torch.long), None,
        [1, 1], [1, 1], [1, 1], 1, 1.0, 0, torch.float32, "none", [], "",
    )  # fmt: skip
    centre = float(255 * 127 * 9 * channels)  # every tap lies inside the 4 x 4 frame at pixel (1, 1)
    return 255 if out[0, 0, 1, 1].item() == centre else 127


def round_weights(weight: Tensor) -> tuple[Tensor, Tensor]:
    """A convolution's float32 weights (``out x in x kh x kw``) as the int8 path stores them: int8 values and
    one scale per output channel (symmetric, ``max |w| / 127``); ``values * scale`` is what it computes with."""
    scales = (weight.abs().amax(dim=(1, 2, 3)) / 127).clamp_min(1e-12)
    return on_grid(weight, scales), scales


def on_grid(weight: Tensor, scales: Tensor) -> Tensor:
    """``weight`` as int8 values on the grid of ``scales`` (one per output channel), rounded to nearest."""
    return torch.round(weight / scales.reshape(-1, 1, 1, 1)).clamp(-127, 127).to(torch.int8)


# How a convolution's float32 weights (its gain folded in) become int8 values and per-output-channel scales:
# to the nearest grid point (:func:`round_weights`) unless a study passes another rounding (GPTQ's).
Rounding = Callable[[nn.Conv2d, Tensor], tuple[Tensor, Tensor]]


def _nearest(_conv: nn.Conv2d, weight: Tensor) -> tuple[Tensor, Tensor]:
    return round_weights(weight)


class Int8Conv2d(nn.Module):
    """A float32 ``nn.Conv2d`` with int8 weights (per output channel), run on uint8 activations:
    ``forward(q, quantizer)`` takes the uint8 channels-last input and how it was quantized, and returns the
    float32 channels-last output. A per-channel ``gain`` after the convolution (ResConv's ``beta``) is folded
    into its weights and bias."""

    def __init__(self, conv: nn.Conv2d, gain: Tensor | None = None, rounding: Rounding | None = None) -> None:
        super().__init__()
        weight = conv.weight.detach().float()
        bias = conv.bias.detach().float() if conv.bias is not None else torch.zeros(conv.out_channels)
        if gain is not None:
            weight = weight * gain.detach().float().reshape(-1, 1, 1, 1)
            bias = bias * gain.detach().float().reshape(-1)
        self.q_weight, self.weight_scales = (rounding or _nearest)(conv, weight)
        self.geometry = ([*conv.stride], [*conv.padding], [*conv.dilation], conv.groups)
        self.bias = bias
        self.zero_points = torch.zeros(conv.out_channels, dtype=torch.long)
        self._packed: dict[tuple[int, ...], Tensor] = {}

    def packed(self, shape: tuple[int, ...]) -> Tensor:
        """The weights in the layout oneDNN's kernel for inputs of ``shape`` wants. Packed without a shape,
        they are laid out for a guess, and every call whose kernel prefers another layout reorders them first:
        with oneDNN kept off AMX (AVX-512 VNNI kernels), 22 ms of reordering before a 1 ms convolution (192
        channels at 24 x 40), seen in its log. (With AMX its log showed no such reorders either way.)"""
        packed = self._packed.get(shape)
        if packed is None:
            # the input scale and zero point given here are placeholders: each call passes its own
            packed = torch.ops.onednn.qconv_prepack(
                self.q_weight, self.weight_scales, 1.0, 0, *self.geometry, list(shape)
            )
            if len(self._packed) >= MAX_PACKED_SHAPES:  # frame sizes seldom change: keep the newest few
                self._packed.pop(next(iter(self._packed), None), None)  # (another stream may pop it too)
            self._packed[shape] = packed
        return packed

    def forward(self, q: Tensor, quantizer: Quantizer) -> Tensor:
        stride, padding, dilation, groups = self.geometry
        return torch.ops.onednn.qconv2d_pointwise(
            q, quantizer.scale, quantizer.zero_point, self.packed(tuple(q.shape)), self.weight_scales,
            self.zero_points, self.bias, stride, padding, dilation, groups, 1.0, 0, torch.float32, "none", [], "",
        )  # fmt: skip

    def forward_planes(self, planes: tuple[Tensor, Tensor], quantizer: Quantizer, bits: int) -> Tensor:
        """The convolution of a wide activation given as its two planes (:func:`kernels.quantize_planes`): the
        high plane's, and the low plane's added by oneDNN's ``sum`` post-op (no pass of our own)."""
        (high, low), (high_q, low_q) = planes, quantizer.planes(bits)
        y = self(high, high_q)
        stride, padding, dilation, groups = self.geometry
        return torch.ops.onednn.qconv2d_pointwise.binary(
            low, low_q.scale, low_q.zero_point, self.packed(tuple(low.shape)), self.weight_scales, self.zero_points,
            y, None, stride, padding, dilation, groups, 1.0, 0, torch.float32, 1.0, 0, "sum", 1.0, "none", [], "",
        )  # fmt: skip


def _quantize(x: Tensor, top: int) -> tuple[Tensor, Quantizer]:
    """``x`` (float32) as uint8 channels-last over its own range."""
    x = x.contiguous(memory_format=torch.channels_last)
    quantizer = Quantizer.spanning(*kernels.value_range(x), top)
    return kernels.quantize_u8(x, quantizer), quantizer


class Int8Chain(nn.Module):
    """Layers ``conv -> activation`` run back to back in int8 (3.9-4.4's body, 3.x's pairs): float32 in,
    float32 out. Between two layers, one pass measures the range of the activated output and a second
    applies the activation (a PReLU; a LeakyReLU is a PReLU with one slope) and quantizes.

    A ``wide`` chain gives its layers' inputs twice the bits, as two planes (each of those convolutions runs
    twice); ``wide_layers`` limits that to the first few layers (None: all): the later layers of a block cost
    less accuracy in 8 bits than the first ones (``docs/performance.md``)."""

    def __init__(
        self,
        convs: list[Int8Conv2d],
        slopes: list[Tensor],
        top: int,
        wide: bool = False,
        wide_layers: int | None = None,
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.slopes = [kernels.tile_per_channel(s) if kernels.available() else s.detach().float() for s in slopes]
        self.top = top
        count = len(convs) if wide_layers is None else wide_layers
        self.wide_inputs = [wide and i < count for i in range(len(convs))]  # per layer: is its input wide

    @property
    def wide(self) -> bool:
        return any(self.wide_inputs)

    def code_top(self, wide: bool) -> int:
        """The largest code of a layer's input: ``top``, or for a wide input that of twice its bits."""
        return (1 << 2 * self.top.bit_length()) - 1 if wide else self.top

    def forward(self, x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        bits = self.top.bit_length()
        quantizer = Quantizer.spanning(*kernels.value_range(x), self.code_top(self.wide_inputs[0]))
        q = self._encode(x, quantizer, None, self.wide_inputs[0])
        last = len(self.convs) - 1
        for i, (conv, slope) in enumerate(zip(self.convs, self.slopes, strict=True)):
            y = conv.forward_planes(q, quantizer, bits) if self.wide_inputs[i] else conv(q, quantizer)
            if i == last:
                kernels.prelu_quantize_(y, slope, None)
                return y
            wide = self.wide_inputs[i + 1]
            quantizer = Quantizer.spanning(*kernels.value_range(y, slope), self.code_top(wide))
            q = self._encode(y, quantizer, slope, wide)
        raise AssertionError("an empty chain")

    def _encode(
        self, x: Tensor, quantizer: Quantizer, slope: Tensor | None, wide: bool
    ) -> Tensor | tuple[Tensor, Tensor]:
        """The next convolution's input from ``x``, PReLU'd by ``slope`` if given: uint8 codes, or for a wide
        input the two planes of the wide codes. One pass over ``x``."""
        if wide:
            return kernels.quantize_planes(x, quantizer, self.top.bit_length(), slope)
        if slope is None:
            return kernels.quantize_u8(x, quantizer)
        return kernels.prelu_quantize_(x, slope, quantizer)


class Int8ResChain(nn.Module):
    """v4.5+'s body, ResConv units ``x = leaky_relu(conv(x) * beta + x)``, in int8: ``beta`` folded into the
    convolution; the residual and activation in one pass that also measures the next input's range."""

    def __init__(self, convs: list[Int8Conv2d], slope: float, top: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.slope = slope
        self.top = top

    def forward(self, x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last).clone()  # updated in place below
        q, quantizer = _quantize(x, self.top)
        for i, conv in enumerate(self.convs):
            lo, hi = kernels.residual_leaky_float_(x, conv(q, quantizer), self.slope)
            if i + 1 < len(self.convs):
                quantizer = Quantizer.spanning(lo, hi, self.top)
                q = kernels.quantize_u8(x, quantizer)
        return x


def activation_slope(activation: nn.Module, channels: int) -> Tensor:
    """The per-channel slopes of a PReLU, or a LeakyReLU's one slope repeated: the activations of int8 chains."""
    if isinstance(activation, nn.PReLU):
        return activation.weight.detach().float()
    if isinstance(activation, nn.LeakyReLU):
        return torch.full((channels,), float(activation.negative_slope))
    raise TypeError(f"no int8 chain for activation {type(activation).__name__}")


def bodies(network: nn.Module) -> Iterator[tuple[nn.Module, str, nn.Sequential]]:
    """The runs of layers the int8 path takes over: (block, attribute, its ``Sequential`` of ``conv(...)``
    pairs or ResConv units). Networks without ``blocks`` (3.1) have none."""
    for block in getattr(network, "blocks", []):
        for name, child in block.named_children():
            if name.startswith("convblock"):
                yield block, name, child


def finest_blocks(network: nn.Module, count: int) -> list[nn.Module]:
    """The ``count`` finest of ``network``'s blocks (all of them if it has fewer; none for ``count`` 0)."""
    every = list(getattr(network, "blocks", []))
    return every[max(len(every) - count, 0) :] if count > 0 else []


def body_convolutions(network: nn.Module) -> dict[str, nn.Conv2d]:
    """The convolutions of the bodies the int8 path quantizes, by qualified name (the same in every copy of
    a network)."""
    inside = {id(conv) for _, _, layers in bodies(network) for conv in layers.modules()}
    return {n: m for n, m in network.named_modules() if isinstance(m, nn.Conv2d) and id(m) in inside}


def quantize_network(
    network: nn.Module,
    *,
    top: int | None = None,
    blocks: Collection[int] | None = None,
    wide_finest: int = 0,
    rounding: Rounding | None = None,
    wide_conv0: bool = False,
    finest_wide_layers: int | None = None,
    coarser_wide_layers: int | None = None,
) -> nn.Module:
    """Replace the bodies of ``network`` (a float32 fast-path network) by int8 chains, in place: the int8 path.

    The keywords are for the ``int8-gptq`` path (:mod:`vsrife.gptq`) and for studies (:mod:`vsrife.int8_study`):
    ``top``, the activations' largest code (default :func:`activation_top`; 255 overflows on CPUs without
    VNNI); ``blocks``, the indices of the blocks whose bodies are quantized (default: all); ``wide_finest``, how
    many of the finest blocks get activations of twice the bits (:class:`Int8Chain`'s ``wide``; not for ResConv
    bodies yet); ``finest_wide_layers``, of the finest block only the first so many layers' inputs wide (None:
    all; 3.x's bodies count their pairs' layers in order); ``coarser_wide_layers``, the same for each of the
    other wide blocks; ``rounding``, how the weights are rounded (default: to nearest);
    ``wide_conv0``, each quantized block's ``conv0`` in int8 too, with wide activations (its
    weights rounded to nearest; for the study)."""
    top = top or activation_top()
    all_blocks = list(getattr(network, "blocks", []))
    chosen = [id(b) for i, b in enumerate(all_blocks) if blocks is None or i in blocks]
    wide = {id(b) for b in finest_blocks(network, wide_finest)}
    finest = finest_blocks(network, 1)
    # per wide block with a limit: its wide layers not yet given to one of its chains
    budgets = {block_id: coarser_wide_layers for block_id in wide}
    budgets |= {id(b): finest_wide_layers for b in finest if id(b) in wide}
    for block, name, layers in list(bodies(network)):
        if id(block) not in chosen:
            continue
        replacement: nn.Module
        if all(isinstance(layer, ResConv) for layer in layers):
            if id(block) in wide:
                raise ValueError("wide activations are not built for ResConv bodies (4.5+) yet")
            convs = [Int8Conv2d(unit.conv, gain=unit.beta, rounding=rounding) for unit in layers]
            replacement = Int8ResChain(convs, layers[0].relu.negative_slope, top)
        else:
            wide_layers = None
            if budgets.get(id(block)) is not None:
                wide_layers = min(budgets[id(block)], len(layers))
                budgets[id(block)] -= wide_layers
            replacement = _chain(layers, top, rounding, wide=id(block) in wide, wide_layers=wide_layers)
        setattr(block, name, replacement)
    if wide_conv0:
        for block in all_blocks:
            if id(block) in chosen:
                block.conv0 = _chain(block.conv0, top, None, wide=True)
    return network


def _chain(
    layers: nn.Sequential, top: int, rounding: Rounding | None, *, wide: bool, wide_layers: int | None = None
) -> Int8Chain:
    """``layers``, pairs ``(conv, PReLU or LeakyReLU)``, as an :class:`Int8Chain`."""
    slopes = [activation_slope(pair[1], pair[0].out_channels) for pair in layers]
    convs = [Int8Conv2d(pair[0], rounding=rounding) for pair in layers]
    return Int8Chain(convs, slopes, top, wide=wide, wide_layers=wide_layers)
