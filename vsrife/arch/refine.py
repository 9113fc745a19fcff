"""Refinement networks that turn the warped-and-blended frame into the final one.

* :class:`ContextNet` + :class:`UNet`: the ECCV 2022 paper's refinement (also carried, unused, by 3.9).
  ContextNet extracts a 4-level feature pyramid of each input frame and warps it by the final flow; the U-Net
  predicts a residual in [-1, 1] that is added to the blended frame.
* :class:`ContextNet31` + :class:`FusionNet31`: RIFE 3.1's refinement, which also predicts the blending mask.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import Conv2, deconv, deconv_prelu, resize_flow, warp


class ContextNet(nn.Module):
    """Feature pyramid of one frame, warped towards the intermediate time.

    Input: image ``N x 3 x H x W`` and its flow ``N x 2 x H x W``. Output: four maps at 1/2 ... 1/16 of the
    size with ``c, 2c, 4c, 8c`` channels.
    """

    def __init__(self, c: int = 16) -> None:
        super().__init__()
        self.conv1 = Conv2(3, c)
        self.conv2 = Conv2(c, 2 * c)
        self.conv3 = Conv2(2 * c, 4 * c)
        self.conv4 = Conv2(4 * c, 8 * c)

    def forward(self, image: Tensor, flow: Tensor) -> list[Tensor]:
        pyramid = []
        x = image
        for stage in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = stage(x)
            flow = resize_flow(flow, 0.5)
            pyramid.append(warp(x, flow))
        return pyramid


class UNet(nn.Module):
    """Predicts the refinement residual (3 channels, sigmoid) from frames, warps, mask logits and flow."""

    def __init__(self, c: int = 16) -> None:
        super().__init__()
        self.down0 = Conv2(17, 2 * c)
        self.down1 = Conv2(4 * c, 4 * c)
        self.down2 = Conv2(8 * c, 8 * c)
        self.down3 = Conv2(16 * c, 16 * c)
        self.up0 = deconv_prelu(32 * c, 8 * c)
        self.up1 = deconv_prelu(16 * c, 4 * c)
        self.up2 = deconv_prelu(8 * c, 2 * c)
        self.up3 = deconv_prelu(4 * c, c)
        self.conv = nn.Conv2d(c, 3, 3, 1, 1)

    def forward(
        self,
        img0: Tensor,
        img1: Tensor,
        warped0: Tensor,
        warped1: Tensor,
        mask: Tensor,
        flow: Tensor,
        context0: list[Tensor],
        context1: list[Tensor],
    ) -> Tensor:
        s0 = self.down0(torch.cat((img0, img1, warped0, warped1, mask, flow), 1))
        s1 = self.down1(torch.cat((s0, context0[0], context1[0]), 1))
        s2 = self.down2(torch.cat((s1, context0[1], context1[1]), 1))
        s3 = self.down3(torch.cat((s2, context0[2], context1[2]), 1))
        x = self.up0(torch.cat((s3, context0[3], context1[3]), 1))
        x = self.up1(torch.cat((x, s2), 1))
        x = self.up2(torch.cat((x, s1), 1))
        x = self.up3(torch.cat((x, s0), 1))
        return torch.sigmoid(self.conv(x))


class ContextNet31(nn.Module):
    """RIFE 3.1's context pyramid: a stride-4 stem, then four stages warped by the (half-resolution) flow."""

    def __init__(self, c: int = 32) -> None:
        super().__init__()
        self.conv0 = Conv2(3, c)
        self.conv1 = Conv2(c, c)
        self.conv2 = Conv2(c, 2 * c)
        self.conv3 = Conv2(2 * c, 4 * c)
        self.conv4 = Conv2(4 * c, 8 * c)

    def forward(self, image: Tensor, flow: Tensor) -> list[Tensor]:
        x = self.conv0(image)
        pyramid = []
        for stage in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = stage(x)
            flow = resize_flow(flow, 0.5)
            pyramid.append(warp(x, flow))
        return pyramid


class FusionNet31(nn.Module):
    """RIFE 3.1's fusion U-Net: outputs 3 residual channels and 1 mask channel (logits), full resolution."""

    def __init__(self, c: int = 32) -> None:
        super().__init__()
        self.conv0 = Conv2(10, c)
        self.down0 = Conv2(c, 2 * c)
        self.down1 = Conv2(4 * c, 4 * c)
        self.down2 = Conv2(8 * c, 8 * c)
        self.down3 = Conv2(16 * c, 16 * c)
        self.up0 = deconv_prelu(32 * c, 8 * c)
        self.up1 = deconv_prelu(16 * c, 4 * c)
        self.up2 = deconv_prelu(8 * c, 2 * c)
        self.up3 = deconv_prelu(4 * c, c)
        self.conv = deconv(c, 4)

    def forward(
        self, warped0: Tensor, warped1: Tensor, flow: Tensor, context0: list[Tensor], context1: list[Tensor]
    ) -> Tensor:
        x = self.conv0(torch.cat((warped0, warped1, flow), 1))
        s0 = self.down0(x)
        s1 = self.down1(torch.cat((s0, context0[0], context1[0]), 1))
        s2 = self.down2(torch.cat((s1, context0[1], context1[1]), 1))
        s3 = self.down3(torch.cat((s2, context0[2], context1[2]), 1))
        x = self.up0(torch.cat((s3, context0[3], context1[3]), 1))
        x = self.up1(torch.cat((x, s2), 1))
        x = self.up2(torch.cat((x, s1), 1))
        x = self.up3(torch.cat((x, s0), 1))
        return self.conv(x)
