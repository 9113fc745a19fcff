"""``python -m training``: train the paper's networks, evaluate on the published benchmarks, build datasets
from your own videos, and export weights for the plugin. Run from the repository root; for several GPUs or
machines: ``torchrun --nnodes N --nproc_per_node G -m training train ...``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vsrife import cli
from vsrife.errors import RifeError

from . import config
from .data import DatasetError
from .evaluate import BENCHMARKS


def _train(args: argparse.Namespace) -> int:
    from .trainer import Trainer, load_checkpoint

    base = None
    if args.resume:
        base = load_checkpoint(args.resume)["config"]  # the resumed run's settings, flags may override
    cfg = config.resolve(args, base)
    if not cfg.data:
        raise DatasetError("--data DIR is required (a Vimeo90K-layout folder; see `make-dataset`)")
    Trainer(cfg, resume=args.resume).run()
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from vsrife.inference import Interpolator

    if args.blend:
        interpolator, name = None, "blend"
    elif args.model_path is None and args.model is None:
        raise DatasetError("give --model-path FILE (e.g. from `export`), --model NAME (a zoo model) or --blend")
    else:
        interpolator = Interpolator.from_pretrained(
            model=args.model, model_path=args.model_path, scale=args.scale, precision=args.precision
        )
        name = interpolator.spec.name if args.model_path is None else f"{args.model_path} ({interpolator.spec.name})"
    result = BENCHMARKS[args.benchmark](interpolator, Path(args.data), args.limit).run()
    print(json.dumps({"benchmark": args.benchmark, "model": name, **result}))
    return 0


def _make_dataset(args: argparse.Namespace) -> int:
    from .make_dataset import make_dataset

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise DatasetError(f"--size must be WIDTHxHEIGHT, e.g. 448x256, not {args.size!r}") from None
    summary = make_dataset(
        args.videos,
        args.out,
        args.holdout,
        args.septuplet,
        (width, height),
        args.stride,
        args.still,
        seed=args.seed,
        crops=args.crops,
        frames=args.max_frames,
    )
    print(json.dumps({"out": str(args.out), **vars(summary)}))
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import export

    arch = export(Path(args.checkpoint), Path(args.out))
    print(json.dumps({"out": str(args.out), "arch": arch}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m training", __doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = cli.subcommand(sub, "train", "train rife-paper / rife-paper-m (the paper's recipe by default)")
    config.add_arguments(p)
    p.add_argument("--resume", type=Path, help="a checkpoint file or run directory to continue from")
    p.set_defaults(func=_train)

    p = cli.subcommand(sub, "evaluate", "a published benchmark, scored as the original scripts do")
    p.add_argument("--benchmark", required=True, choices=list(BENCHMARKS), help="which benchmark")
    p.add_argument("--data", required=True, help="the benchmark's folder, laid out as it is distributed")
    p.add_argument(
        "--model-path", "--weights", metavar="FILE", help="a weight file (from `export`, or an official .pkl)"
    )
    p.add_argument("--model", help="a model name from `python -m vsrife models list` (or the arch of --model-path)")
    p.add_argument("--blend", action="store_true", help="score the 50/50 blend of the inputs (the baseline)")
    p.add_argument("--scale", type=float, default=1.0, help="flow resolution, as the filter's scale=")
    p.add_argument("--precision", default="fp32", help="fp32 (the reference), bf16, fp16 (CUDA)")
    p.add_argument("--limit", type=int, default=0, help="only the first N triplets (per sequence for hd; 0: all)")
    p.set_defaults(func=_evaluate)

    p = cli.subcommand(sub, "make-dataset", "a Vimeo-layout dataset from real videos")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files to cut into training samples")
    p.add_argument("--out", required=True, type=Path, help="folder to write the dataset to")
    p.add_argument("--holdout", nargs="*", default=[], metavar="VIDEO", help="videos whose samples go to the test list")
    p.add_argument("--septuplet", action="store_true", help="seven-frame samples (RIFEm) instead of triplets")
    p.add_argument("--size", default="448x256", help="crop size WxH (Vimeo90K's is 448x256)")
    p.add_argument("--stride", type=int, help="frames between sample starts (default: the sample length)")
    p.add_argument("--still", type=float, default=0.002, help="skip samples whose frames differ less than this")
    p.add_argument("--crops", type=int, default=1, help="random crop positions per sample (large videos)")
    p.add_argument("--max-frames", type=int, default=0, help="use only the first N frames of each video (0: all)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the crop positions")
    p.set_defaults(func=_make_dataset)

    p = cli.subcommand(sub, "export", "checkpoint -> weight file for the plugin (RIFE(model_path=...))")
    p.add_argument("checkpoint", help="a checkpoint.pt written by `train`")
    p.add_argument("--out", required=True, help="the weight file to write (.pkl)")
    p.set_defaults(func=_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DatasetError, RifeError, ValueError, FileNotFoundError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2


def one_line(exc: BaseException) -> str:
    """The error's own message. An exception from a data-loader worker process arrives re-raised with the
    worker's whole traceback in its message ("Caught DatasetError in DataLoader worker process 0. Original
    Traceback ..."): its last line is the message."""
    text = str(exc).strip()
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return text


if __name__ == "__main__":
    sys.exit(main())
