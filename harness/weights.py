"""Weights manifests, the weights cache, and resolving which file a restorer loads.

Each method may ship ``weights.yaml`` next to its restorer module (``baselines/<method>/``)::

    weights:
      - name: diffuir-t-universal
        method: diffuir
        variant: t
        file: model-300.pt            # a bare name: looked up in <cache>/weights/diffuir/
        source: https://...           # where a user gets it
        size: 12345678                # bytes, optional
        sha256: null                  # pinned when known
        license: MIT
        default: true
        notes: EMA weights of the universal model.

``file`` is either a bare file name, looked up in the weights cache (``<cache>/weights/<method>/``,
env ``HARNESS_WEIGHTS`` overrides ``<cache>/weights``), or a repository-relative path of a file
shipped in the repository (e.g. ``baselines/diffuir/weights/tiny.safetensors``). Manifests are
untrusted: paths that escape their root are refused. Files a user adds with ``harness weights add``
are recorded in a user-level index, ``<weights dir>/index.yaml``, never in the repository.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.checkpoints import verify_sha256
from harness.data.safety import safe_relative_path
from harness.errors import HarnessError, MissingFileError, UnknownNameError
from harness.hashing import sha256_file
from harness.paths import default_cache_dir

MANIFEST_NAME = "weights.yaml"
USER_INDEX_NAME = "index.yaml"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class WeightsEntry(BaseModel):
    """One weights file a method can load."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    method: str = Field(min_length=1)
    variant: str = Field(min_length=1)
    file: str = Field(min_length=1)
    source: str
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = None
    license: str
    default: bool = False
    notes: str = ""
    training: dict[str, Any] | None = None

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _SHA256.match(value):
            raise ValueError("sha256 must be 64 hexadecimal characters")
        return value

    @field_validator("file")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        safe_relative_path(value, "weights file (a bare name or a repository-relative path)")
        return value

    @property
    def shipped(self) -> bool:
        """True when the file ships in the repository (a path), False for a cache file name."""
        return "/" in self.file


@dataclass(frozen=True)
class ResolvedWeights:
    """The weights file a restorer should load, its sha256 and the manifest entry (if known)."""

    path: Path
    sha256: str
    entry: WeightsEntry | None


def weights_dir() -> Path:
    """The weights cache: env ``HARNESS_WEIGHTS``, else ``<cache dir>/weights``."""
    env = os.environ.get("HARNESS_WEIGHTS")
    return Path(env).expanduser() if env else default_cache_dir() / "weights"


def _method_class(method: str) -> type:
    from harness import registry

    return registry.method_class(method)


def manifest_path(cls: type) -> Path:
    """Where the weights manifest of a Restorer class lives (next to its module)."""
    return Path(inspect.getfile(cls)).resolve().parent / MANIFEST_NAME


def _package_root(cls: type) -> Path:
    """The folder holding the class's top-level package (the repository root for baselines)."""
    module_dir = Path(inspect.getfile(cls)).resolve().parent
    depth = len(cls.__module__.split(".")) - 1
    return module_dir.parents[depth - 1] if depth >= 1 else module_dir


def _parse_entries(raw: Any, origin: Path) -> list[WeightsEntry]:
    if raw is None:
        return []
    if isinstance(raw, dict):
        raw = raw.get("weights", [])
    if not isinstance(raw, list):
        raise HarnessError(f"{origin}: expected a list of weights entries under 'weights:'")
    entries = []
    for i, item in enumerate(raw):
        try:
            entries.append(WeightsEntry.model_validate(item))
        except ValidationError as exc:
            raise HarnessError(f"{origin}: weights entry {i} is invalid:\n{exc}") from None
    return entries


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: not valid YAML ({exc})") from None


def manifest_entries(method: str) -> list[WeightsEntry]:
    """The entries of a method's shipped manifest (empty when the method needs no weights)."""
    cls = _method_class(method)
    path = manifest_path(cls)
    if not path.is_file():
        return []
    entries = _parse_entries(_read_yaml(path), path)
    for entry in entries:
        if entry.method != method:
            raise HarnessError(f"{path}: entry {entry.name!r} names method {entry.method!r}")
    return entries


def user_index_path() -> Path:
    """The user-level index of weights added with ``harness weights add``."""
    return weights_dir() / USER_INDEX_NAME


def user_entries(method: str | None = None) -> list[WeightsEntry]:
    """Entries the user added (all methods, or one)."""
    entries = _parse_entries(_read_user_index().get("weights", []), user_index_path())
    return [e for e in entries if method is None or e.method == method]


def _read_user_index() -> dict[str, Any]:
    path = user_index_path()
    if not path.is_file():
        return {}
    data = _read_yaml(path) or {}
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping with 'weights:' and 'pins:'")
    return data


