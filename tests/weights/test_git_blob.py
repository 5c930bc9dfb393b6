"""Publisher-side git blob SHA-1s: checked when a file is added, loaded and verified."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from harness.checkpoints import ChecksumMismatchError
from harness.cli import app
from harness.weights import add_weights, pinned_sha256, resolve_weights, weights_dir
from harness.weights.schema import WeightsEntry


def _git_hash_object(path: Path) -> str:
    """The blob id git itself computes (independent of the harness)."""
    return subprocess.run(
        ["git", "hash-object", "--no-filters", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _official(tmp_path: Path, name: str = "fake-s.pt") -> tuple[Path, str]:
    """A loadable checkpoint standing for the publisher's file, and its git blob SHA-1."""
    path = tmp_path / "published" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"w": torch.arange(4.0)}, path)
    return path, _git_hash_object(path)


def _manifest(pkg: Path, blob: str) -> None:
    entry = {
        "name": "fake-s",
        "method": "fake",
        "variant": "s",
        "file": "fake-s.pt",
        "source": "https://example.org/fake-s.pt",
        "license": "MIT",
        "default": True,
        "git_blob_sha1": blob,
    }
    (pkg / "weights.yaml").write_text(yaml.safe_dump({"weights": [entry]}))


def _modified(path: Path, tmp_path: Path) -> Path:
    """The same checkpoint with one value changed (still loads), under the same file name."""
    other = tmp_path / "modified" / path.name
    other.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"w": torch.arange(4.0) + torch.tensor([0.0, 0.0, 0.0, 1.0])}, other)
    return other


def test_schema_checks_the_blob_id() -> None:
    base = {"name": "a", "method": "m", "variant": "v", "file": "a.pt", "source": "s"}
    base["license"] = "MIT"
    assert WeightsEntry(**base, git_blob_sha1="AB" * 20).git_blob_sha1 == "ab" * 20
    with pytest.raises(ValueError, match="40 hexadecimal"):
        WeightsEntry(**base, git_blob_sha1="ab" * 32)


def test_add_verifies_the_publishers_blob_and_pins_the_sha256(fake_method, tmp_path) -> None:
    official, blob = _official(tmp_path, name="download (1).pt")  # any name: matched by blob
    _manifest(fake_method["pkg"], blob)
    result = CliRunner().invoke(app, ["weights", "add", "fake", str(official)])
    assert result.exit_code == 0, result.output
    assert f"matches the publisher's ({blob})" in result.output
    stored = weights_dir() / "fake" / "fake-s.pt"
    assert stored.read_bytes() == official.read_bytes()
    entry = resolve_weights("fake", "s", None).entry
    assert entry is not None and entry.name == "fake-s"
    assert pinned_sha256(entry) == hashlib.sha256(official.read_bytes()).hexdigest()
    # a path to the official file is identified by its blob id too
    assert resolve_weights("fake", "s", official).entry.name == "fake-s"


def test_add_refuses_a_modified_file_naming_both_digests(fake_method, tmp_path) -> None:
    official, blob = _official(tmp_path)
    _manifest(fake_method["pkg"], blob)
    modified = _modified(official, tmp_path)
    with pytest.raises(ChecksumMismatchError) as info:
        add_weights("fake", modified)
    assert blob in str(info.value) and _git_hash_object(modified) in str(info.value)
    assert not (weights_dir() / "fake" / "fake-s.pt").exists()
    with pytest.raises(ChecksumMismatchError):  # claimed by entry name too
        add_weights(
            "fake", _modified(official, tmp_path / "b").rename(tmp_path / "x.pt"), name="fake-s"
        )


def test_load_and_verify_check_the_blob_of_a_file_put_in_place(fake_method, tmp_path) -> None:
    official, blob = _official(tmp_path)
    _manifest(fake_method["pkg"], blob)
    target = weights_dir() / "fake" / "fake-s.pt"
    target.parent.mkdir(parents=True)
    target.write_bytes(_modified(official, tmp_path).read_bytes())  # no add, so no sha256 pin
    with pytest.raises(ChecksumMismatchError, match=f"git blob SHA-1 .* publisher's {blob}"):
        resolve_weights("fake", "s", None)
    result = CliRunner().invoke(app, ["weights", "verify", "fake"])
    assert result.exit_code == 1 and "MISMATCH" in result.output
    target.write_bytes(official.read_bytes())
    assert resolve_weights("fake", "s", None).entry.name == "fake-s"
    result = CliRunner().invoke(app, ["weights", "verify", "fake"])
    assert result.exit_code == 0 and "VERIFIED" in result.output


def test_missing_file_names_the_blob_id(fake_method, tmp_path) -> None:
    _manifest(fake_method["pkg"], "12" * 20)
    with pytest.raises(Exception, match=f"git blob SHA-1 is {'12' * 20}"):
        resolve_weights("fake", "s", None)
