"""``harness weights add``: check a checkpoint as loading would, copy it into the cache, record it."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from harness.checkpoints import ChecksumMismatchError
from harness.errors import HarnessError, MissingFileError, UnknownNameError
from harness.hashing import git_blob_sha1, sha256_file
from harness.weights.layout import entry_path, method_class
from harness.weights.resolve import check_variant, known_entries, manifest_entries
from harness.weights.schema import WeightsEntry
from harness.weights.user_index import pinned_sha256, record_entry, record_pin, user_entries
from harness.weights.verified import remember_verified

Outcome = Literal["shipped", "matched", "verified", "pinned", "added", "replaced", "unchanged"]
"""shipped: the file is a shipped entry's (nothing copied); matched: a pinned manifest entry's
(copied under its name); verified: a manifest entry's by the publisher's git blob SHA-1 (copied,
sha256 pinned); pinned: a manifest entry without sha256 (copied, sha256 pinned); added /
replaced: a user entry; unchanged: the same file was already recorded under that name."""


@dataclass(frozen=True)
class AddResult:
    """What :func:`add_weights` did: the entry, where its file is, and how it was recorded."""

    entry: WeightsEntry
    path: Path
    outcome: Outcome


def add_weights(
    method: str,
    source_file: str | Path,
    variant: str | None = None,
    name: str | None = None,
    *,
    replace: bool = False,
) -> AddResult:
    """Check a checkpoint with the method's ``inspect_weights``, copy it into the cache, record it.

    A file whose sha256 a manifest entry pins is stored as that entry; a file named like a manifest
    entry that pins no sha256 is stored there and its sha256 pinned in the user index (when the
    entry declares the publisher's git blob SHA-1, the file must have it, else it is refused with
    both digests; a file with that blob is that entry whatever its name); anything
    else becomes a user entry called ``name`` (default: the file's stem, made a plain name), stored as
    ``<name><suffix>``. A different file under an existing user entry name is refused unless
    ``replace``; the variant is the one the file holds (a different ``variant`` is refused).
    """
    cls = method_class(method)
    if not cls.loads_weights:
        raise HarnessError(
            f"method {method!r} loads no weights; there is nothing to add",
            hint="`harness ls methods` lists the methods and what they load",
        )
    source = Path(source_file).expanduser()
    if not source.is_file():
        raise MissingFileError("file to add", str(source))
    if variant is not None and variant not in cls.variants:
        raise UnknownNameError(f"{method} variant", variant, cls.variants)
    sha = sha256_file(source)
    held = cls.inspect_weights(source)
    if variant is not None and held is not None and held != variant:
        raise HarnessError(
            f"{source} holds {method} variant {held!r} weights, not variant {variant!r}",
            hint=f"add it with --variant {held}, or without --variant",
        )
    variant = variant or held
    shipped = manifest_entries(method)
    published = [e for e in shipped if e.git_blob_sha1]
    blob = git_blob_sha1(source) if published else None
    by_blob = next((e for e in published if e.git_blob_sha1 == blob), None)
    if by_blob is not None and by_blob.sha256 in (None, sha):
        if variant is not None:
            check_variant(by_blob, method, variant, str(source))
        if by_blob.shipped:
            return AddResult(by_blob, entry_path(by_blob), "shipped")
        outcome: Outcome = "matched" if by_blob.sha256 == sha else "verified"
        result = _store(source, sha, by_blob, outcome)
        if by_blob.sha256 is None and pinned_sha256(by_blob) != sha:
            record_pin(by_blob, sha)
        return result
    claimed = next((e for e in published if source.name == e.file or name == e.name), None)
    if claimed is not None:
        raise ChecksumMismatchError(
            f"{source}: git blob SHA-1 {blob} does not match the publisher's "
            f"{claimed.git_blob_sha1} for {method} weights {claimed.name!r} ({claimed.file})",
            hint="the file is corrupt, modified, or a different release; `git hash-object FILE` "
            f"must print {claimed.git_blob_sha1}: fetch it again from {claimed.source}",
        )
    known = next((e for e in shipped if e.sha256 == sha), None)
    if known is not None:
        if variant is not None:
            check_variant(known, method, variant, str(source))
        if known.shipped:
            return AddResult(known, entry_path(known), "shipped")
        return _store(source, sha, known, "matched")
    unpinned = next(
        (
            e
            for e in shipped
            if e.sha256 is None
            and not e.shipped
            and e.file == source.name
            and variant in (None, e.variant)
            and name in (None, e.name)
            and pinned_sha256(e) in (None, sha)
        ),
        None,
    )
    if unpinned is not None:
        result = _store(source, sha, unpinned, "pinned")
        record_pin(unpinned, sha)
        return result
    if (variant or cls.default_variant) in cls.routes:  # a routed variant holds no single file
        singles = [v for v in cls.variants if v not in cls.routes]
        raise HarnessError(
            f"{source} fits several {method} variants ({', '.join(singles)}); say which",
            hint=f"add it with --variant {' or --variant '.join(singles)}",
        )
    return _add_user_entry(
        source,
        sha,
        method,
        variant or cls.default_variant,
        name or _default_name(source),
        replace,
        shipped,
    )


def _default_name(source: Path) -> str:
    """The file's stem made a plain entry name (``model-300 (1).pt`` -> ``model-300-1``)."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "-", source.stem).strip("-")
    return re.sub(r"^[^A-Za-z0-9]+", "", name) or "weights"


def _add_user_entry(
    source: Path,
    sha: str,
    method: str,
    variant: str,
    name: str,
    replace: bool,
    shipped: list[WeightsEntry],
) -> AddResult:
    try:
        entry = WeightsEntry(
            name=name,
            method=method,
            variant=variant,
            file=f"{name}{source.suffix}",
            source=f"added by the user from {source.resolve()}",
            size=source.stat().st_size,
            sha256=sha,
            license="unknown (added by the user)",
            notes="recorded by `harness weights add`",
        )
    except ValidationError as exc:
        reason = "; ".join(err["msg"] for err in exc.errors())
        raise HarnessError(
            f"cannot record weights named {name!r}: {reason}",
            hint="choose another --name (letters, digits, '.', '_', '+' and '-')",
        ) from None
    if any(e.name == name for e in shipped):
        raise HarnessError(
            f"{method} already ships weights named {name!r} with another sha256",
            hint="choose another --name",
        )
    existing = next((e for e in user_entries(method) if e.name == name), None)
    if existing is not None:
        if existing.sha256 == sha and existing.variant == variant:
            return _store(source, sha, existing, "unchanged")
        if not replace:
            raise HarnessError(
                f"{method} weights {name!r} already exist (variant {existing.variant}, sha256 "
                f"{existing.sha256}); not replacing them with {source}",
                hint="choose another --name, or pass --replace to replace them",
            )
    target = entry_path(entry)
    for other in known_entries(method):
        if other.name != name and not other.shipped and entry_path(other) == target:
            raise HarnessError(
                f"{target} is already the file of {method} weights {other.name!r}",
                hint="choose another --name",
            )
    old_path = entry_path(existing) if existing is not None else None
    if target.is_file() and target != old_path and not replace and sha256_file(target) != sha:
        raise HarnessError(
            f"{target} already exists and is not {source}",
            hint="move it away, or pass --replace to overwrite it",
        )
    result = _store(source, sha, entry, "added" if existing is None else "replaced")
    record_entry(entry)
    if old_path is not None and old_path != target:
        old_path.unlink(missing_ok=True)
    return result


def _store(source: Path, sha: str, entry: WeightsEntry, outcome: Outcome) -> AddResult:
    """Copy ``source`` to the entry's file (atomically, checking the copy's sha256)."""
    target = entry_path(entry)
    if not (target.is_file() and target.samefile(source)):
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            shutil.copyfile(source, partial)
            if sha256_file(partial) != sha:
                raise HarnessError(
                    f"{source} changed while it was being added", hint="add it again"
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    remember_verified(target, sha)
    return AddResult(entry, target, outcome)
