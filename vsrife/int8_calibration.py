"""Calibration for studies of the int8 path: what each body convolution's input looks like on real frames,
and two published ways to use that which :mod:`vsrife.int8_study` compares with the path's own rounding.

* **GPTQ** (Frantar et al., ICLR 2023) rounds a layer's weights one input column at a time and moves each
  column's rounding error onto the columns not yet rounded, weighted by the inverse of the input's second
  moments ``H = E[x xᵀ]`` — minimising the error of the layer's *output* on such inputs instead of each
  weight's own error.
* **Smoothing** (SmoothQuant, Xiao et al., ICML 2023) divides each input channel by a fixed scale ``s`` and
  multiplies the weights' matching column by it: the same products, but channels of very different ranges
  share one per-tensor activation range better. ``s = peak(x)^α / peak(w)^(1-α)`` balances the two.

``python -m vsrife.int8_calibration --model M`` computes GPTQ's rounding of a model's published weights, as
the package ships it for the ``int8-gptq`` path (:mod:`vsrife.gptq`), and prints the entry to record.

The statistics come from fixed real frame pairs of the sample clips (:data:`CALIBRATION_FRAMES`), none of them
a frame of the benchmark's quality set, run through the ``fast32`` network.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import cli, gptq
from .arch import int8
from .benchmark import sample_rgb, to_tensor
from .errors import RifeError
from .fetch import sha256_of
from .inference import Interpolator
from .weights import load_network

# middle frames n of calibration pairs (n - 1, n + 1): natural footage, animation, titles, end credits, a face
CALIBRATION_FRAMES = {
    "bikes.mp4": [20, 120, 180],
    "bigbuckbunny.mp4": [70, 120],
    "trailer_bbb.mp4": [250, 600],
    "face_noface.mov": [20],
    "bbb_film.mp4": [12950, 13150, 13350],
}


@dataclass
class InputStatistics:
    """One convolution's input over the calibration frames."""

    second_moments: Tensor  # E[x xᵀ] over sampled positions of the unfolded input: (in * kh * kw)²
    peaks: Tensor  # max |x| per input channel: (in,)


def collect(
    network: nn.Module,
    frames: dict[str, list[int]] | None = None,
    positions: int = 20000,
    seed: int = 0,
    only: Collection[str] | None = None,
) -> dict[str, InputStatistics]:
    """Run the calibration pairs (``frames``, default :data:`CALIBRATION_FRAMES`) through ``network``'s
    ``fast32`` path and gather, for every body convolution (or those named in ``only``),
    :class:`InputStatistics` (``positions``: how many output positions of each frame enter the second
    moments, drawn at random by a generator of each convolution's own, seeded from ``seed`` and its place:
    the same draws whichever others are gathered too)."""
    path = Interpolator(network, device="cpu", precision="fast32")
    sums: dict[str, list] = {}

    def record(name: str, conv: nn.Conv2d, index: int):
        generator = torch.Generator().manual_seed(seed * 1000 + index)

        def hook(_module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
            x = inputs[0].detach().float()
            columns = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)[0]
            if columns.shape[1] > positions:
                columns = columns[:, torch.randperm(columns.shape[1], generator=generator)[:positions]]
            peaks = x.abs().amax(dim=(0, 2, 3))
            total = sums.setdefault(name, [0.0, 0, peaks])
            total[0] = total[0] + columns @ columns.T
            total[1] += columns.shape[1]
            total[2] = torch.maximum(total[2], peaks)

        return hook

    handles = [
        conv.register_forward_pre_hook(record(name, conv, index))
        for index, (name, conv) in enumerate(int8.body_convolutions(path.network).items())
        if only is None or name in only
    ]
    try:
        for clip_name, centres in (frames or CALIBRATION_FRAMES).items():
            rgb = sample_rgb(clip_name)
            for n in centres:
                before, after = (to_tensor(rgb.get_frame(i)) for i in (n - 1, n + 1))
                path.interpolate(before, after, 0.5)
    finally:
        for handle in handles:
            handle.remove()
    return {name: InputStatistics(total[0] / total[1], total[2]) for name, total in sums.items()}


def smoothing_scales(weight: Tensor, peaks: Tensor, alpha: float = 0.5) -> Tensor:
    """SmoothQuant's per-input-channel scales ``s`` (the input is divided by them, the weights' columns
    multiplied), normalised so that the largest is 1."""
    weight_peaks = weight.abs().amax(dim=(0, 2, 3)).clamp_min(1e-8)
    scales = peaks.clamp_min(1e-5) ** alpha / weight_peaks ** (1 - alpha)
    return scales / scales.max()


