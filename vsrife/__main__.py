"""Command line: ``python -m vsrife models list | download NAME... | import PATH... | verify [NAME...] | path NAME``
and ``python -m vsrife precision [--measure]``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import cli, weights
from .errors import RifeError, WeightsMissingError
from .fetch import TIMEOUT_ENV


def _list(args: argparse.Namespace) -> int:
    if args.json:
        print(weights.dumps_manifest())
        return 0
    print(f"weight store: {weights.model_dir()}")
    print(f"{'model':<12} {'status':<9} {'params':>7} {'pad':>4} {'timestep':>8} {'ensemble':>8}  source")
    for entry, status in weights.iter_status():
        info = weights.describe(entry)
        source = entry.files[0].source.split("#")[0]
        print(
            f"{entry.name:<12} {status:<9} {info['params'] / 1e6:>6.2f}M {info['pad_multiple']:>4} "
            f"{'yes' if info['timestep'] else 'no':>8} {'yes' if info['ensemble'] else 'no':>8}  {source}"
        )
    return 0


def _download(args: argparse.Namespace) -> int:
    if args.timeout is not None:
        os.environ[TIMEOUT_ENV] = str(args.timeout)
    names = list(weights.default_manifest().entries) if args.all else args.names
    if not names:
        raise RifeError("name at least one model, or pass --all")
    failed = 0
    for name in names:
        try:
            for path in weights.download(name, mirror=args.mirror, force=args.force):
                print(path)
        except RifeError as exc:
            if not args.all:
                raise
            print(f"{name}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _verify(args: argparse.Namespace) -> int:
    manifest = weights.default_manifest()
    names = args.names or [e.name for e, status in weights.iter_status() if status != "missing"]
    bad = 0
    for name in names:
        entry = manifest.get(name)
        try:
            state = weights.state_dict_for(entry)
            weights.check_architecture(entry.spec, state, f"weights of model {name}")
            pinned = all(wf.pinned for wf in entry.files)
            print(f"{name}: ok ({'published' if pinned else 'recorded'} SHA-256, keys and shapes match {entry.arch})")
        except RifeError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def _import(args: argparse.Namespace) -> int:
    from .importer import import_paths

    failed = 0
    for outcome in import_paths([Path(p) for p in args.paths], model=args.model):
        if outcome.error:
            print(f"{outcome.source}: {outcome.error}", file=sys.stderr)
            failed += 1
        else:
            print(f"{outcome.model}: {outcome.target}")
    return 1 if failed else 0


def _path(args: argparse.Namespace) -> int:
    entry = weights.default_manifest().get(args.name)
    paths = [weights.file_path(entry, wf) for wf in entry.files]
    for path in paths:
        print(path)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise WeightsMissingError(
            f"model {args.name} is not downloaded ({', '.join(map(str, missing))} does not exist): "
            f"python -m vsrife models download {args.name}"
        )
    return 0


def _precision(args: argparse.Namespace) -> int:
    from . import gptq, precisions  # import torch: only for this command
    from .weights import load_network

    choice = precisions.choose(force_measure=args.measure)
    print(f"default CPU path: {choice.precision}")
    print(f"  {choice.describe()}")
    for model in gptq.SHIPPED:  # the models with a path of their own here
        try:
            network = load_network(model)
        except RifeError:  # not downloaded: nothing to say about it
            continue
        path, why = choice.path_for(network)
        if path != choice.precision:
            print(f"model {model}: {path}, {why}")
    print(f"  cached in {precisions.cache_path()}")
    if choice.provisional:
        print("  other programs were busy: run `python -m vsrife precision --measure` on an idle machine")
    return 0


NAMES_HELP = "model names as `models list` shows them, separated by spaces (e.g. 3.9 4.26)"


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m vsrife", "RIFE for VapourSynth: manage model weights and see the CPU path.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    models = cli.subcommand(sub, "models", "list, download, verify and locate model weights")
    msub = models.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = cli.subcommand(msub, "list", "known models and whether their weights are here and intact")
    p.add_argument("--json", action="store_true", help="machine-readable output (the model table of docs/design.md)")
    p.set_defaults(func=_list)

    p = cli.subcommand(msub, "download", "fetch weights, check their SHA-256, then move them into the store")
    p.add_argument("names", nargs="*", metavar="NAME", help=NAMES_HELP)
    p.add_argument("--all", action="store_true", help="every model in the manifest")
    p.add_argument("--force", action="store_true", help="download again even if a good copy exists")
    p.add_argument(
        "--mirror",
        help=f"fetch URL-hosted files from this base URL, file:// URL or folder instead (also ${weights.MIRROR_ENV})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help=f"how long a silent server may keep a download waiting (also ${TIMEOUT_ENV}; default 60)",
    )
    p.set_defaults(func=_download)

    p = cli.subcommand(msub, "verify", "check hashes and architecture of downloaded weights")
    p.add_argument("names", nargs="*", metavar="NAME", help=f"{NAMES_HELP}; none: every downloaded model")
    p.set_defaults(func=_verify)

    p = cli.subcommand(
        msub, "import", "check weight files you already have (e.g. vs-rife's models folder) and add them to the store"
    )
    p.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="weight files, or folders of them; vs-rife's names (flownet_v4.22.pkl) say which model each holds",
    )  # fmt: skip
    p.add_argument("--model", metavar="NAME", help="the model a single file holds, when its name does not say")
    p.set_defaults(func=_import)

    p = cli.subcommand(msub, "path", "print where a model's files are (exit status 2 if they are not there)")
    p.add_argument("name", metavar="NAME", help="a model name as `models list` shows it")
    p.set_defaults(func=_path)

    p = cli.subcommand(sub, "precision", "the CPU path the filter runs by default here, and the measurement behind it")
    p.add_argument(
        "--measure",
        action="store_true",
        help="measure again now (a few seconds; best on an idle machine) and keep the new verdict",
    )
    p.set_defaults(func=_precision)
    return parser


FIRST_STEPS = """\
next steps:
  python -m vsrife models list           which models exist and which are downloaded
  python -m vsrife models download 3.9   fetch the default model's weights (verified)
  python -m vsrife models download --all every model (what `python -m vsrife` alone did in upstream vs-rife)
  python -m vsrife models import DIR     weights you already have, e.g. vs-rife's vsrife/models folder
  python -m vsrife precision             which CPU path the filter runs here by default, and why
  then, in a VapourSynth script:         clip = core.rife.RIFE(clip, multi=2)
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `python -m vsrife` alone: what it can do and what to do first
        parser.print_help()
        print("\n" + FIRST_STEPS, end="")
        return 0
    try:
        return args.func(args)
    except RifeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
