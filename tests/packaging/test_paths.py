"""harness.paths: the checkout's data folders in a source checkout, a clear error without any."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import paths
from harness.errors import HarnessError

CHECKOUT = Path(__file__).resolve().parents[2]


def test_a_source_checkout_serves_its_own_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_MANIFESTS", raising=False)
    assert paths.source_checkout() == CHECKOUT
    assert paths.manifests_dir() == CHECKOUT / "manifests"
    assert paths.reports_dir() == CHECKOUT / "reports"


def test_env_overrides_the_manifests_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HARNESS_MANIFESTS", str(tmp_path))
    assert paths.manifests_dir() == tmp_path


def test_no_shipped_folder_anywhere_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A package folder whose parent is not a checkout, and no _data inside the package.
    monkeypatch.delenv("HARNESS_MANIFESTS", raising=False)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    assert paths.source_checkout() is None
    with pytest.raises(HarnessError, match="shipped manifests/ folder is missing"):
        paths.manifests_dir()
    with pytest.raises(HarnessError, match="shipped reports/ folder is missing"):
        paths.reports_dir()
