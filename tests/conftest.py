"""Shared fixtures: every test runs with its own cache dir so nothing leaks between tests."""

from __future__ import annotations

import pytest

from tests.precision.flags import tf32_allowed  # noqa: F401 - shared fixture


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    cache = tmp_path_factory.mktemp("harness-cache")
    monkeypatch.setenv("HARNESS_CACHE", str(cache))
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    yield cache
