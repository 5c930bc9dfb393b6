"""The optional pyiqa bridge: clear errors without the extra, never a download."""

from __future__ import annotations

import sys

import pytest

from harness.errors import HarnessError, MissingFileError
from harness.metrics import iqa_backend


def test_missing_pyiqa_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyiqa", None)  # import fails as if not installed
    with pytest.raises(HarnessError) as info:
        iqa_backend.create_iqa_metric("lpips")
    assert "pyiqa" in str(info.value) and "uir-harness[iqa]" in str(info.value)


def test_uncached_weights_name_file_source_and_place(tmp_path) -> None:
    url = "https://example.invalid/weights/LPIPS_v0.1_alex-df73285e.pth"
    with pytest.raises(MissingFileError) as info:
        iqa_backend._offline_download(url, model_dir=str(tmp_path))
    text = str(info.value)
    assert str(tmp_path / "LPIPS_v0.1_alex-df73285e.pth") in text
    assert url in text


def test_cached_weights_are_used_without_download(tmp_path) -> None:
    (tmp_path / "musiq.pth").write_bytes(b"x")
    got = iqa_backend._offline_download("https://example.invalid/a/musiq.pth", str(tmp_path))
    assert got == str(tmp_path / "musiq.pth")
