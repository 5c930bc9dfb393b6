"""Weights manifests, the cache, resolve_weights and the ``harness weights`` verbs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from harness.checkpoints import ChecksumMismatchError
from harness.cli import app
from harness.errors import HarnessError, MissingFileError, UnknownNameError
from harness.weights import (
    WeightsEntry,
    resolve_weights,
    user_index_path,
    weights_dir,
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checkpoint(path: Path, value: float) -> bytes:
    """Write a tiny checkpoint that loads safely (one tensor) and return its bytes."""
    torch.save({"w": torch.full((2,), value)}, path)
    return path.read_bytes()


def _write_manifest(pkg: Path, entries: list[dict]) -> None:
    (pkg / "weights.yaml").write_text(yaml.safe_dump({"weights": entries}))


def _entry(**kw) -> dict:
    base = {
        "name": "fake-s",
        "method": "fake",
        "variant": "s",
        "file": "fake-s.pt",
        "source": "https://example.org/fake-s.pt",
        "license": "MIT",
        "default": True,
    }
    return base | kw


def test_weights_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_WEIGHTS", str(tmp_path / "w"))
    assert weights_dir() == tmp_path / "w"
    monkeypatch.delenv("HARNESS_WEIGHTS")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "c"))
    assert weights_dir() == tmp_path / "c" / "weights"


def test_schema_rejects_unknown_fields_bad_sha_and_escaping_paths() -> None:
    WeightsEntry.model_validate(_entry())
    with pytest.raises(ValueError):
        WeightsEntry.model_validate(_entry(url="x"))
    with pytest.raises(ValueError):
        WeightsEntry.model_validate(_entry(sha256="abc"))
    for bad in ("../x.pt", "/etc/passwd", "a/../../x.pt"):
        with pytest.raises(ValueError):
            WeightsEntry.model_validate(_entry(file=bad))


def test_missing_default_names_file_sha_source_and_place(fake_method) -> None:
    sha = "ab" * 32
    _write_manifest(fake_method["pkg"], [_entry(sha256=sha)])
    with pytest.raises(MissingFileError) as info:
        resolve_weights("fake", "s", None)
    text = str(info.value)
    expected_place = weights_dir() / "fake" / "fake-s.pt"
    assert str(expected_place) in text
    assert sha in text and "https://example.org/fake-s.pt" in text
    assert "harness weights add fake" in text


def test_default_entry_resolves_and_checks_sha(fake_method) -> None:
    data = b"weights-s"
    _write_manifest(fake_method["pkg"], [_entry(sha256=_sha(data))])
    target = weights_dir() / "fake" / "fake-s.pt"
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    got = resolve_weights("fake", "s", None)
    assert got.path == target.resolve() and got.sha256 == _sha(data)
    assert got.entry is not None and got.entry.name == "fake-s"
    target.write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatchError):
        resolve_weights("fake", "s", None)


def test_shipped_file_is_repo_relative(fake_method) -> None:
    data = b"shipped"
    shipped = fake_method["pkg"] / "weights" / "tiny.bin"
    shipped.parent.mkdir()
    shipped.write_bytes(data)
    _write_manifest(
        fake_method["pkg"], [_entry(file="fakepkg/fake/weights/tiny.bin", sha256=_sha(data))]
    )
    got = resolve_weights("fake", "s", None)
    assert got.path == shipped.resolve()


def test_by_name_and_wrong_variant_is_rejected_by_name(fake_method) -> None:
    _write_manifest(
        fake_method["pkg"],
        [_entry(), _entry(name="fake-l", variant="l", file="fake-l.pt")],
    )
    (weights_dir() / "fake").mkdir(parents=True)
    (weights_dir() / "fake" / "fake-l.pt").write_bytes(b"large")
    assert resolve_weights("fake", "l", "fake-l").entry.name == "fake-l"
    with pytest.raises(HarnessError, match="fake-l.*variant 'l'.*not for fake variant 's'"):
        resolve_weights("fake", "s", "fake-l")
    with pytest.raises(UnknownNameError):
        resolve_weights("fake", "s", "fake-m")


def test_path_is_identified_by_hash(fake_method, tmp_path: Path) -> None:
    data = b"large weights"
    _write_manifest(fake_method["pkg"], [_entry(name="fake-l", variant="l", sha256=_sha(data))])
    f = tmp_path / "renamed.bin"
    f.write_bytes(data)
    got = resolve_weights("fake", "l", f)
    assert got.entry is not None and got.entry.name == "fake-l" and got.sha256 == _sha(data)
    with pytest.raises(HarnessError, match="variant 'l'"):
        resolve_weights("fake", "s", str(f))
    other = tmp_path / "unknown.bin"
    other.write_bytes(b"something else")
    got = resolve_weights("fake", "s", other)
    assert got.entry is None and got.sha256 == _sha(b"something else")
    with pytest.raises(MissingFileError):
        resolve_weights("fake", "s", tmp_path / "nope.pt")


def test_add_records_user_entry_outside_repo(fake_method, tmp_path: Path) -> None:
    _write_manifest(fake_method["pkg"], [])
    f = tmp_path / "mine.pt"
    data = _checkpoint(f, 1.0)
    result = CliRunner().invoke(app, ["weights", "add", "fake", str(f), "--variant", "l"])
    assert result.exit_code == 0, result.output
    index = yaml.safe_load(user_index_path().read_text())["weights"]
    assert index[0]["sha256"] == _sha(data) and index[0]["variant"] == "l"
    assert (weights_dir() / "fake" / "mine.pt").read_bytes() == data
    assert yaml.safe_load((fake_method["pkg"] / "weights.yaml").read_text()) == {"weights": []}
    got = resolve_weights("fake", "l", "mine")
    assert got.sha256 == _sha(data)
    (weights_dir() / "fake" / "mine.pt").write_bytes(b"changed")
    with pytest.raises(ChecksumMismatchError):
        resolve_weights("fake", "l", "mine")


def test_add_pins_an_unpinned_manifest_file_on_first_use(fake_method, tmp_path: Path) -> None:
    _write_manifest(fake_method["pkg"], [_entry(sha256=None)])
    f = tmp_path / "fake-s.pt"
    data = _checkpoint(f, 2.0)
    assert CliRunner().invoke(app, ["weights", "add", "fake", str(f)]).exit_code == 0
    assert resolve_weights("fake", "s", None).sha256 == _sha(data)
    (weights_dir() / "fake" / "fake-s.pt").write_bytes(b"swapped")
    with pytest.raises(ChecksumMismatchError):
        resolve_weights("fake", "s", None)


def test_add_of_a_known_file_uses_its_manifest_name(fake_method, tmp_path: Path) -> None:
    f = tmp_path / "download (1).pt"
    data = _checkpoint(f, 3.0)
    _write_manifest(fake_method["pkg"], [_entry(sha256=_sha(data))])
    result = CliRunner().invoke(app, ["weights", "add", "fake", str(f)])
    assert result.exit_code == 0 and "matches shipped entry 'fake-s'" in result.output
    assert (weights_dir() / "fake" / "fake-s.pt").read_bytes() == data
    assert not user_index_path().exists()


def test_ls_and_verify_report_states(fake_method) -> None:
    good, bad = b"good", b"bad"
    _write_manifest(
        fake_method["pkg"],
        [
            _entry(sha256=_sha(good)),
            _entry(name="fake-l", variant="l", file="fake-l.pt", sha256=_sha(b"expected")),
            _entry(name="fake-s2", file="fake-s2.pt", default=False),
        ],
    )
    d = weights_dir() / "fake"
    d.mkdir(parents=True)
    (d / "fake-s.pt").write_bytes(good)
    (d / "fake-l.pt").write_bytes(bad)
    runner = CliRunner()
    out = runner.invoke(app, ["weights", "ls", "fake"]).output
    assert "fake-s (default): PRESENT" in out and "fake-s2: MISSING" in out
    result = runner.invoke(app, ["weights", "verify", "fake"])
    assert result.exit_code == 1
    assert (
        "fake-s (default): VERIFIED" in result.output
        and "fake-l (default): MISMATCH" in result.output
    )
    out = runner.invoke(app, ["weights", "ls", "fake"]).output
    assert "fake-s (default): VERIFIED" in out  # remembered, not re-hashed
    (d / "fake-l.pt").write_bytes(b"expected")
    assert runner.invoke(app, ["weights", "verify", "fake"]).exit_code == 0


def test_ls_unknown_method_suggests(fake_method) -> None:
    result = CliRunner().invoke(app, ["weights", "ls", "faek"])
    assert isinstance(result.exception, UnknownNameError)


def test_checkpoint_of_another_method_is_rejected_by_name(fake_method, tmp_path: Path) -> None:
    data = b"other method weights"
    _write_manifest(fake_method["pkg"], [_entry()])
    _write_manifest(
        fake_method["other_pkg"],
        [_entry(name="other-s", method="other", file="other-s.pt", sha256=_sha(data))],
    )
    f = tmp_path / "model.pt"
    f.write_bytes(data)
    with pytest.raises(HarnessError, match="'other-s' for other variant 's', not for fake"):
        resolve_weights("fake", "s", f)
