"""The one home of file hashing: streaming sha256, git blob SHA-1 and a stat-keyed cache of
file digests.

The cache only saves time (``harness data verify``, ``harness weights ls``); nothing that labels a
number as verified may trust it. It is keyed on more than size and mtime (device, inode and
ctime_ns too), so a file rewritten in place, renamed over or copied with ``cp -p`` misses it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """sha256 of ``data`` as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = CHUNK) -> str:
    """Streaming sha256 of a file, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def git_blob_sha1(path: str | Path, chunk: int = CHUNK) -> str:
    """The file's git blob SHA-1 (what ``git hash-object`` prints): sha1 of ``blob <size>\\0`` +
    content; a publisher-side checksum for files committed in an upstream repository."""
    path = Path(path)
    digest = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        digest.update(b"blob %d\0" % size)
        read = 0
        while block := fh.read(chunk):
            digest.update(block)
            read += len(block)
    if read != size:
        raise OSError(f"{path} changed size while it was being hashed")
    return digest.hexdigest()


def _stamp(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]


class StatHashCache:
    """sha256 digests keyed by absolute path and (size, mtime_ns, ctime_ns, inode, device).

    Stored as JSON at ``path``; a cache that cannot be read or written only costs speed.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.data: dict[str, list] = data if isinstance(data, dict) else {}
        self.dirty = False

    def get(self, file: Path, stat: os.stat_result | None = None) -> str | None:
        """The cached digest of ``file`` if its stat stamp is unchanged, else None."""
        row = self.data.get(str(Path(file).resolve()))
        stat = stat or os.stat(file)
        if isinstance(row, list) and len(row) == 6 and row[:5] == _stamp(stat):
            return row[5] if isinstance(row[5], str) else None
        return None

    def put(self, file: Path, sha: str, stat: os.stat_result | None = None) -> None:
        """Record ``sha`` for ``file`` at its current stat stamp."""
        stat = stat or os.stat(file)
        self.data[str(Path(file).resolve())] = [*_stamp(stat), sha]
        self.dirty = True

    def hash(self, file: Path, *, trust: bool = True) -> str:
        """The digest of ``file``: from the cache when ``trust`` and the stamp matches, else read."""
        stat = os.stat(file)
        if trust and (hit := self.get(file, stat)):
            return hit
        sha = sha256_file(file)
        self.put(file, sha, stat)
        return sha

    def save(self) -> None:
        """Write the cache atomically (silently skipped when the folder is not writable)."""
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.data), encoding="utf-8")
            os.replace(tmp, self.path)
            self.dirty = False
        except OSError:
            pass
