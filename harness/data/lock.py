"""Lock files: one line per data file (path, size, sha256, WxH) and a Merkle root over them.

Format of ``manifests/locks/<name>.lock`` (UTF-8, tab-separated, sorted by path)::

    # uir-harness lock v1
    # benchmark: <name>
    # files: <count>
    # merkle-root: <hex>
    <relative/posix/path>\t<size>\t<sha256>\t<W>x<H>   (or "-" for a non-image file)

Merkle root: leaves ``sha256(0x00 || "path\\tsize\\tsha256")`` in path order; inner nodes
``sha256(0x01 || left || right)``; an odd node is carried up unchanged; no files -> ``sha256(b"")``.
It depends only on names and bytes, so two labs with the same root scored the same files.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness.data.safety import walk_files
from harness.errors import HarnessError
from harness.hashing import StatHashCache
from harness.images import image_size
from harness.paths import default_cache_dir

LOCK_HEADER = "# uir-harness lock v1"
_LINE = re.compile(r"^(?P<path>[^\t]+)\t(?P<size>\d+)\t(?P<sha>[0-9a-f]{64})\t(?P<dims>\d+x\d+|-)$")


class LockError(HarnessError):
    """A lock file that cannot be read or contradicts itself."""


@dataclass(frozen=True, order=True)
class LockEntry:
    """One pinned file."""

    path: str
    size: int
    sha256: str
    dims: str = "-"

    def line(self) -> str:
        """The entry as a lock-file line."""
        return f"{self.path}\t{self.size}\t{self.sha256}\t{self.dims}"


def merkle_root(entries: Iterable[LockEntry]) -> str:
    """The Merkle root (hex) of ``entries`` taken in path order."""
    level = [
        hashlib.sha256(b"\x00" + f"{e.path}\t{e.size}\t{e.sha256}".encode()).digest()
        for e in sorted(entries, key=lambda e: e.path)
    ]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        nxt = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


@dataclass(frozen=True)
class Lock:
    """A parsed lock: its entries by path and its Merkle root."""

    name: str
    entries: dict[str, LockEntry]
    root: str

    @classmethod
    def from_entries(cls, name: str, entries: Iterable[LockEntry]) -> Lock:
        """Build a lock (and its root) from entries."""
        entries = sorted(entries)
        by_path = {e.path: e for e in entries}
        if len(by_path) != len(entries):
            raise LockError(f"lock {name}: a path is listed twice")
        return cls(name, by_path, merkle_root(entries))

    def text(self) -> str:
        """The lock file's text."""
        head = [
            LOCK_HEADER,
            f"# benchmark: {self.name}",
            f"# files: {len(self.entries)}",
            f"# merkle-root: {self.root}",
        ]
        return "\n".join(head + [e.line() for e in self.entries.values()]) + "\n"


def read_lock(path: Path) -> Lock:
    """Parse and self-check a lock file (every line, the file count and the Merkle root)."""
    from harness.data.manifest import safe_relative

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(f"{path}: cannot read lock ({exc})") from None
    if not lines or lines[0] != LOCK_HEADER:
        raise LockError(f"{path}: not a uir-harness lock (first line must be {LOCK_HEADER!r})")
    meta: dict[str, str] = {}
    entries: list[LockEntry] = []
    for number, line in enumerate(lines[1:], start=2):
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
            continue
        match = _LINE.match(line)
        if not match:
            raise LockError(f"{path}:{number}: malformed lock line {line!r}")
        try:
            safe_relative(match["path"], "lock path")
        except ValueError as exc:
            raise LockError(f"{path}:{number}: {exc}") from None
        entries.append(LockEntry(match["path"], int(match["size"]), match["sha"], match["dims"]))
    lock = Lock.from_entries(meta.get("benchmark", path.stem), entries)
    if meta.get("files") and int(meta["files"]) != len(entries):
        raise LockError(f"{path}: header says {meta['files']} files, found {len(entries)}")
    if meta.get("merkle-root") != lock.root:
        raise LockError(
            f"{path}: merkle-root in the header does not match the listed files",
            hint=f"the lock was edited by hand; re-create it with `harness data lock {lock.name}`",
        )
    return lock


