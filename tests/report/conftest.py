"""Fixtures: the fake benchmarks/metrics/methods installed into harness.runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner import fakes


@pytest.fixture
def fixture_benchmarks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, fakes.FakeBenchmark]:
    return fakes.install(monkeypatch.setattr, tmp_path / "fixtures")
