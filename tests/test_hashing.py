"""The stat-keyed digest cache: a hit only while every part of the stamp is unchanged."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from harness.hashing import StatHashCache, git_blob_sha1, sha256_bytes, sha256_file


def test_sha256_matches_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3_000_000)
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f", chunk=4096) == hashlib.sha256(data).hexdigest()
    assert sha256_bytes(data) == hashlib.sha256(data).hexdigest()


def test_git_blob_sha1_is_what_git_hash_object_prints(tmp_path: Path) -> None:
    for name, data in (("empty", b""), ("small", b"hello\n"), ("big", os.urandom(300_000))):
        f = tmp_path / name
        f.write_bytes(data)
        printed = subprocess.run(
            ["git", "hash-object", "--no-filters", str(f)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert git_blob_sha1(f, chunk=4096) == printed
    # git's well-known id of the empty blob
    assert git_blob_sha1(tmp_path / "empty") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_cache_misses_a_same_size_same_mtime_rewrite(tmp_path: Path) -> None:
    f = tmp_path / "gt.png"
    f.write_bytes(b"A" * 100)
    cache = StatHashCache(tmp_path / "cache.json")
    assert cache.hash(f) == hashlib.sha256(b"A" * 100).hexdigest()
    cache.save()
    reloaded = StatHashCache(tmp_path / "cache.json")
    assert reloaded.get(f) == hashlib.sha256(b"A" * 100).hexdigest()
    st = f.stat()
    other = tmp_path / "other"
    other.write_bytes(b"B" * 100)
    shutil.copy2(other, f)  # cp -p: same size, and the mtime is set back below
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    assert reloaded.get(f) is None  # ctime moved: no hit
    assert reloaded.hash(f) == hashlib.sha256(b"B" * 100).hexdigest()


def test_untrusted_hash_reads_the_bytes(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"one")
    cache = StatHashCache(tmp_path / "c.json")
    cache.put(f, "0" * 64)
    assert cache.hash(f) == "0" * 64
    assert cache.hash(f, trust=False) == hashlib.sha256(b"one").hexdigest()


def test_unreadable_cache_file_is_empty(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("[not a dict")
    assert StatHashCache(tmp_path / "c.json").data == {}
