"""Manifests, suites and lock files: all validate; bad ones fail naming the file and the field."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from harness.data.benchmark import (
    BenchmarkMissingError,
    DataVerificationError,
    embedded_dir,
    open_benchmark,
)
from harness.data.catalog import benchmark_names, load_manifest, resolve_suite, suite_names
from harness.data.lock import Lock, LockEntry, LockError, merkle_root, read_lock, verify_dir
from harness.data.manifest import ManifestError, parse_manifest
from harness.errors import UnknownNameError

UNIVERSAL = [
    "rain100h", "rain100l", "test100", "test1200", "test2800", "lol", "snow100k-s", "snow100k-l",
    "sots-outdoor", "gopro", "hide", "realblur-j", "realblur-r",
]  # fmt: skip
ZERO_SHOT = [
    "udc-toled",
    "udc-poled",
    "snow100k-real",
    "practical",
    "dicm",
    "lime",
    "mef",
    "npe",
    "vv",
]


def test_every_manifest_validates_and_suites_resolve():
    for name in benchmark_names():
        assert load_manifest(name).name == name
    assert set(suite_names()) >= {"universal", "zero-shot", "all", "mini", "mini-train"}
    assert resolve_suite("universal") == UNIVERSAL
    assert resolve_suite("zero-shot") == ZERO_SHOT
    assert resolve_suite("all") == UNIVERSAL + ZERO_SHOT and len(resolve_suite("all")) == 22
    assert resolve_suite("gopro") == ["gopro"]
    with pytest.raises(UnknownNameError, match="did you mean"):
        resolve_suite("gorpo")


def test_published_facts_are_carried():
    assert (
        load_manifest("test100").counts.inputs == 98 and load_manifest("test100").counts.confirmed
    )
    assert load_manifest("lol").preprocess_flags == frozenset({"lol-histeq"})
    assert load_manifest("udc-poled").preprocess_flags == frozenset({"udc-half-split"})
    sots = load_manifest("sots-outdoor")
    assert sots.protocol == "diffuir-sots" and sots.pairing.rule == "regex"
    for name in ZERO_SHOT[2:]:
        assert not load_manifest(name).has_gt
    gopro = load_manifest("gopro").sources[0]
    assert gopro.sha256 == "fb955bbd96b1521cff4686ae12624c47f5d9f9b24a0b49b575d2c03574accf73"


def _mini_yaml(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load((Path("manifests") / "mini-derain.yaml").read_text())
    raw.update(changes)
    path = tmp_path / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"colour": "blue"}, "colour"),
        ({"task": "dedust"}, "unknown task"),
        ({"protocol": "psnr"}, "unknown protocol"),
        ({"has_gt": False}, "has_gt is false"),
        ({"layout": {"root": "../../etc", "input": "input"}}, "escapes"),
        ({"layout": {"root": "/abs", "input": "input"}}, "absolute"),
        ({"preprocess": ["sharpen"]}, "preprocess"),
        ({"pairing": {"rule": "regex", "input_id": "(\\d+)"}}, "named group"),
    ],
)
def test_bad_manifests_name_file_and_field(tmp_path, changes, needle):
    path = _mini_yaml(tmp_path, **changes)
    with pytest.raises(ManifestError) as err:
        parse_manifest(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_merkle_root_matches_an_independent_computation():
    entries = [LockEntry(f"f{i}.png", i, hashlib.sha256(bytes([i])).hexdigest()) for i in range(5)]

    def h(b: bytes) -> bytes:
        return hashlib.sha256(b).digest()

    leaves = [h(b"\x00" + f"{e.path}\t{e.size}\t{e.sha256}".encode()) for e in entries]
    l01, l23 = h(b"\x01" + leaves[0] + leaves[1]), h(b"\x01" + leaves[2] + leaves[3])
    expected = h(b"\x01" + h(b"\x01" + l01 + l23) + leaves[4]).hex()
    assert merkle_root(reversed(entries)) == expected
    assert merkle_root([]) == hashlib.sha256(b"").hexdigest()


def test_edited_lock_is_refused(tmp_path):
    text = (Path("manifests/locks") / "mini-derain.lock").read_text()
    first = text.splitlines()[4]
    bad = tmp_path / "mini-derain.lock"
    bad.write_text(text.replace(first, first.replace("\t1", "\t2", 1)))
    with pytest.raises(LockError, match="merkle-root"):
        read_lock(bad)
    bad.write_text(text.replace(first, "../x.png\t1\t" + "0" * 64 + "\t-"))
    with pytest.raises(LockError, match="escapes"):
        read_lock(bad)


@pytest.fixture
def mini_copy(tmp_path, monkeypatch):
    """A writable copy of the manifests folder (mini-derain as a non-embedded benchmark)."""
    source = embedded_dir() / "mini-derain"
    manifests = tmp_path / "manifests"
    shutil.copytree("manifests", manifests, ignore=shutil.ignore_patterns("embedded"))
    raw = yaml.safe_load((manifests / "mini-derain.yaml").read_text())
    raw.update(embedded=False, sources=[{"kind": "manual", "url": "https://example.org/x"}])
    (manifests / "mini-derain.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("HARNESS_MANIFESTS", str(manifests))
    data = tmp_path / "data"
    shutil.copytree(source, data / "mini-derain")
    return data


def test_open_reports_missing_data_with_instructions(mini_copy, tmp_path):
    with pytest.raises(BenchmarkMissingError) as err:
        open_benchmark("mini-derain", tmp_path / "empty")
    text = str(err.value)
    assert "harness data import mini-derain" in text and "missing:" in text


def test_changed_missing_and_extra_files_are_named(mini_copy):
    root = mini_copy / "mini-derain"
    assert open_benchmark("mini-derain", mini_copy).verified
    (root / "input" / "coffee-00.png").write_bytes(b"not a png")
    (root / "target" / "chelsea-00.png").unlink()
    (root / "input" / "stray.png").write_bytes(b"x")
    lock = read_lock(Path(str(mini_copy.parent / "manifests/locks/mini-derain.lock")))
    report = verify_dir(lock, root)
    assert report.missing == ["target/chelsea-00.png"]
    assert report.extra == ["input/stray.png"]
    assert [p for p, _ in report.changed] == ["input/coffee-00.png"]
    with pytest.raises(DataVerificationError) as err:
        open_benchmark("mini-derain", mini_copy)
    for name in ("chelsea-00.png", "stray.png", "coffee-00.png", "--allow-unverified"):
        assert name in str(err.value)


def test_same_size_tampering_is_caught_even_with_a_warm_cache(mini_copy):
    root = mini_copy / "mini-derain"
    open_benchmark("mini-derain", mini_copy)  # warms the cache
    file = root / "input" / "rocket-00.png"
    data = bytearray(file.read_bytes())
    data[-20] ^= 0xFF
    file.write_bytes(bytes(data))  # same size, new mtime
    with pytest.raises(DataVerificationError, match="rocket-00.png"):
        open_benchmark("mini-derain", mini_copy)
    with pytest.warns(UserWarning, match="rocket-00.png"):
        bench = open_benchmark("mini-derain", mini_copy, allow_unverified=True)
    assert (
        not bench.verified
        and bench.digest != read_lock(mini_copy.parent / "manifests/locks/mini-derain.lock").root
    )


def test_unpinned_benchmark_gets_a_computed_digest(mini_copy):
    lock_file = mini_copy.parent / "manifests/locks/mini-derain.lock"
    pinned_root = read_lock(lock_file).root
    lock_file.unlink()
    bench = open_benchmark("mini-derain", mini_copy)
    assert not bench.pinned and bench.digest == pinned_root  # same bytes -> same root


def test_lock_roundtrip(tmp_path):
    lock = Lock.from_entries("x", [LockEntry("a/b.png", 3, "ab" * 32, "2x1")])
    path = tmp_path / "x.lock"
    path.write_text(lock.text())
    assert read_lock(path) == lock
