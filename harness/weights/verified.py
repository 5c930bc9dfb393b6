"""What ``harness weights ls/verify`` says about a file: missing, present, verified, mismatch.

Digests are remembered in a :class:`~harness.hashing.StatHashCache`, so ``ls`` can say "verified"
without re-hashing large files. Loading never trusts it: ``resolve_weights`` hashes every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from harness.hashing import StatHashCache, git_blob_sha1
from harness.weights.layout import entry_path, weights_dir
from harness.weights.schema import WeightsEntry
from harness.weights.user_index import pinned_sha256

HASH_CACHE_NAME = "sha256-cache.json"

State = Literal["missing", "present", "verified", "unpinned", "mismatch"]


def _cache() -> StatHashCache:
    return StatHashCache(weights_dir() / HASH_CACHE_NAME)


def remember_verified(path: Path, sha: str) -> None:
    """Record that ``path`` (at its current stat stamp) hashed to ``sha``."""
    cache = _cache()
    cache.put(path, sha)
    cache.save()


def status(entry: WeightsEntry, *, verify: bool = False) -> tuple[State, str | None]:
    """(state, sha256) of an entry's file.

    Without ``verify`` nothing is hashed: a file counts as verified only if an earlier hash of the
    same file (unchanged stat stamp) matched its pinned sha256. With ``verify`` it is hashed, and
    the publisher's git blob SHA-1 (if the entry has one) is checked too.
    """
    path = entry_path(entry)
    if not path.is_file():
        return "missing", None
    cache = _cache()
    pinned = pinned_sha256(entry)
    if not verify:
        sha = cache.get(path)
        return ("verified" if sha is not None and sha == pinned else "present"), sha
    sha = cache.hash(path, trust=False)
    cache.save()
    if entry.git_blob_sha1 and git_blob_sha1(path) != entry.git_blob_sha1:
        return "mismatch", sha
    if pinned is None:
        return ("verified" if entry.git_blob_sha1 else "unpinned"), sha
    return ("verified" if sha == pinned else "mismatch"), sha