def write_lock(lock: Lock, path: Path) -> None:
    """Write ``lock`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(lock.text(), encoding="utf-8")
    os.replace(tmp, path)


def image_dims(path: Path) -> str:
    """``WxH`` from the image header, or ``-`` for a file that is not a readable image."""
    size = image_size(path)
    return "-" if size is None else f"{size[1]}x{size[0]}"


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 2))


def hash_cache() -> StatHashCache:
    """The cache of file digests that speeds up ``harness data verify`` and ``harness data ls``."""
    return StatHashCache(default_cache_dir() / "file-hashes.json")


def hash_files(root: Path, rel_paths: list[str], *, use_cache: bool = True) -> dict[str, str]:
    """sha256 of each ``root/rel`` (thread-parallel, streaming).

    Results are always recorded in the cache (see :class:`harness.hashing.StatHashCache`);
    ``use_cache=False`` only stops cached values from being trusted, so every byte is read again.
    """
    cache = hash_cache()
    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        shas = list(pool.map(lambda rel: cache.hash(root / rel, trust=use_cache), rel_paths))
    cache.save()
    return dict(zip(rel_paths, shas, strict=True))


def compute_entries(root: Path, *, use_cache: bool = True) -> list[LockEntry]:
    """Lock entries for every regular, non-hidden file under ``root``."""
    rels = walk_files(root)
    shas = hash_files(root, rels, use_cache=use_cache)
    return [
        LockEntry(rel, (root / rel).stat().st_size, shas[rel], image_dims(root / rel))
        for rel in rels
    ]


def write_lock_for_dir(name: str, root: Path, lock_path: Path) -> Lock:
    """Compute the lock of the files under ``root`` and write it to ``lock_path``."""
    lock = Lock.from_entries(name, compute_entries(root, use_cache=False))
    write_lock(lock, lock_path)
    return lock


@dataclass
class VerifyReport:
    """What ``verify`` found: each missing, extra and changed file (with why)."""

    name: str
    root: Path
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every pinned file is present and identical, and nothing else is there."""
        return not (self.missing or self.extra or self.changed)

    def describe(self, limit: int = 20) -> str:
        """A human-readable account naming each problem file (up to ``limit`` per kind)."""
        if self.ok:
            return f"{self.name}: {self.checked} files verified under {self.root}"
        lines = [f"{self.name}: data under {self.root} does not match its lock"]
        for label, items in (
            ("missing", self.missing),
            ("extra (not in the lock)", self.extra),
            ("changed", [f"{p} ({why})" for p, why in self.changed]),
        ):
            for item in items[:limit]:
                lines.append(f"  {label}: {item}")
            if len(items) > limit:
                lines.append(f"  ... and {len(items) - limit} more {label}")
        return "\n".join(lines)


def verify_dir(
    lock: Lock, root: Path, *, use_cache: bool = True, hash_bytes: bool = True
) -> VerifyReport:
    """Check every file under ``root`` against ``lock`` (sizes first, then sha256 in parallel).

    ``hash_bytes=False`` compares only the file set and sizes: for a caller that hashes every byte
    it reads and compares it with the lock itself (the runner).
    """
    report = VerifyReport(lock.name, root)
    present = set(walk_files(root)) if root.is_dir() else set()
    report.missing = sorted(set(lock.entries) - present)
    report.extra = sorted(present - set(lock.entries))
    to_hash = []
    for rel in sorted(present & set(lock.entries)):
        size = (root / rel).stat().st_size
        expected = lock.entries[rel]
        if size != expected.size:
            report.changed.append((rel, f"size {size} != pinned {expected.size}"))
        else:
            to_hash.append(rel)
    shas = hash_files(root, to_hash, use_cache=use_cache) if hash_bytes else {}
    for rel, sha in shas.items():
        if sha != lock.entries[rel].sha256:
            report.changed.append((rel, f"sha256 {sha[:12]}... != pinned"))
    report.changed.sort()
    report.checked = len(present & set(lock.entries))
    return report
