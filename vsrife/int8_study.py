"""What the int8 path's choices cost on real footage: activation bits, which blocks run in int8, and where
its loss comes from.

    python -m vsrife.int8_study [--model 3.9] [--variants 8bit 7bit ...] [--json FILE]

Each variant is the int8 path (:func:`vsrife.arch.int8.quantize_network` on the ``fast32`` network) with one
choice changed. It rebuilds the dropped middle frames of the benchmark's quality set
(:data:`vsrife.benchmark.TRIPLETS`: natural footage, animation, titles, end credits, a face, a phone clip), and
the tables show, per clip, the mean PSNR difference to ``fp32`` (the original's result) against the true frames
in dB — the fast paths are held to losing no more than 0.05 dB on any clip — and the mean PSNR against
``fp32``'s own frames, which says how close a variant stays to the reference whichever way the truth moves.
Variants with 8-bit activations run only where the CPU's int8 convolutions take them exactly
(:func:`~vsrife.arch.int8.activation_top`); elsewhere they are skipped. The ``sim-`` variants run the bodies in
float32 with only some of the int8 path's rounding applied (weights, activations, or activations per channel,
which oneDNN's int8 convolutions cannot take): they say where the loss comes from, on any CPU. Some of them are
calibrated: weights rounded by GPTQ, input channels rescaled by SmoothQuant, both from statistics gathered
first on fixed frame pairs outside the quality set (:mod:`vsrife.int8_calibration`; a minute or two).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import cli, gptq, int8_calibration
from .arch import int8
from .arch.kernels import Quantizer
from .benchmark import quality
from .errors import RifeError
from .inference import Interpolator


@dataclass(frozen=True)
class Simulation:
    """Which of the int8 path's roundings a float32 body applies, and how."""

    # "nearest": rounded as the path stores them (int8, one scale per output channel); "gptq": to the same
    # grid by GPTQ (:mod:`vsrife.int8_calibration`); None: exact
    weights: str | None
    activations: str | None  # "tensor": over each frame's range, as the path; "channel": per channel; None: exact
    smoothing: float | None = None  # SmoothQuant's alpha: input channels rescaled by calibrated scales first

    @property
    def calibrated(self) -> bool:
        return self.weights == "gptq" or self.smoothing is not None


@dataclass(frozen=True)
class Variant:
    """One way to build the int8 path, or to simulate part of it."""

    description: str
    top: int  # the activations' largest code: 255 (8 bits) or 127 (7 bits)
    blocks: tuple[int, ...] | None = None  # the blocks whose bodies run in int8 (None: all)
    simulated: Simulation | None = None
    wide_finest: int = 0  # the finest blocks whose activations get twice the bits (two uint8 planes)
    gptq: bool = False  # the real path with GPTQ's weights (calibrated on the sample clips)
    wide_conv0: bool = False  # each block's conv0 in int8 too, with wide activations
    finest_wide_layers: int | None = None  # of the finest block, only the first so many layers' inputs wide
    coarser_wide_layers: int | None = None  # the same for the other wide blocks

    @property
    def calibrated(self) -> bool:
        """Whether it needs the calibration statistics (:func:`vsrife.int8_calibration.collect`)."""
        return self.gptq or (self.simulated is not None and self.simulated.calibrated)

    def leaves_no_block_float(self, network: nn.Module) -> bool:
        """Whether ``blocks`` names every block of ``network`` (e.g. (0, 1, 2) for the three-block 3.x models,
        where "block 3 left float32" has no block 3)."""
        return self.blocks is not None and set(range(len(getattr(network, "blocks", [])))) <= set(self.blocks)


