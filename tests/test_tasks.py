"""Which checkpoints' training settings cover which benchmarks (the "out of setting" marks)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.data.catalog import benchmark_names, load_manifest
from harness.tasks import DEGRADATIONS, within_setting
from harness.weights import TrainingSetting

ALL_FIVE = ("derain", "desnow", "dehaze", "deblur", "lowlight")


def test_by_degradations_when_listed() -> None:
    assert within_setting(ALL_FIVE, "derain", ["haze", "rain"])
    assert not within_setting(("derain",), "derain", ["haze", "rain"])  # zero-shot mix
    assert within_setting(("derain", "dehaze", "denoise"), "derain", ["rain"])
    assert not within_setting(ALL_FIVE, "lowlight", ["low-light", "colour-cast"])


def test_by_task_label_when_no_degradation_is_listed() -> None:
    assert within_setting(("deblur",), "deblur", [])
    assert not within_setting(("deblur",), "derain", [])


def test_every_manifest_degradation_is_in_the_vocabulary() -> None:
    for name in benchmark_names():
        assert set(load_manifest(name).degradations) <= set(DEGRADATIONS), name


def test_setting_refuses_unknown_tasks() -> None:
    assert TrainingSetting(tasks=("denoise", "derain")).tasks == ("denoise", "derain")
    with pytest.raises(ValidationError, match="unknown task"):
        TrainingSetting(tasks=("dewater",))
    with pytest.raises(ValidationError):
        TrainingSetting(tasks=())
