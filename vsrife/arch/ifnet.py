"""IFNet: RIFE's coarse-to-fine intermediate-flow network, one implementation for every released version.

Each :class:`IFBlock` looks at the two frames (or their current warps) at a reduced resolution and predicts a
correction to the flow from the intermediate frame to both inputs, plus a blending mask. :class:`IFNet` chains
the blocks from coarse to fine and blends the two warped frames with the mask; the paper networks then add a
refinement residual. :class:`IFNet31` is RIFE 3.1, whose flows live at half resolution and whose fusion
network predicts the mask. What differs between versions is described by :class:`~vsrife.arch.specs.ArchSpec`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import kernels
from .layers import (
    PReLU,
    ResConv,
    conv,
    deconv,
    is_power_of_two,
    resize,
    resize_flow,
    resize_if_needed,
    resize_twice,
    swap_flow,
    warp,
    warp_pair,
    warp_pair_resized,
    warp_subsampling_pays,
)
from .refine import ContextNet, ContextNet31, FusionNet31, UNet
from .specs import Adaptive, ArchSpec, Body, EncoderSpec, Ensemble, Head, Wiring


@dataclass
class PackedInput:
    """A block's whole input, ``1 x C x h x w`` float32 channels-last at the block's resolution, with its
    first ``filled`` channels already written: the fast path warps the frames (and features) straight into
    it, so they never exist on their own (at 1080p, 4.22's last block reads 175 MB of them)."""

    tensor: Tensor
    filled: int


class IFBlock(nn.Module):
    """One coarse-to-fine step.

    ``forward(parts, flow, scale, hidden_scale)``: ``parts`` are ``N x C_i x H x W`` tensors (frames, warps,
    timestep, mask ... as the wiring says), ``flow`` the current ``N x 4 x H x W`` estimate in pixels or
    ``None`` for the first block. The block works at ``1/scale`` of the input size (stride 4 inside) and
    returns, at the input size and in float32, the flow update (pixels) and the mask logits update (or
    ``None``), and any hidden feature channels (4.21+) at ``1/hidden_scale`` of the input size, or ``None``
    when ``hidden_scale`` is ``None`` (nobody reads them). The first part may be a :class:`PackedInput`
    instead: the rest is then written into it.

    Each part is resized on its own and concatenated at the block's resolution (the same numbers as resizing
    the concatenation, without building it at full size); parts already at that resolution (the fast path
    warps coarse blocks' inputs at it) and identity resizes are left alone. The convolutions run in
    ``compute_dtype`` (see :meth:`IFNet.set_precision`).
    """

    compute_dtype: torch.dtype = torch.float32
    memory_format: torch.memory_format = torch.contiguous_format

    def __init__(self, in_channels: int, width: int, spec: ArchSpec) -> None:
        super().__init__()
        act = spec.activation
        self.in_channels = in_channels
        self.conv0 = nn.Sequential(conv(in_channels, width // 2, 2, act), conv(width // 2, width, 2, act))
        self.body_kind = spec.body
        if spec.body is Body.GROUPED_RESIDUAL:
            self.groups = spec.body_groups
            for g in range(spec.body_groups):
                self.add_module(f"convblock{g}", nn.Sequential(conv(width, width), conv(width, width)))
        elif spec.body is Body.RESCONV:
            self.convblock = nn.Sequential(*(ResConv(width, spec.body_groups) for _ in range(8)))
        else:
            self.convblock = nn.Sequential(*(conv(width, width, 1, act) for _ in range(8)))

        self.head_kind = spec.head
        self.hidden_channels = spec.hidden_channels
        if spec.head is Head.FLOW_HALF:
            self.conv1 = deconv(width, 4)
        elif spec.head is Head.SPLIT:
            self.conv1 = nn.Sequential(deconv(width, 4))
            self.conv2 = deconv(width, 1)
        elif spec.head is Head.SPLIT_DEEP:
            half = width // 2
            self.conv1 = nn.Sequential(deconv(width, half), PReLU(half), deconv(half, 4))
            self.conv2 = nn.Sequential(deconv(width, half), PReLU(half), deconv(half, 1))
        elif spec.head is Head.DECONV:
            self.lastconv = deconv(width, 5)
        else:
            self.lastconv = nn.Sequential(deconv(width, 4 * spec.head_channels), nn.PixelShuffle(2))

    def _body(self, feat: Tensor) -> Tensor:
        if self.body_kind is Body.GROUPED_RESIDUAL:
            for g in range(self.groups):
                feat = getattr(self, f"convblock{g}")(feat) + feat
            return feat
        if self.body_kind is Body.RESIDUAL:
            return self.convblock(feat) + feat
        return self.convblock(feat)

    def _head(self, feat: Tensor) -> Tensor:
        if self.head_kind in (Head.SPLIT, Head.SPLIT_DEEP):
            return torch.cat((self.conv1(feat), self.conv2(feat)), 1)
        if self.head_kind is Head.FLOW_HALF:
            return self.conv1(feat)
        return self.lastconv(feat)

    def forward(
        self,
        parts: Tensor | Sequence[Tensor | PackedInput],
        flow: Tensor | None,
        scale: float,
        hidden_scale: float | None = 1.0,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        update, factor, hidden = self.predict(parts, flow, scale, hidden_scale)
        # scale the flow channels before up-sampling (bilinear resampling is linear): 4-256x fewer values
        update = resize_if_needed(torch.cat((update[:, :4] * factor, update[:, 4:]), 1), factor)
        return update[:, :4], (update[:, 4:5] if update.shape[1] > 4 else None), hidden

    def predict(
        self,
        parts: Tensor | Sequence[Tensor | PackedInput],
        flow: Tensor | None,
        scale: float,
        hidden_scale: float | None = 1.0,
        fused: bool = False,
    ) -> tuple[Tensor, float, Tensor | None]:
        """:meth:`forward` before up-sampling: the flow (and mask) update ``N x 4|5 x H/f x W/f`` in float32,
        the flow in pixels of that size, the up-sampling factor ``f`` to the input size, and the hidden
        features as :meth:`forward` returns them (resized by the fused kernel if ``fused``).

        A ``parts`` list is emptied once its tensors are packed into the block's input, so that full-size
        inputs the caller holds nowhere else are freed before the convolutions (peak memory at 1080p)."""
        given = parts
        parts = [parts] if torch.is_tensor(parts) else list(parts)
        packed = parts.pop(0) if isinstance(parts[0], PackedInput) else None
        assert all(torch.is_tensor(p) for p in parts), "only the first part may be packed"
        height, width = (flow if flow is not None else parts[0]).shape[-2:]  # the flow is always full size
        size = (math.floor(height / scale), math.floor(width / scale))
        inputs = [p if p.shape[-2:] == size else resize_if_needed(p, 1.0 / scale) for p in parts]
        if flow is not None:
            inputs.append(flow if scale == 1.0 else resize(flow, 1.0 / scale) / scale)
        if packed is not None:
            x = packed.tensor
            if kernels.pack_usable(inputs):
                kernels.pack_channels_last(inputs, out=x[:, packed.filled :])
            else:
                x[:, packed.filled :] = torch.cat(inputs, 1)
        elif self.memory_format is torch.contiguous_format:
            x = torch.cat(inputs, 1)
        elif kernels.pack_usable(inputs):
            x = kernels.pack_channels_last(inputs)  # concatenate and interleave in one pass
        else:
            x = torch.cat(inputs, 1).contiguous(memory_format=self.memory_format)
        if isinstance(given, list):  # the caller's list: see the docstring
            given.clear()
        del parts, inputs, packed
        feat = self.conv0(x)  # float32 on every path: see IFNet.set_precision
        del x  # at 1080p the block's input is 150-400 MB; the convolutions after conv0 no longer need it
        feat = self._body(feat.to(self.compute_dtype))
        if self.head_kind is Head.PIXEL_SHUFFLE:
            shuffled = self.lastconv[0](feat)
            if kernels.shuffle_usable(shuffled):  # shuffle and widen to float32 in one pass
                out = kernels.pixel_shuffle_to_float(shuffled)
            else:
                out = self.lastconv[1](shuffled)
        else:
            out = self._head(feat)
        factor = scale * self.head_kind.upsample
        update = out[:, :5].to(torch.float32, memory_format=torch.contiguous_format)
        hidden = None
        if self.hidden_channels and hidden_scale is not None:
            features = out[:, 5:].to(torch.float32, memory_format=torch.contiguous_format)
            hidden = resize_twice(features, factor, hidden_scale, fused)
        return update, factor, hidden


class FeatureEncoder(nn.Module):
    """Per-frame features warped alongside the frames (v4.7+): ``N x 3 x H x W`` -> ``N x E x H x W``.

    A stride-2 convolution, ``len(names) - 2`` more 3x3 convolutions and a transposed convolution back to
    full size, with LeakyReLU(0.2) between them. Layers are registered under upstream's state-dict names.
    """

    def __init__(self, spec: EncoderSpec) -> None:
        super().__init__()
        hidden = spec.hidden
        layers: list[nn.Module] = [nn.Conv2d(3, hidden, 3, 2, 1)]
        layers += [nn.Conv2d(hidden, hidden, 3, 1, 1) for _ in range(len(spec.names) - 2)]
        layers.append(deconv(hidden, spec.out_channels))
        self.names = spec.names
        for name, layer in zip(spec.names, layers, strict=True):
            self.add_module(name, layer)
        self.activation = nn.LeakyReLU(0.2) if spec.activation else nn.Identity()
        self.clamp_input = spec.clamp_input

    def forward(self, image: Tensor) -> Tensor:
        x = image.clamp(0.0, 1.0) if self.clamp_input else image
        for i, name in enumerate(self.names):
            x = getattr(self, name)(x)
            if i < len(self.names) - 1:
                x = self.activation(x)
        return x


@dataclass
class _Sides:
    """The two inputs of one interpolation, in the order a block sees them (reversed for ensembling)."""

    img0: Tensor
    img1: Tensor
    feat0: Tensor | None
    feat1: Tensor | None
    timestep: Tensor | None

    def reversed(self) -> _Sides:
        t = None if self.timestep is None else 1 - self.timestep
        return _Sides(self.img1, self.img0, self.feat1, self.feat0, t)


@dataclass
class _Sources:
    """What the blocks warp: both frames (``2N x 3 x H x W``) and their encoder features (``2N x E x H x W``)
    if the version has any; on the fast path instead, per frame, the same in the layout of the fused warp
    (:func:`~vsrife.arch.kernels.warp_layout`), as ``(frame 0, frame 1, channels)`` pairs."""

    images: Tensor | None
    features: Tensor | None
    layouts: list[tuple[Tensor, Tensor, int]] | None = None


@dataclass
class _Update:
    """One block's correction to the running flow and mask: at full size (``factor`` 1), or at the block's
    resolution with the flow in pixels of that resolution and ``factor`` the up-sampling still to do."""

    flow: Tensor
    mask: Tensor | None
    factor: float
    hidden: Tensor | None

    def averaged_with_reverse(self, reverse: _Update) -> _Update:
        """Ensembling: the mean of this update and the time-reversed pair's (directions swapped, mask negated);
        averaging commutes with the linear up-sampling, so it can happen at either size."""
        assert self.mask is not None and reverse.mask is not None
        flow = (self.flow + swap_flow(reverse.flow)) / 2
        return _Update(flow, (self.mask - reverse.mask) / 2, self.factor, self.hidden)


@dataclass
class FlowEstimate:
    """Result of the coarse-to-fine pass: final flow (pixels), mask logits and the two warped frames, and
    the same after every block (``flows``, ``masks``, ``warps``), which training supervises. When the
    caller asked to warp the result itself, the warped frames are ``None`` and ``frames`` holds the two
    frames in the fused warp's layout with their channel count (for :func:`~vsrife.arch.kernels.warp_blend`)."""

    flow: Tensor
    mask: Tensor
    warped0: Tensor | None
    warped1: Tensor | None
    flows: list[Tensor]
    masks: list[Tensor]
    warps: list[tuple[Tensor, Tensor]]
    frames: tuple[Tensor, Tensor, int] | None = None

    def blended(self, i: int) -> Tensor:
        """Block ``i``'s frame: its two warps blended by its mask."""
        alpha = torch.sigmoid(self.masks[i])
        return self.warps[i][0] * alpha + self.warps[i][1] * (1 - alpha)


@dataclass
class TrainingOutput:
    """What one training forward pass of a paper network produces (all ``N x C x H x W``).

    ``merged``: each student block's blended frame, the last one refined; ``teacher_merged``: the frame the
    privileged teacher block makes from the student's flow and the ground truth; ``distill_loss``: the
    privileged distillation loss (scalar), summed over the student blocks.
    """

    merged: list[Tensor]
    flows: list[Tensor]
    teacher_flow: Tensor
    teacher_merged: Tensor
    distill_loss: Tensor


class IFNet(nn.Module):
    """The RIFE interpolation network for one :class:`ArchSpec` (every version but 3.1).

    ``forward(img0, img1, timestep, scale, ensemble, features)`` takes two frames ``N x 3 x H x W`` in [0, 1]
    whose sides are multiples of :meth:`ArchSpec.padded_multiple` and returns the frame at ``timestep``
    (``N x 1 x H x W``, ignored by models without a timestep input, which always give t = 0.5).
    """

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        if spec.wiring is Wiring.V31:
            raise ValueError("RIFE 3.1 is built by IFNet31")
        self.spec = spec
        self.reference_resampling = True  # upstream's exact sequence of resizes (see set_precision)
        for i, width in enumerate(spec.widths):
            self.add_module(f"block{i}", IFBlock(spec.block_in_channels(i), width, spec))
        if spec.teacher:
            self.block_tea = IFBlock(spec.block_in_channels(-1), spec.widths[-1], spec)
        if spec.encoder is not None:
            self.encode = FeatureEncoder(spec.encoder)
        if spec.refine_modules:
            self.contextnet = ContextNet()
            self.unet = UNet()

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(self.spec.num_blocks)]

    def encode_frame(self, image: Tensor) -> Tensor | None:
        """Per-frame features (v4.7+), computed once per source frame by the inference core (float32)."""
        if self.spec.encoder is None:
            return None
        block = self.block0
        x = image.to(block.compute_dtype, memory_format=block.memory_format)
        # the fast path's fused warp reads them channels-last, as the convolutions leave them
        keep_layout = not self.reference_resampling and kernels.available() and image.device.type == "cpu"
        return self.encode(x).to(
            torch.float32, memory_format=torch.preserve_format if keep_layout else torch.contiguous_format
        )

    def warp_layout(self, image: Tensor) -> Tensor | None:
        """The frame as the fast path's fused warp reads it (:func:`~vsrife.arch.kernels.warp_layout`),
        computed once per source frame by the inference core; ``None`` where that warp is not used."""
        if self.reference_resampling or not kernels.usable(image) or image.shape[0] != 1:
            return None
        return kernels.warp_layout(image.clamp(0.0, 1.0) if self.spec.clamp_inputs else image)

    def set_precision(self, dtype: torch.dtype, channels_last: bool = False, *, exact: bool | None = None) -> IFNet:
        """Run the IFBlocks' bodies and heads and the feature encoder in ``dtype`` (float32, bfloat16, float16
        on CUDA), optionally channels-last. Each block's ``conv0`` stays float32, and so do resizing, flow
        accumulation, warping, blending and refinement: a block's input mixes frames in [0, 1] with flows in
        pixels, and rounding it, or ``conv0``'s weights, to bfloat16 cost 0.06 dB on end credits (small white
        text on black), where the body in bfloat16 costs 0.01 dB; half-precision flows and warps go wrong by
        whole pixels at HD sizes.

        ``exact`` keeps upstream's exact order of resampling operations (``reference_resampling``); without it
        the network takes equivalent shorter ones, mostly fused kernels, which differ only by float rounding.
        Default: exact for plain float32 only (the reference path)."""
        if exact is None:
            exact = dtype == torch.float32 and not channels_last
        self.reference_resampling = exact
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        modules = [*self.blocks, *([self.block_tea] if self.spec.teacher else [])]
        for block in modules:
            _set_block_precision(block, dtype, fmt)
        if self.spec.encoder is not None:
            self.encode.to(dtype, memory_format=fmt)
        return self

    def forward(
        self,
        img0: Tensor,
        img1: Tensor,
        timestep: Tensor | float = 0.5,
        scale: float = 1.0,
        ensemble: bool = False,
        features: tuple[Tensor, Tensor] | None = None,
        layouts: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        spec = self.spec
        if spec.clamp_inputs:
            img0, img1 = img0.clamp(0.0, 1.0), img1.clamp(0.0, 1.0)
        if spec.resize_input:
            img0, img1 = resize(img0, scale), resize(img1, scale)
            scales = [float(s) for s in spec.scales]
            layouts = layouts if scale == 1.0 else None  # they are of the frames before resizing
        else:
            scales = [s / scale for s in spec.scales]
        if spec.encoder is not None and features is None:
            features = (self.encode_frame(img0), self.encode_frame(img1))
        feat0, feat1 = features if features is not None else (None, None)
        sides = _Sides(img0, img1, feat0, feat1, self._timestep_map(timestep, img0) if spec.timestep else None)

        if ensemble and not spec.can_ensemble:
            raise ValueError(f"RIFE {spec.name} does not support ensemble")
        resized_result = spec.resize_input and scale != 1.0
        est = self.estimate_flow(
            sides,
            scales,
            ensemble or spec.ensemble is Ensemble.ALWAYS,
            layouts=layouts,
            warp_result=spec.refine or resized_result,  # else the fast path warps and blends in one pass
        )
        mask, flow, warped0, warped1 = est.mask, est.flow, est.warped0, est.warped1
        if resized_result:
            # 3.5 brings the flow back to full size but warps the resized frames (upstream's behaviour)
            flow = resize(flow, 1.0 / scale) / scale
            mask = resize(mask, 1.0 / scale)
            warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        alpha = torch.sigmoid(mask)
        if warped0 is None or warped1 is None:
            assert est.frames is not None
            return kernels.warp_blend(*est.frames, flow.contiguous(), alpha.contiguous())
        merged = warped0 * alpha + warped1 * (1 - alpha)
        if spec.refine:
            merged = self.refine(img0, img1, warped0, warped1, mask, flow, merged)
        return merged

    def refine(
        self, img0: Tensor, img1: Tensor, warped0: Tensor, warped1: Tensor, mask: Tensor, flow: Tensor, merged: Tensor
    ) -> Tensor:
        """Add the Contextnet + U-Net residual ``2u - 1`` to the blended frame and clamp to [0, 1]."""
        context0 = self.contextnet(img0, flow[:, :2])
        context1 = self.contextnet(img1, flow[:, 2:4])
        residual = self.unet(img0, img1, warped0, warped1, mask, flow, context0, context1)[:, :3] * 2 - 1
        return torch.clamp(merged + residual, 0, 1)

    @staticmethod
    def _timestep_map(timestep: Tensor | float, like: Tensor) -> Tensor:
        n, _, h, w = like.shape
        if not torch.is_tensor(timestep):
            return torch.full((n, 1, h, w), float(timestep), dtype=like.dtype, device=like.device)
        return timestep.to(like.dtype).expand(n, 1, h, w)

    def _block_input(
        self,
        i: int,
        sides: _Sides,
        warped: tuple[Tensor, Tensor] | PackedInput,
        mask: Tensor | None,
        warped_feats: tuple[Tensor, Tensor] | None,
        hidden: Tensor | None,
    ) -> list[Tensor | PackedInput]:
        """What block ``i`` sees, in upstream's channel order (``warped`` packed: the warps of the frames and
        features already in the block's input, see :meth:`_next_warps`)."""
        t = [sides.timestep] if sides.timestep is not None else []
        wiring = self.spec.wiring
        extra = [hidden] if hidden is not None else []
        if isinstance(warped, PackedInput):
            assert warped_feats is None and wiring in (Wiring.V3, Wiring.V4) and i > 0
            return [warped, mask] if wiring is Wiring.V3 else [warped, *t, mask, *extra]
        if wiring is Wiring.V3:
            return [*warped, mask]
        if wiring is Wiring.PAPER:
            if i == 0:
                return [sides.img0, sides.img1, *t]
            return [sides.img0, sides.img1, *t, *warped, mask]
        if i == 0:
            feats = [sides.feat0, sides.feat1] if sides.feat0 is not None else []
            return [sides.img0, sides.img1, *feats, *t]
        return [*warped, *(warped_feats or ()), *t, mask, *extra]

    def _predict(
        self,
        block: IFBlock,
        x: list[Tensor | PackedInput],
        flow: Tensor | None,
        scale: float,
        hidden_scale: float | None,
    ) -> _Update:
        """Run ``block``: its update at full size (reference) or at its own resolution (fast path)."""
        if self.reference_resampling:  # upstream: the update at full size straight away
            d_flow, d_mask, hidden = block(x, flow, scale, hidden_scale)
            return _Update(d_flow, d_mask, 1.0, hidden)
        values, factor, hidden = block.predict(x, flow, scale, hidden_scale, fused=True)
        return _Update(values[:, :4], values[:, 4:5] if values.shape[1] > 4 else None, factor, hidden)

    def _accumulate(self, flow: Tensor | None, mask: Tensor | None, update: _Update) -> tuple[Tensor, Tensor]:
        """The running flow and mask after ``update`` (the mask is replaced in versions where it does not
        accumulate)."""
        mask_base = mask if self.spec.mask_accumulates else None
        if update.factor == 1.0:
            assert update.mask is not None
            new_flow = update.flow if flow is None else flow + update.flow
            new_mask = update.mask if mask_base is None else mask_base + update.mask
            return new_flow, new_mask
        values = torch.cat((update.flow, update.mask), 1) if update.mask is not None else update.flow
        bases = [] if flow is None else [flow, *([mask_base] if mask_base is not None else [])]
        if kernels.usable(values):  # scale, up-sample and add in one pass
            full = kernels.upsample_accumulate(values, update.factor, 4, bases)
        else:
            full = resize(torch.cat((values[:, :4] * update.factor, values[:, 4:]), 1), update.factor)
            if bases:
                full[:, : sum(b.shape[1] for b in bases)] += torch.cat(bases, 1)
        return full[:, :4], full[:, 4:5]

    def _sources(
        self, sides: _Sides, scales: list[float], keep_history: bool, layouts: tuple[Tensor, Tensor] | None
    ) -> _Sources:
        if not (self.reference_resampling or keep_history) and self._fused_warp_fits(sides, scales):
            frames = layouts or (kernels.warp_layout(sides.img0), kernels.warp_layout(sides.img1))
            pairs = [(*frames, sides.img0.shape[1])]
            if sides.feat0 is not None and sides.feat1 is not None:
                pairs.append((kernels.warp_layout(sides.feat0), kernels.warp_layout(sides.feat1), sides.feat0.shape[1]))
            return _Sources(None, None, pairs)
        images = torch.cat((sides.img0, sides.img1), 0)  # both frames in one batch: one warp per step
        features = torch.cat((sides.feat0, sides.feat1), 0) if sides.feat0 is not None else None
        return _Sources(images, features)

    @staticmethod
    def _fused_warp_fits(sides: _Sides, scales: list[float]) -> bool:
        """Whether :func:`~vsrife.arch.kernels.warp_sources` can make every block's warps: one float32 frame
        pair on the CPU, the library built, down-sampling factors that are powers of two."""
        return (
            kernels.usable(sides.img0)
            and sides.img0.shape[0] == 1
            and (sides.feat0 is None or kernels.usable(sides.feat0))
            and all(is_power_of_two(s) for s in scales)
        )

    def _warp_sources(
        self, i: int, sources: _Sources, flow: Tensor, scales: list[float], keep_history: bool
    ) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor] | None]:
        """Both frames, and their features if block ``i`` reads them, warped by ``flow`` for block ``i``
        (``i`` past the last block: the frames for the result). The fast path warps and down-samples to the
        block's resolution in one pass, warping only the pixels the down-sampling reads; the block then takes
        them as they are."""
        last = i >= len(scales)
        if sources.layouts is not None:
            pairs = sources.layouts[:1] if last else sources.layouts
            out = kernels.warp_sources(pairs, flow.contiguous(), 1 if last else int(scales[i]))
            planes = list(out.split([c for _, _, c in pairs for _ in range(2)], 1))
            warped = (planes[0], planes[1])
            return warped, (planes[2], planes[3]) if len(planes) > 2 else None
        assert sources.images is not None
        warped = self._warps_for(i, sources.images, flow, scales, keep_history)
        if sources.features is None or last:
            return warped, None
        return warped, self._warps_for(i, sources.features, flow, scales, keep_history)

    def _next_warps(
        self, i: int, sources: _Sources, flow: Tensor, scales: list[float], ensemble: bool, keep_history: bool
    ) -> tuple[tuple[Tensor, Tensor] | PackedInput, tuple[Tensor, Tensor] | None]:
        """The warps block ``i`` reads (``i`` past the last block: those of the result), as
        :meth:`_warp_sources` makes them, or, where the fast path can, written straight into the block's
        input (:class:`PackedInput`): where the warps lead the input (3.x, 4.x), channels-last blocks, and
        no ensembling (which reads them twice, in two orders)."""
        packs = (
            sources.layouts is not None
            and not (ensemble or keep_history)
            and i < len(scales)
            and self.spec.wiring in (Wiring.V3, Wiring.V4)
            and self.blocks[i].memory_format is torch.channels_last
        )
        if not packs:
            return self._warp_sources(i, sources, flow, scales, keep_history)
        assert sources.layouts is not None
        down = int(scales[i])
        height, width = flow.shape[-2] // down, flow.shape[-1] // down
        block_input = torch.empty(
            (1, self.blocks[i].in_channels, height, width), dtype=torch.float32, memory_format=torch.channels_last
        )
        filled = 2 * sum(channels for _, _, channels in sources.layouts)
        kernels.warp_sources(sources.layouts, flow.contiguous(), down, out=block_input[:, :filled])
        return PackedInput(block_input, filled), None

    def _warps_for(
        self, i: int, pair: Tensor, flow: Tensor, scales: list[float], keep_history: bool
    ) -> tuple[Tensor, Tensor]:
        """The two warps of ``pair`` that block ``i`` reads (``i`` past the last block: the result). The fast
        path warps only the pixels a coarse block's down-sampling reads (see
        :func:`~vsrife.arch.layers.warp_pair_resized`); the block then takes them as they are."""
        if self.reference_resampling or keep_history or i >= len(scales) or not warp_subsampling_pays(scales[i]):
            return warp_pair(pair, flow)
        return warp_pair_resized(pair, flow, scales[i])

    def _hidden_scale(self, scales: list[float], i: int) -> float | None:
        """Where block ``i``'s hidden features go: nowhere after the last block; with the reference
        resampling, to full size (the next block resizes them, as upstream); otherwise straight to the next
        block's resolution (see :func:`~vsrife.arch.layers.resize_twice`)."""
        if not self.spec.hidden_channels or i == len(scales) - 1:
            return None
        return 1.0 if self.reference_resampling else scales[i + 1]

    def estimate_flow(
        self,
        sides: _Sides,
        scales: list[float],
        ensemble: bool,
        keep_history: bool = False,
        layouts: tuple[Tensor, Tensor] | None = None,
        warp_result: bool = True,
    ) -> FlowEstimate:
        """Run the student blocks coarse to fine; ``scales`` are the per-block down-sampling factors;
        ``layouts``: both frames' :meth:`warp_layout`, if the caller has them already. Without
        ``warp_result`` the fast path leaves the final warp to the caller (see :class:`FlowEstimate`), who
        blends in the same pass; other paths warp as always.

        With ``keep_history`` every block's flow, mask and warps are kept (training supervises them);
        inference keeps only the last ones: at 1080p each block's set is about 100 MB.
        """
        spec = self.spec
        blocks = self.blocks
        img0, img1 = sides.img0, sides.img1
        flow: Tensor | None = None
        mask: Tensor | None = None
        hidden: Tensor | None = None
        if spec.wiring is Wiring.V3:  # 3.x blocks always take a flow and mask, starting from zero
            flow = img0.new_zeros(img0.shape[0], 4, *img0.shape[2:])
            mask = img0.new_zeros(img0.shape[0], 1, *img0.shape[2:])
        if spec.adaptive is Adaptive.PROBE:
            scales = self._probe_scales(sides, flow, mask, scales)
        warped: tuple[Tensor, Tensor] | PackedInput = (img0, img1)
        wfeats: tuple[Tensor, Tensor] | None = None
        sources = self._sources(sides, scales, keep_history, layouts)
        flows, masks, warps = [], [], []
        for i, block in enumerate(blocks):
            x = self._block_input(i, sides, warped, mask, wfeats, hidden)
            if not (ensemble or keep_history):
                warped, wfeats, hidden = (img0, img1), None, None  # only `x` holds them: the block frees them
            update = self._predict(block, x, flow, scales[i], self._hidden_scale(scales, i))
            if spec.adaptive is Adaptive.RERUN and i == 1 and self._is_large(update):
                # large motion: redo the coarse blocks at twice the down-sampling (upstream 3.9-4.1)
                scales = [s * 2 for s in scales]
                first = self._block_input(0, sides, warped, None, None, None)
                flow, mask = self._accumulate(None, None, self._predict(blocks[0], first, None, scales[0], None))
                warped, _ = self._next_warps(i, sources, flow, scales, ensemble, keep_history)
                x = self._block_input(i, sides, warped, mask, wfeats, hidden)
                update = self._predict(block, x, flow, scales[i], None)
            if ensemble:
                rev_x = self._block_input(
                    i,
                    sides.reversed(),
                    (warped[1], warped[0]),
                    None if mask is None else -mask,
                    None if wfeats is None else (wfeats[1], wfeats[0]),
                    hidden,
                )
                reverse = self._predict(block, rev_x, None if flow is None else swap_flow(flow), scales[i], None)
                update = update.averaged_with_reverse(reverse)
            flow, mask = self._accumulate(flow, mask, update)
            hidden = update.hidden
            if i == len(blocks) - 1 and not (warp_result or keep_history) and sources.layouts is not None:
                assert mask is not None
                return FlowEstimate(flow, mask, None, None, [flow], [mask], [], sources.layouts[0])
            warped, wfeats = self._next_warps(i + 1, sources, flow, scales, ensemble, keep_history)
            if keep_history or i == len(blocks) - 1:
                flows.append(flow)
                masks.append(mask)
                warps.append(warped)
            del x, update  # free this block's full-size inputs before the next block
        assert flow is not None and mask is not None
        return FlowEstimate(flow, mask, warped[0], warped[1], flows, masks, warps)

    def forward_train(
        self, img0: Tensor, img1: Tensor, gt: Tensor, timestep: Tensor | float = 0.5, distill_margin: float = 0.01
    ) -> TrainingOutput:
        """The ECCV 2022 training pass: student blocks, the teacher block that also sees ``gt``, and the
        privileged distillation loss. Per student block ``i`` the loss is the mean over pixels of
        ``sqrt(mean_channels((flow_teacher - flow_i)^2))`` (teacher flow detached), counted only where the
        student's frame is worse than the teacher's by more than ``distill_margin`` (mean abs over channels).
        """
        spec = self.spec
        if not spec.teacher or spec.wiring is not Wiring.PAPER:
            raise ValueError(f"RIFE {spec.name} has no privileged teacher to train with")
        t = self._timestep_map(timestep, img0) if spec.timestep else None
        sides = _Sides(img0, img1, None, None, t)
        est = self.estimate_flow(sides, [float(s) for s in spec.scales], ensemble=False, keep_history=True)
        extra = [t] if t is not None else []
        teacher_in = [img0, img1, *extra, est.warped0, est.warped1, est.mask, gt]
        d_flow, d_mask, _ = self.block_tea(teacher_in, est.flow, 1.0)
        teacher_flow = est.flow + d_flow
        alpha = torch.sigmoid(est.mask + d_mask)
        teacher0, teacher1 = warp_pair(torch.cat((img0, img1), 0), teacher_flow)
        teacher_merged = teacher0 * alpha + teacher1 * (1 - alpha)

        merged = [est.blended(i) for i in range(spec.num_blocks)]
        teacher_error = (teacher_merged - gt).abs().mean(1, True)
        distill = img0.new_zeros(())
        for flow_i, merged_i in zip(est.flows, merged, strict=True):
            worse = ((merged_i - gt).abs().mean(1, True) > teacher_error + distill_margin).float().detach()
            distance = ((teacher_flow.detach() - flow_i) ** 2).mean(1, True) ** 0.5
            distill = distill + (distance * worse).mean()
        merged[-1] = self.refine(img0, img1, est.warped0, est.warped1, est.mask, est.flow, merged[-1])
        return TrainingOutput(merged, est.flows, teacher_flow, teacher_merged, distill)

    @staticmethod
    def _is_large(update: _Update) -> bool:
        """Whether both directions of the update move something by more than 32 pixels (at full size)."""

        def large(flow: Tensor) -> bool:
            return bool(flow[:, :2].abs().max() > 32) and bool(flow[:, 2:4].abs().max() > 32)

        flow = update.flow * update.factor
        # bilinear up-sampling never exceeds its input's extremes: only a yes needs the full-size check
        if update.factor == 1.0 or not large(flow):
            return large(flow)
        return large(resize(flow, update.factor))

    def _probe_scales(self, sides: _Sides, flow: Tensor, mask: Tensor, scales: list[float]) -> list[float]:
        """3.8: run block 0 at half its resolution; motion beyond 16 px there doubles every block's scale."""
        x = self._block_input(0, sides, (sides.img0, sides.img1), mask, None, None)
        probe, _, _ = self.blocks[0](x, flow, scales[0] * 2)
        if probe.abs().max() > scales[0] * 16:
            return [s * 2 for s in scales]
        return scales


class FlowNet31(nn.Module):
    """RIFE 3.1's IFNet: three blocks summing flows at half resolution, no mask."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        for i, width in enumerate(spec.widths):
            self.add_module(f"block{i}", IFBlock(spec.block_in_channels(i), width, spec))
        self.scales = [float(s) for s in spec.scales]

    def forward(self, img0: Tensor, img1: Tensor) -> Tensor:
        flow: Tensor | None = None
        for i, scale in enumerate(self.scales):
            block = getattr(self, f"block{i}")
            if flow is None:
                delta, _, _ = block([img0, img1], None, scale)
            else:
                full = resize_flow(flow, 2.0)
                delta, _, _ = block(list(warp_pair(torch.cat((img0, img1), 0), full)), full, scale)
            flow = delta if flow is None else flow + delta
        assert flow is not None
        return flow


class IFNet31(nn.Module):
    """RIFE 3.1: :class:`FlowNet31` + :class:`ContextNet31` + :class:`FusionNet31` (three weight files)."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.spec = spec
        self.flownet = FlowNet31(spec)
        self.contextnet = ContextNet31()
        self.fusionnet = FusionNet31()

    def encode_frame(self, image: Tensor) -> None:
        return None

    def warp_layout(self, image: Tensor) -> None:
        return None

    def set_precision(self, dtype: torch.dtype, channels_last: bool = False, *, exact: bool | None = None) -> IFNet31:
        """As :meth:`IFNet.set_precision`, for the flow blocks (the refinement nets stay float32); 3.1 has no
        shorter resampling, so ``exact`` changes nothing."""
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        for i in range(len(self.spec.widths)):
            _set_block_precision(getattr(self.flownet, f"block{i}"), dtype, fmt)
        return self

    def forward(
        self,
        img0: Tensor,
        img1: Tensor,
        timestep: Tensor | float = 0.5,
        scale: float = 1.0,
        ensemble: bool = False,
        features: tuple[Tensor, Tensor] | None = None,
        layouts: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        flow = self.flownet(resize(img0, scale), resize(img1, scale))
        if scale != 1.0:
            flow = resize(flow, 1.0 / scale) / scale
        context0 = self.contextnet(img0, flow[:, :2])
        context1 = self.contextnet(img1, flow[:, 2:4])
        flow = resize_flow(flow, 2.0)
        warped0, warped1 = warp_pair(torch.cat((img0, img1), 0), flow)
        out = self.fusionnet(warped0, warped1, flow, context0, context1)
        residual = torch.sigmoid(out[:, :3]) * 2 - 1
        alpha = torch.sigmoid(out[:, 3:4])
        return torch.clamp(warped0 * alpha + warped1 * (1 - alpha) + residual, 0, 1)


def _set_block_precision(block: IFBlock, dtype: torch.dtype, fmt: torch.memory_format) -> None:
    """``block``'s body and head in ``dtype``, its ``conv0`` in float32 (its weights never rounded), all in
    memory format ``fmt``."""
    for name, child in block.named_children():
        child.to(torch.float32 if name == "conv0" else dtype, memory_format=fmt)
    block.compute_dtype, block.memory_format = dtype, fmt


def build_network(spec: ArchSpec) -> IFNet | IFNet31:
    """Instantiate the network ``spec`` describes (random weights; see :mod:`vsrife.weights` to load)."""
    return IFNet31(spec) if spec.wiring is Wiring.V31 else IFNet(spec)