VARIANTS = {
    "8bit": Variant("the int8 path on CPUs with VNNI or AMX: 8-bit activations", 255),
    "7bit": Variant("the int8 path on CPUs without VNNI: 7-bit activations", 127),
    "8bit-blocks012": Variant("8-bit, block 3's body (the finest) left float32", 255, blocks=(0, 1, 2)),
    "8bit-blocks01": Variant("8-bit, only the two coarsest blocks' bodies in int8", 255, blocks=(0, 1)),
    "7bit-blocks012": Variant("7-bit, block 3's body left float32", 127, blocks=(0, 1, 2)),
    "sim-8bit": Variant(
        "simulated: the 8bit path's rounding (checks the simulation)", 255, None, Simulation("nearest", "tensor")
    ),
    "sim-weights": Variant("simulated: int8 weights only, float activations", 255, None, Simulation("nearest", None)),
    "sim-activations": Variant(
        "simulated: 8-bit activations only, float weights", 255, None, Simulation(None, "tensor")
    ),
    "sim-channel": Variant(
        "simulated: int8 weights, 8-bit activations per channel", 255, None, Simulation("nearest", "channel")
    ),
    "sim-channel-activations": Variant(
        "simulated: 8-bit activations per channel only, float weights", 255, None, Simulation(None, "channel")
    ),
    "sim-gptq": Variant(
        "simulated: int8 weights rounded by GPTQ, 8-bit activations", 255, None, Simulation("gptq", "tensor")
    ),
    "sim-gptq-weights": Variant(
        "simulated: int8 weights rounded by GPTQ only, float activations", 255, None, Simulation("gptq", None)
    ),
    "sim-smooth": Variant(
        "simulated: SmoothQuant (alpha 0.5), then the 8bit path's rounding",
        255,
        simulated=Simulation("nearest", "tensor", 0.5),
    ),
    "sim-smooth-gptq": Variant(
        "simulated: SmoothQuant (alpha 0.5), weights by GPTQ, 8-bit activations",
        255,
        simulated=Simulation("gptq", "tensor", 0.5),
    ),
    "sim-gptq-wide1": Variant(
        "simulated: GPTQ weights, 8-bit activations, the finest block's 16-bit (two uint8 planes)",
        255,
        simulated=Simulation("gptq", "tensor"),
        wide_finest=1,
    ),
    "sim-gptq-wide2": Variant(
        "simulated: GPTQ weights, 8-bit activations, the two finest blocks' 16-bit",
        255,
        simulated=Simulation("gptq", "tensor"),
        wide_finest=2,
    ),
    "8bit-wide2": Variant(
        "8-bit, the two finest blocks' activations 16-bit as two uint8 planes (each convolution twice)",
        255,
        wide_finest=2,
    ),
    "gptq-wide2": Variant(
        "GPTQ's weights, 8-bit activations, the two finest blocks' 16-bit as two uint8 planes",
        255,
        wide_finest=2,
        gptq=True,
    ),
    "gptq-wide2-7bit": Variant(
        "GPTQ's weights, 7-bit activations (CPUs without VNNI), the two finest blocks' 14-bit as two planes",
        127,
        wide_finest=2,
        gptq=True,
    ),
    "gptq-wide3": Variant(
        "GPTQ's weights, 8-bit activations, the three finest blocks' 16-bit as two uint8 planes",
        255,
        wide_finest=3,
        gptq=True,
    ),
    "gptq-wide3-7bit": Variant(
        "GPTQ's weights, 7-bit activations (CPUs without VNNI), the three finest blocks' 14-bit as two planes",
        127,
        wide_finest=3,
        gptq=True,
    ),
    **{
        f"gptq-wide3{bits}-finest{n}": Variant(
            f"gptq-wide3{bits}, but of the finest block only the first {n} layers' inputs wide",
            255 if not bits else 127,
            wide_finest=3,
            gptq=True,
            finest_wide_layers=n,
        )
        for bits in ("", "-7bit")
        for n in (1, 2, 4)
    },
    **{
        f"gptq-wide3-finest{n}-coarser{m}": Variant(
            f"gptq-wide3-finest{n}, and of the other two wide blocks too only the first {m} layers' inputs wide",
            255,
            wide_finest=3,
            gptq=True,
            finest_wide_layers=n,
            coarser_wide_layers=m,
        )
        for n in (2, 4, 8)
        for m in (1, 2, 4)
    },
    "8bit-conv0": Variant("8-bit, and each block's conv0 in int8 with 16-bit activations", 255, wide_conv0=True),
    "gptq-wide3-conv0": Variant(
        "gptq-wide3, and each block's conv0 in int8 with 16-bit activations",
        255,
        wide_finest=3,
        gptq=True,
        wide_conv0=True,
    ),
    "gptq-wide3-7bit-conv0": Variant(
        "gptq-wide3-7bit, and each block's conv0 in int8 with 14-bit activations",
        127,
        wide_finest=3,
        gptq=True,
        wide_conv0=True,
    ),
    "sim-gptq-blocks012": Variant(
        "simulated: GPTQ weights, 8-bit activations, block 3's body (the finest) left float32",
        255,
        blocks=(0, 1, 2),
        simulated=Simulation("gptq", "tensor"),
    ),
    "sim-smooth-activations": Variant(
        "simulated: SmoothQuant (alpha 0.5), 8-bit activations only, float weights",
        255,
        simulated=Simulation(None, "tensor", 0.5),
    ),
}
WIDE_TOP = 65535  # 16-bit activation codes: a high and a low uint8 plane, each run through the convolution
DEFAULT_VARIANTS = ["8bit", "7bit", "8bit-blocks012", "8bit-blocks01"]


