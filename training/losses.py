"""The paper's reconstruction loss: L1 over a Laplacian pyramid (ECCV2022-RIFE ``model/laplacian.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def binomial_kernel(channels: int) -> Tensor:
    """The 5x5 binomial kernel (outer product of 1 4 6 4 1, / 256), one copy per channel for grouped conv."""
    row = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    kernel = torch.outer(row, row) / 256.0
    return kernel.expand(channels, 1, 5, 5).contiguous()


def _blur(image: Tensor, kernel: Tensor) -> Tensor:
    return F.conv2d(F.pad(image, (2, 2, 2, 2), mode="reflect"), kernel, groups=image.shape[1])


def _upsample(image: Tensor, kernel: Tensor) -> Tensor:
    """Zero-insertion x2 up-sampling followed by the blur (with the kernel x4 to keep brightness)."""
    n, c, h, w = image.shape
    up = image.new_zeros(n, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = image
    return _blur(up, 4 * kernel)


def laplacian_pyramid(image: Tensor, kernel: Tensor, levels: int) -> list[Tensor]:
    """The band-pass levels (the final low-pass residual is not included, as upstream)."""
    pyramid = []
    current = image
    for _ in range(levels):
        down = _blur(current, kernel)[:, :, ::2, ::2]
        pyramid.append(current - _upsample(down, kernel))
        current = down
    return pyramid


class LapLoss(nn.Module):
    """Sum over ``levels`` pyramid levels of the mean absolute difference (inputs ``N x C x H x W``).

    The pyramid halves the size ``levels`` times, so upstream's version needs sides that are multiples of
    ``2 ** levels`` (Vimeo90K's 448x256 are); other sizes (a validation frame of 176x144) are padded here by
    repeating the border to the next multiple first, both images alike. Multiples are left untouched, so
    the numbers are upstream's wherever upstream runs."""

    def __init__(self, levels: int = 5, channels: int = 3) -> None:
        super().__init__()
        self.levels = levels
        self.register_buffer("kernel", binomial_kernel(channels), persistent=False)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        multiple = 2**self.levels
        height, width = prediction.shape[-2:]
        pad = (0, -width % multiple, 0, -height % multiple)
        if any(pad):
            prediction, target = (F.pad(x, pad, mode="replicate") for x in (prediction, target))
        kernel = self.kernel.to(prediction.dtype)
        a = laplacian_pyramid(prediction, kernel, self.levels)
        b = laplacian_pyramid(target, kernel, self.levels)
        return sum(F.l1_loss(x, y) for x, y in zip(a, b, strict=True))
