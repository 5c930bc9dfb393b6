"""Which weights a method knows (its manifest plus user entries) and which file a restorer loads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.checkpoints import ChecksumMismatchError, verify_git_blob_sha1, verify_sha256
from harness.errors import HarnessError, MissingFileError, UnknownNameError
from harness.hashing import git_blob_sha1, sha256_file
from harness.weights.layout import entry_path, manifest_path, method_class
from harness.weights.schema import WeightsEntry, parse_entries, read_yaml
from harness.weights.user_index import pinned_sha256, user_entries


@dataclass(frozen=True)
class ResolvedWeights:
    """The weights file a restorer should load, its sha256 and the manifest entry (if known)."""

    path: Path
    sha256: str
    entry: WeightsEntry | None


def manifest_entries(method: str) -> list[WeightsEntry]:
    """The entries of a method's shipped manifest (empty when the method needs no weights)."""
    path = manifest_path(method_class(method))
    if not path.is_file():
        return []
    entries = parse_entries(read_yaml(path), path)
    for entry in entries:
        if entry.method != method:
            raise HarnessError(f"{path}: entry {entry.name!r} names method {entry.method!r}")
    return entries


def known_entries(method: str) -> list[WeightsEntry]:
    """Shipped manifest entries, then user-added ones, for one method."""
    return manifest_entries(method) + user_entries(method)


def check_variant(entry: WeightsEntry, method: str, variant: str, what: str) -> None:
    """Raise unless ``entry`` holds weights of ``method``/``variant``; ``what`` names the file."""
    if entry.method != method or entry.variant != variant:
        raise HarnessError(
            f"{what} is weights {entry.name!r} for {entry.method} variant {entry.variant!r}, "
            f"not for {method} variant {variant!r}",
            hint=f"use --variant {entry.variant}" if entry.method == method else None,
        )


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
    pinned = pinned_sha256(entry)
    note = (
        "none is published; `harness weights add` records the sha256 of the file you add, and "
        "every later load checks it"
    )
    if entry.git_blob_sha1:
        note += (
            f"; the publisher's git blob SHA-1 is {entry.git_blob_sha1} (`git hash-object FILE` "
            "prints it), checked when the file is added and every time it is loaded"
        )
    err = MissingFileError(
        f"weights {entry.name!r} ({entry.method} variant {entry.variant})",
        str(path),
        sha256=f"{pinned}{entry.origin_note}" if pinned else None,
        source=entry.source,
        size=entry.size,
        sha256_note=note,
    )
    if not entry.shipped:
        err.hint = (
            f"download it, then put it at {path} "
            f"(or run: harness weights add {entry.method} DOWNLOADED_FILE --variant {entry.variant})"
        )
    return err


def resolve_weights(method: str, variant: str, weights: str | Path | None) -> ResolvedWeights:
    """Find and verify the weights file for ``method``/``variant``.

    ``weights`` is None (the variant's default entry), an entry name, or a file path (its sha256 is
    looked up among the known entries, then its git blob SHA-1 among this method's). A pinned
    sha256 and a publisher's git blob SHA-1 are always checked.
    """
    entries = known_entries(method)
    if weights is None:
        entry = _default_entry(method, variant, entries)
    else:
        by_name = {e.name: e for e in entries}
        if isinstance(weights, str) and weights in by_name:
            entry = by_name[weights]
            check_variant(entry, method, variant, f"{weights!r}")
        else:
            path = Path(weights).expanduser()
            if not path.is_file():
                if isinstance(weights, str) and "/" not in weights and not path.suffix:
                    raise UnknownNameError(f"{method} weights", weights, by_name)
                raise MissingFileError(f"weights file for {method}", str(path))
            sha = sha256_file(path)
            entry = entry_by_hash(sha, method) or entry_by_git_blob(path, method)
            if entry is not None:
                check_variant(entry, method, variant, str(path))
            return ResolvedWeights(path=path.resolve(), sha256=sha, entry=entry)
    path = entry_path(entry)
    if not path.is_file():
        raise _missing(entry, path)
    return ResolvedWeights(path=path, sha256=verify_entry(entry, path), entry=entry)


def verify_entry(entry: WeightsEntry, path: Path) -> str:
    """The file's sha256, checked against the entry's pin; a mismatch says who vouches for it."""
    try:
        sha = verify_sha256(path, pinned_sha256(entry))
    except ChecksumMismatchError as exc:
        if entry.sha256 is None or entry.sha256_origin != "third-party":
            raise
        raise ChecksumMismatchError(
            f"{exc.message}{entry.origin_note}",
            hint="the file may be corrupt or another release, or the third-party record wrong: "
            "if it came from the source named in the manifest, register it under another name "
            f"(harness weights add {entry.method} FILE --name NAME) and pass --weights NAME",
        ) from None
    if entry.git_blob_sha1:
        verify_git_blob_sha1(path, entry.git_blob_sha1)
    return sha


def entry_by_git_blob(path: Path, method: str) -> WeightsEntry | None:
    """This method's known entry whose publisher's git blob SHA-1 is the file's (None if none;
    the file is hashed only when some entry declares one)."""
    entries = [e for e in known_entries(method) if e.git_blob_sha1]
    if not entries:
        return None
    blob = git_blob_sha1(path)
    return next((e for e in entries if e.git_blob_sha1 == blob), None)


def entry_by_hash(sha: str, method: str) -> WeightsEntry | None:
    """A known entry with this sha256 (published, or pinned by the user on first add): this
    method's first, then any other registered method's."""
    for entry in known_entries(method):
        if pinned_sha256(entry) == sha:
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
            if pinned_sha256(entry) == sha:
                return entry
    return None