class SimulatedBody(nn.Module):
    """A body of ``conv -> PReLU/LeakyReLU`` layers in float32 with only the roundings ``simulation`` names:
    to find where the int8 path loses accuracy, never a path to run. Calibrated simulations take each
    layer's :class:`~vsrife.int8_calibration.InputStatistics` (``statistics``, in the layers' order)."""

    def __init__(
        self,
        layers: nn.Sequential,
        simulation: Simulation,
        top: int,
        statistics: list[int8_calibration.InputStatistics] | None = None,
    ) -> None:
        super().__init__()
        self.convs = [pair[0] for pair in layers]
        self.slopes = [int8.activation_slope(pair[1], pair[0].out_channels) for pair in layers]
        if simulation.calibrated and statistics is None:
            raise ValueError("a calibrated simulation needs the layers' input statistics")
        self.divisors: list[Tensor | None] = []  # smoothing: each layer's input is divided by these
        self.weights: list[Tensor] = []
        for i, conv in enumerate(self.convs):
            stats = statistics[i] if statistics is not None else None
            weight, divisor = self._weight(conv.weight.detach().float(), simulation, stats)
            self.weights.append(weight)
            self.divisors.append(divisor)
        self.activations = simulation.activations
        self.top = top

    @staticmethod
    def _weight(
        weight: Tensor, simulation: Simulation, stats: int8_calibration.InputStatistics | None
    ) -> tuple[Tensor, Tensor | None]:
        """The weights the simulated convolution computes with, and the smoothing's divisors of its input."""
        divisor = None
        second_moments = stats.second_moments if stats is not None else None
        if simulation.smoothing is not None and stats is not None:
            scales = int8_calibration.smoothing_scales(weight, stats.peaks, simulation.smoothing)
            weight = weight * scales.reshape(1, -1, 1, 1)
            divisor = scales.reshape(1, -1, 1, 1)
            # E[(x/s)(x/s)ᵀ]: each input channel's kh * kw unfolded columns divided by its scale
            per_column = (1 / scales).repeat_interleave(weight.shape[2] * weight.shape[3])
            second_moments = stats.second_moments * per_column[:, None] * per_column[None, :]
        if simulation.weights == "nearest":
            values, scales = int8.round_weights(weight)
            weight = values.float() * scales.reshape(-1, 1, 1, 1)
        elif simulation.weights == "gptq":
            assert second_moments is not None
            weight = int8_calibration.gptq_round(weight, second_moments)
        return weight, divisor

    def _round(self, x: Tensor) -> Tensor:
        """``x`` as the next convolution sees it: quantized and back, as :class:`~vsrife.arch.kernels.Quantizer`
        spans a range (0 included), over the whole tensor or per channel."""
        if self.activations is None:
            return x
        if self.activations == "tensor" and self.top <= 255:
            quantizer = Quantizer.spanning(float(x.min()), float(x.max()), self.top)
            return (quantizer.reference(x).float() - quantizer.zero_point) * quantizer.scale
        # per channel, or wider codes than a uint8's (two planes): the same arithmetic in float
        dims = (0, 2, 3) if self.activations == "channel" else (0, 1, 2, 3)
        lo = x.amin(dim=dims, keepdim=True).clamp(max=0.0)
        hi = x.amax(dim=dims, keepdim=True).clamp(min=0.0)
        scale = (hi - lo).clamp(min=1e-8) / self.top
        zero_point = torch.round(-lo / scale)
        return (torch.clamp(torch.round(x / scale + zero_point), 0, self.top) - zero_point) * scale

    def forward(self, x: Tensor) -> Tensor:
        for conv, weight, slope, divisor in zip(self.convs, self.weights, self.slopes, self.divisors, strict=True):
            x = x if divisor is None else x / divisor
            y = F.conv2d(self._round(x), weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
            x = F.prelu(y, slope)
        return x


def check_simulable(network: nn.Module) -> None:
    """The sim- variants rebuild bodies of ``conv -> activation`` pairs, and wide chains exist only for such
    bodies; anything else is a clear error."""
    for _, _, layers in int8.bodies(network):
        if not all(isinstance(layer, nn.Sequential) for layer in layers):
            raise RifeError("the sim- and wide variants take bodies of convolution + activation layers (3.x, 3.9-4.4)")


def gptq_rounding(network: nn.Module, statistics: dict[str, int8_calibration.InputStatistics]) -> int8.Rounding:
    """The int8 path's weight rounding done by GPTQ with each body convolution's calibration statistics, as
    the ``int8-gptq`` path applies its shipped rounding."""
    return gptq.offsets_rounding(int8_calibration.gptq_offsets(network, statistics), network)


def interpolator(
    network: nn.Module, variant: Variant, statistics: dict[str, int8_calibration.InputStatistics] | None = None
) -> Interpolator:
    """The int8 path of ``network`` as ``variant`` builds it (on a copy: ``network`` stays float32);
    calibrated variants take ``statistics`` from :func:`vsrife.int8_calibration.collect`."""
    path = Interpolator(network, device="cpu", precision="fast32")
    if variant.simulated is None:
        rounding = None
        if variant.gptq:
            assert statistics is not None
            rounding = gptq_rounding(path.network, statistics)
        int8.quantize_network(
            path.network,
            top=variant.top,
            blocks=variant.blocks,
            wide_finest=variant.wide_finest,
            rounding=rounding,
            wide_conv0=variant.wide_conv0,
            finest_wide_layers=variant.finest_wide_layers,
            coarser_wide_layers=variant.coarser_wide_layers,
        )
        return path
    check_simulable(path.network)
    names = {id(conv): name for name, conv in int8.body_convolutions(path.network).items()}
    blocks = list(getattr(path.network, "blocks", []))
    wide = {id(block) for block in int8.finest_blocks(path.network, variant.wide_finest)}
    for block, name, layers in list(int8.bodies(path.network)):
        if variant.blocks is not None and blocks.index(block) not in variant.blocks:
            continue  # stays float32
        layer_statistics = None
        if statistics is not None:
            layer_statistics = [statistics[names[id(pair[0])]] for pair in layers]
        top = WIDE_TOP if id(block) in wide else variant.top
        setattr(block, name, SimulatedBody(layers, variant.simulated, top, layer_statistics))
    return path


def study(model: str, names: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """``{clip: {variant: {"difference_db", "vs_fp32_psnr"}}}`` for the variants this CPU computes exactly:
    the PSNR difference to fp32's against the true frames, and the PSNR against fp32's frames."""
    network = int8_calibration.load_quantizable(model)
    runnable = [n for n in names if VARIANTS[n].simulated or VARIANTS[n].top <= int8.activation_top()]
    if not runnable:
        raise RifeError("this CPU's int8 convolutions overflow with 8-bit activations: ask for 7-bit variants")
    for name in sorted(set(names) - set(runnable)):
        print(f"skipped {name}: this CPU's int8 convolutions overflow with 8-bit activations", file=sys.stderr)
    for name in [n for n in runnable if VARIANTS[n].leaves_no_block_float(network)]:
        count = len(network.blocks)
        print(f"note: model {model} has {count} blocks, so {name} runs every block in int8", file=sys.stderr)
    if any(VARIANTS[n].simulated or VARIANTS[n].wide_finest for n in runnable):
        check_simulable(network)  # before a minute of calibration, not after
    statistics = None
    if any(VARIANTS[n].calibrated for n in runnable):
        statistics = int8_calibration.collect(network)
    paths = {"fp32": Interpolator(network, device="cpu", precision="fp32")}
    paths.update({name: interpolator(network, VARIANTS[name], statistics) for name in runnable})
    results = quality(paths, real_weights=True)
    keys = ("difference_db", "vs_fp32_psnr")
    return {clip: {n: {k: v[n][k] for k in keys} for n in runnable} for clip, v in results.items()}


def print_table(model: str, results: dict[str, dict[str, dict[str, float]]]) -> None:
    clips = list(results)
    variants = list(next(iter(results.values())))
    width = max(len(name) for name in ["variant", *variants])
    header = f"{'variant':<{width}} " + " ".join(f"{clip.split('.')[0][:12]:>12}" for clip in clips)
    for key, title, summary in (
        ("difference_db", "PSNR difference to fp32's against the true frames (dB)", ("worst", min)),
        ("vs_fp32_psnr", "PSNR against fp32's frames (dB): how close the path stays to the reference", ("least", min)),
    ):
        print(f"model {model}: {title}, mean over each clip's triplets")
        print(f"{header} {summary[0]:>8}")
        for name in variants:
            cells = [results[clip][name][key] for clip in clips]
            sign = "+" if key == "difference_db" else ""
            print(
                f"{name:<{width}} " + " ".join(f"{c:>{sign}12.3f}" for c in cells) + f" {summary[1](cells):>{sign}8.3f}"
            )
        print()
    for name in variants:
        print(f"  {name}: {VARIANTS[name].description}")


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m vsrife.int8_study", __doc__)
    parser.add_argument("--model", default="3.9", help="a model whose real weights are in the store")
    parser.add_argument(
        "--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS), metavar="NAME",
        help=f"variants to compare, of: {', '.join(VARIANTS)}",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        results = study(args.model, args.variants)
    except RifeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_table(args.model, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