def known_entries(method: str) -> list[WeightsEntry]:
    """Shipped manifest entries, then user-added ones, for one method."""
    return manifest_entries(method) + user_entries(method)


def entry_path(entry: WeightsEntry) -> Path:
    """Where the file of ``entry`` is (or should be put)."""
    if entry.shipped:
        root = _package_root(_method_class(entry.method)).resolve()
        path = (root / entry.file).resolve()
        if not path.is_relative_to(root):
            raise HarnessError(f"weights entry {entry.name!r}: path {entry.file!r} escapes {root}")
        return path
    base = (weights_dir() / entry.method).resolve()
    path = (base / entry.file).resolve()
    if not path.is_relative_to(base):
        raise HarnessError(f"weights entry {entry.name!r}: file {entry.file!r} escapes {base}")
    return path


def _default_entry(method: str, variant: str, entries: list[WeightsEntry]) -> WeightsEntry:
    for_variant = [e for e in entries if e.variant == variant]
    defaults = [e for e in for_variant if e.default]
    if defaults:
        return defaults[0]
    if len(for_variant) == 1:
        return for_variant[0]
    if not for_variant:
        raise HarnessError(
            f"no weights are known for {method} variant {variant!r}",
            hint=f"pass a checkpoint path, or register one: harness weights add {method} PATH "
            f"--variant {variant}",
        )
    names = ", ".join(e.name for e in for_variant)
    raise HarnessError(
        f"several weights exist for {method} variant {variant!r} and none is the default: {names}",
        hint="pick one by name with --weights NAME",
    )


def _missing(entry: WeightsEntry, path: Path) -> MissingFileError:
    err = MissingFileError(
        f"weights {entry.name!r} ({entry.method} variant {entry.variant})",
        str(path),
        sha256=entry.sha256,
        source=entry.source,
    )
    if not entry.shipped:
        err.hint = (
            f"download it, then put it at {path} "
            f"(or run: harness weights add {entry.method} DOWNLOADED_FILE --variant {entry.variant})"
        )
    return err


def _check_variant(entry: WeightsEntry, method: str, variant: str, what: str) -> None:
    if entry.method != method or entry.variant != variant:
        raise HarnessError(
            f"{what} is weights {entry.name!r} for {entry.method} variant {entry.variant!r}, "
            f"not for {method} variant {variant!r}",
            hint=f"use --variant {entry.variant}" if entry.method == method else None,
        )


def resolve_weights(method: str, variant: str, weights: str | Path | None) -> ResolvedWeights:
    """Find and verify the weights file for ``method``/``variant``.

    ``weights`` is None (the variant's default entry), an entry name, or a file path (its sha256 is
    looked up among the known entries). A pinned sha256 is always checked.
    """
    entries = known_entries(method)
    if weights is None:
        entry = _default_entry(method, variant, entries)
    else:
        by_name = {e.name: e for e in entries}
        if isinstance(weights, str) and weights in by_name:
            entry = by_name[weights]
            _check_variant(entry, method, variant, f"{weights!r}")
        else:
            path = Path(weights).expanduser()
            if not path.is_file():
                if isinstance(weights, str) and "/" not in weights and not path.suffix:
                    raise UnknownNameError(f"{method} weights", weights, by_name)
                raise MissingFileError(f"weights file for {method}", str(path))
            sha = sha256_file(path)
            entry = _entry_by_hash(sha, method)
            if entry is not None:
                _check_variant(entry, method, variant, str(path))
            return ResolvedWeights(path=path.resolve(), sha256=sha, entry=entry)
    path = entry_path(entry)
    if not path.is_file():
        raise _missing(entry, path)
    sha = verify_sha256(path, pinned_sha256(entry))
    return ResolvedWeights(path=path, sha256=sha, entry=entry)


def pinned_sha256(entry: WeightsEntry) -> str | None:
    """The entry's sha256, or, when the manifest pins none, the one the user pinned for it.

    That second case is "trust on first pin": ``harness weights add`` of a file that the manifest
    names without a checksum records its sha256 under ``pins:`` in the user index, and later loads
    are checked against it.
    """
    if entry.sha256 is not None:
        return entry.sha256
    return _read_user_index().get("pins", {}).get(f"{entry.method}:{entry.name}")


def _entry_by_hash(sha: str, method: str) -> WeightsEntry | None:
    """A known entry with this sha256: this method's first, then any other registered method's."""
    for entry in known_entries(method):
        if entry.sha256 == sha:
            return entry
    from harness import registry

    for other in registry.method_names():
        if other == method:
            continue
        try:
            candidates = known_entries(other)
        except HarnessError:
            continue
        for entry in candidates:
            if entry.sha256 == sha:
                return entry
    return None


