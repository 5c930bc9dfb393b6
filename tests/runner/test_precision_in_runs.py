"""Runs restore under IEEE float32 whatever torch's TF32 defaults say (harness.precision)."""

from __future__ import annotations

from harness.runner import run
from tests.precision.flags import tf32_flags
from tests.runner import fakes
from tests.runner.test_runner import _config


def test_runs_restore_under_ieee_float32(tmp_path, fixture_benchmarks, monkeypatch, tf32_allowed):
    seen: list[tuple[bool, bool]] = []
    original = fakes.BoxBlur.restore

    def recording(self, batch):
        seen.append(tf32_flags())
        return original(self, batch)

    monkeypatch.setattr(fakes.BoxBlur, "restore", recording)
    run(_config(tmp_path, method="box-blur", suite="fx-derain"))
    assert seen and set(seen) == {(False, False)}  # images and the FLOP-counting call
    assert tf32_flags() == (True, True)
