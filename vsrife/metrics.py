"""Image quality as the published RIFE benchmarks compute it (ECCV2022-RIFE ``benchmark/*.py``).

Predictions are rounded to 8 bits first; SSIM is ``ssim_matlab``: an 11-tap Gaussian window (sigma 1.5)
applied in 3-D over height, width and the colour channels taken as a volume, with replicate padding of 5.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def quantize(image: Tensor) -> Tensor:
    """[0, 1] float -> the 8-bit value it would be saved as, back in [0, 1]."""
    return torch.round(image.clamp(0, 1) * 255) / 255


def psnr(prediction: Tensor, target: Tensor) -> float:
    """PSNR in dB of one image pair in [0, 1] (prediction rounded to 8 bits), over H x W x C."""
    mse = torch.mean((quantize(prediction).double() - target.double()) ** 2).item()
    return float("inf") if mse == 0 else -10 * math.log10(mse)


def interpolation_error(prediction: Tensor, target: Tensor) -> float:
    """Middlebury's IE: mean absolute error in 0-255 of the 8-bit prediction."""
    return torch.mean(torch.abs(torch.round(prediction.clamp(0, 1) * 255).double() - target.double() * 255)).item()


def _gaussian(size: int, sigma: float = 1.5) -> Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _window_3d(size: int) -> Tensor:
    g = _gaussian(size)
    return (g[:, None, None] * g[None, :, None] * g[None, None, :]).expand(1, 1, size, size, size).contiguous()


def ssim_matlab(img1: Tensor, img2: Tensor, window_size: int = 11) -> float:
    """SSIM of two ``N x 3 x H x W`` images, ``L`` (1 or 255) detected from ``img1`` as upstream does."""
    max_val = 255 if img1.max() > 128 else 1
    min_val = -1 if img1.min() < -0.5 else 0
    big_l = max_val - min_val
    window = _window_3d(min(window_size, img1.shape[2], img1.shape[3])).to(img1)
    a, b = img1.unsqueeze(1), img2.unsqueeze(1)

    def filt(x: Tensor) -> Tensor:
        return F.conv3d(F.pad(x, (5, 5, 5, 5, 5, 5), mode="replicate"), window)

    mu1, mu2 = filt(a), filt(b)
    sigma1 = filt(a * a) - mu1**2
    sigma2 = filt(b * b) - mu2**2
    sigma12 = filt(a * b) - mu1 * mu2
    c1, c2 = (0.01 * big_l) ** 2, (0.03 * big_l) ** 2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * sigma12 + c2)) / ((mu1**2 + mu2**2 + c1) * (sigma1 + sigma2 + c2))
    return ssim_map.mean().item()