def gptq_round(weight: Tensor, second_moments: Tensor, damping: float = 0.01, block: int = 128) -> Tensor:
    """``weight`` (``out x in x kh x kw``) rounded to the int8 path's grid (one scale per output channel,
    ``max |w| / 127``, :func:`~vsrife.arch.int8.round_weights`) by GPTQ for inputs with ``second_moments``
    (``E[x xᵀ]`` of the unfolded input, in :func:`torch.nn.functional.unfold`'s order); returned as float
    values on that grid. Columns go in order of decreasing input energy (the paper's "act order");
    ``damping`` times the mean diagonal is added to ``H`` to keep it invertible."""
    _, scales = int8.round_weights(weight)
    scales = scales.double().unsqueeze(1)
    w = weight.reshape(weight.shape[0], -1).double().clone()
    h = second_moments.double().clone()
    dead = torch.diag(h) == 0  # inputs that never vary: their weights do not matter
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    order = torch.argsort(torch.diag(h), descending=True)
    w, h = w[:, order], h[order][:, order]
    h += damping * torch.diag(h).mean() * torch.eye(h.shape[0], dtype=h.dtype)
    # the upper Cholesky factor of H⁻¹: row i holds how the later columns absorb column i's error
    inverse = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    rounded = torch.zeros_like(w)
    for start in range(0, w.shape[1], block):
        end = min(start + block, w.shape[1])
        errors = torch.zeros(w.shape[0], end - start, dtype=w.dtype)
        for i in range(start, end):
            column = w[:, i]
            rounded[:, i] = torch.clamp(torch.round(column / scales[:, 0]), -127, 127) * scales[:, 0]
            error = (column - rounded[:, i]) / inverse[i, i]
            w[:, i:end] -= error.unsqueeze(1) * inverse[i, i:end].unsqueeze(0)
            errors[:, i - start] = error
        w[:, end:] -= errors @ inverse[start:end, end:]
    return rounded[:, torch.argsort(order)].float().reshape(weight.shape)


def load_quantizable(model: str) -> nn.Module:
    """Model ``model``'s published weights, or a :class:`RifeError` if its network has no int8 path."""
    network = load_network(model)
    if next(int8.bodies(network), None) is None:
        raise RifeError(f"model {model} has no int8 path (its network has no blocks with bodies to quantize)")
    return network


def gptq_offsets(network: nn.Module, statistics: dict[str, InputStatistics]) -> dict[str, Tensor]:
    """Per body convolution of ``network`` with ``statistics`` (its ``fast32`` copy's names, as :func:`collect`
    gives them): how far GPTQ's int8 value of each weight lies from the nearest one (what :mod:`vsrife.gptq`
    ships)."""
    offsets = {}
    for name, conv in int8.body_convolutions(network).items():
        if name not in statistics:
            continue
        weight = conv.weight.detach().float()
        nearest, scales = int8.round_weights(weight)
        rounded = int8.on_grid(gptq_round(weight, statistics[name].second_moments), scales)
        offsets[name] = (rounded.to(torch.int16) - nearest.to(torch.int16)).to(torch.int8)
    return offsets


def write_offsets(network: nn.Module, path: Path) -> str:
    """Calibrate ``network`` (a minute or two), write its GPTQ offsets to ``path`` (npz, written atomically)
    and return the file's SHA-256."""
    offsets = gptq_offsets(network, collect(network))
    arrays = {name: values.numpy() for name, values in offsets.items()}
    arrays[gptq.DIGEST_KEY] = np.array(gptq.weights_digest(network))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    with partial.open("wb") as out:
        np.savez_compressed(out, **arrays)
    os.replace(partial, path)
    return sha256_of(path)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m vsrife.int8_calibration", __doc__)
    parser.add_argument("--model", required=True, help="a model whose published weights are in the store")
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="where to write it (default: vsrife/data/gptq-MODEL.npz here)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        network = load_quantizable(args.model)  # before a minute of calibration
    except RifeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path(__file__).parent / "data" / f"gptq-{args.model}.npz"
    sha256 = write_offsets(network, out)
    print(f"{out}: sha256 {sha256}, weights digest {gptq.weights_digest(network)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
