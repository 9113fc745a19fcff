"""What the int8 path's choices cost on real footage: activation bits, and which blocks run in int8.

    python -m vsrife.int8_study [--model 3.9] [--variants 8bit 7bit ...] [--json FILE]

Each variant is the int8 path (:func:`vsrife.arch.int8.quantize_network` on the ``fast32`` network) with one
choice changed. It rebuilds the dropped middle frames of the benchmark's quality set
(:data:`vsrife.benchmark.TRIPLETS`: natural footage, animation, titles, end credits, a face, a phone clip), and
the tables show, per clip, the mean PSNR difference to ``fp32`` (the original's result) against the true frames
in dB — the fast paths are held to losing no more than 0.05 dB on any clip — and the mean PSNR against
``fp32``'s own frames, which says how close a variant stays to the reference whichever way the truth moves.
Variants with 8-bit activations run only where the CPU's int8 convolutions take them exactly
(:func:`~vsrife.arch.int8.activation_top`); elsewhere they are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from . import cli
from .arch import int8
from .benchmark import quality
from .errors import RifeError
from .inference import Interpolator
from .weights import load_network


@dataclass(frozen=True)
class Variant:
    """One way to build the int8 path."""

    description: str
    top: int  # the activations' largest code: 255 (8 bits) or 127 (7 bits)
    blocks: tuple[int, ...] | None = None  # the blocks whose bodies run in int8 (None: all)


VARIANTS = {
    "8bit": Variant("the int8 path on CPUs with VNNI or AMX: 8-bit activations", 255),
    "7bit": Variant("the int8 path on CPUs without VNNI: 7-bit activations", 127),
    "8bit-blocks012": Variant("8-bit, block 3's body (the finest) left float32", 255, blocks=(0, 1, 2)),
    "8bit-blocks01": Variant("8-bit, only the two coarsest blocks' bodies in int8", 255, blocks=(0, 1)),
    "7bit-blocks012": Variant("7-bit, block 3's body left float32", 127, blocks=(0, 1, 2)),
}
DEFAULT_VARIANTS = ["8bit", "7bit", "8bit-blocks012", "8bit-blocks01"]


def interpolator(network: nn.Module, variant: Variant) -> Interpolator:
    """The int8 path of ``network`` as ``variant`` builds it (on a copy: ``network`` stays float32)."""
    path = Interpolator(network, device="cpu", precision="fast32")
    int8.quantize_network(path.network, top=variant.top, blocks=variant.blocks)
    return path


def study(model: str, names: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """``{clip: {variant: {"difference_db", "vs_fp32_psnr"}}}`` for the variants this CPU computes exactly:
    the PSNR difference to fp32's against the true frames, and the PSNR against fp32's frames."""
    network = load_network(model)
    if next(int8.bodies(network), None) is None:
        raise RifeError(f"model {model} has no int8 path (its network has no blocks with bodies to quantize)")
    runnable = [n for n in names if VARIANTS[n].top <= int8.activation_top()]
    if not runnable:
        raise RifeError("this CPU's int8 convolutions overflow with 8-bit activations: ask for 7-bit variants")
    for name in sorted(set(names) - set(runnable)):
        print(f"skipped {name}: this CPU's int8 convolutions overflow with 8-bit activations", file=sys.stderr)
    paths = {"fp32": Interpolator(network, device="cpu", precision="fp32")}
    paths.update({name: interpolator(network, VARIANTS[name]) for name in runnable})
    results = quality(paths, real_weights=True)
    keys = ("difference_db", "vs_fp32_psnr")
    return {clip: {n: {k: v[n][k] for k in keys} for n in runnable} for clip, v in results.items()}


def print_table(model: str, results: dict[str, dict[str, dict[str, float]]]) -> None:
    clips = list(results)
    variants = list(next(iter(results.values())))
    header = f"{'variant':<18} " + " ".join(f"{clip.split('.')[0][:12]:>12}" for clip in clips)
    for key, title, summary in (
        ("difference_db", "PSNR difference to fp32's against the true frames (dB)", ("worst", min)),
        ("vs_fp32_psnr", "PSNR against fp32's frames (dB): how close the path stays to the reference", ("least", min)),
    ):
        print(f"model {model}: {title}, mean over each clip's triplets")
        print(f"{header} {summary[0]:>8}")
        for name in variants:
            cells = [results[clip][name][key] for clip in clips]
            sign = "+" if key == "difference_db" else ""
            print(f"{name:<18} " + " ".join(f"{c:>{sign}12.3f}" for c in cells) + f" {summary[1](cells):>{sign}8.3f}")
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