# --- verification memo: lets ``weights ls`` say "verified" without re-hashing large files ---


def _memo_path() -> Path:
    return weights_dir() / "verified.json"


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def remember_verified(path: Path, sha: str) -> None:
    """Record that ``path`` (at its current size and mtime) hashed to ``sha``."""
    memo = _read_memo()
    memo[_stamp(path)] = sha
    _memo_path().parent.mkdir(parents=True, exist_ok=True)
    _memo_path().write_text(json.dumps(memo, indent=1, sort_keys=True), encoding="utf-8")


def _read_memo() -> dict[str, str]:
    try:
        data = json.loads(_memo_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def status(entry: WeightsEntry, *, verify: bool = False) -> tuple[str, str | None]:
    """(state, sha256): state is missing, present, verified, unpinned or mismatch.

    Without ``verify`` nothing is hashed: a file counts as verified only if an earlier verification
    of the same file (same size and mtime) matched its pinned sha256.
    """
    path = entry_path(entry)
    if not path.is_file():
        return "missing", None
    if not verify:
        sha = _read_memo().get(_stamp(path))
        if sha is not None and sha == pinned_sha256(entry):
            return "verified", sha
        return "present", sha
    sha = sha256_file(path)
    remember_verified(path, sha)
    pinned = pinned_sha256(entry)
    if pinned is None:
        return "unpinned", sha
    return ("verified" if sha == pinned else "mismatch"), sha


def add_weights(
    method: str, source_file: str | Path, variant: str | None = None, name: str | None = None
) -> tuple[WeightsEntry, Path, bool]:
    """Copy a file into the weights cache and record it; return (entry, path, matched_known).

    When the file's sha256 equals a shipped entry of the method, it is stored under that entry's
    file name and nothing new is recorded; otherwise a user entry (with its sha256) is added to the
    user index.
    """
    cls = _method_class(method)
    source_file = Path(source_file).expanduser()
    if not source_file.is_file():
        raise MissingFileError("file to add", str(source_file))
    variant = variant or cls.default_variant
    if variant not in cls.variants:
        raise UnknownNameError(f"{method} variant", variant, cls.variants)
    sha = sha256_file(source_file)
    shipped_entries = manifest_entries(method)
    known = next((e for e in shipped_entries if e.sha256 == sha), None)
    unpinned = next(
        (
            e
            for e in shipped_entries
            if e.sha256 is None
            and not e.shipped
            and e.file == source_file.name
            and e.variant == variant
            and pinned_sha256(e) in (None, sha)
        ),
        None,
    )
    if known is None and unpinned is not None:
        target = entry_path(unpinned)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source_file.resolve() != target.resolve():
            shutil.copyfile(source_file, target)
        remember_verified(target, sha)
        _write_user_index(pin=(unpinned, sha))
        return unpinned, target, True
    if known is not None:
        _check_variant(known, method, variant, str(source_file))
        if known.shipped:
            return known, entry_path(known), True
        target = entry_path(known)
        entry = known
    else:
        entry = WeightsEntry(
            name=name or source_file.stem,
            method=method,
            variant=variant,
            file=source_file.name,
            source=f"added by the user from {source_file.resolve()}",
            size=source_file.stat().st_size,
            sha256=sha,
            license="unknown (added by the user)",
            default=False,
            notes="recorded by `harness weights add`",
        )
        if any(e.name == entry.name for e in manifest_entries(method)):
            raise HarnessError(
                f"{method} already ships weights named {entry.name!r} with another sha256",
                hint="choose another --name",
            )
        target = entry_path(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    if source_file.resolve() != target.resolve():
        shutil.copyfile(source_file, target)
    remember_verified(target, sha)
    if known is None:
        _record_user_entry(entry)
    return entry, target, known is not None


def _record_user_entry(entry: WeightsEntry) -> None:
    _write_user_index(entry=entry)


def _write_user_index(
    entry: WeightsEntry | None = None, pin: tuple[WeightsEntry, str] | None = None
) -> None:
    """Add (or replace) a user entry and/or a pin in the user index."""
    import yaml

    data = _read_user_index()
    entries = user_entries()
    if entry is not None:
        same = [e for e in entries if e.method == entry.method and e.name == entry.name]
        entries = [e for e in entries if e not in same] + [entry]
    pins = dict(data.get("pins", {}))
    if pin is not None:
        pins[f"{pin[0].method}:{pin[0].name}"] = pin[1]
    out = {"weights": [e.model_dump(exclude_none=True) for e in entries], "pins": pins}
    path = user_index_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(out, sort_keys=False), encoding="utf-8")
