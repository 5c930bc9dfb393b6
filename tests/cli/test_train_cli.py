"""``harness train`` takes every default from TrainConfig, the one owner of training defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import harness.registry
from harness.cli import app
from harness.train_config import TrainConfig


class _Recorder:
    """Stands in for a trainable Restorer class: records the config ``harness train`` builds."""

    default_variant = "t"
    presets = {"tiny": "a reduced size"}
    seen: list[TrainConfig] = []

    @classmethod
    def train(cls, config: TrainConfig, out: Path, data_root: Path, **_: object) -> Path:
        cls.seen.append(config)
        return out / "weights.safetensors"


@pytest.fixture()
def recorder(monkeypatch: pytest.MonkeyPatch) -> type[_Recorder]:
    _Recorder.seen = []
    monkeypatch.setattr(harness.registry, "method_class", lambda name: _Recorder)
    return _Recorder


def test_no_options_trains_with_the_config_defaults(
    recorder: type[_Recorder], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["--device", "cpu", "train", "--method", "diffuir", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    (config,) = recorder.seen
    assert config == TrainConfig(method="diffuir", variant="t", device="cpu")


def test_options_reach_the_config(recorder: type[_Recorder], tmp_path: Path) -> None:
    args = ["--steps", "7", "--lr", "0.001", "--lr-schedule", "cosine", "--task-batch", "deblur=3"]
    result = CliRunner().invoke(
        app, ["--device", "cpu", "train", "--method", "diffuir", "--out", str(tmp_path), *args]
    )
    assert result.exit_code == 0, result.output
    (config,) = recorder.seen
    assert (config.steps, config.lr, config.lr_schedule) == (7, 0.001, "cosine")
    assert config.task_batch == {"deblur": 3}


def test_unknown_schedule_is_a_usage_error(recorder: type[_Recorder], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "--method", "diffuir", "--out", str(tmp_path), "--lr-schedule", "step"]
    )
    assert result.exit_code == 2
    assert recorder.seen == []


def test_preset_trains_that_variant(recorder: type[_Recorder], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "--method", "m", "--out", str(tmp_path), "--preset", "tiny"]
    )
    assert result.exit_code == 0, result.output
    assert [c.variant for c in recorder.seen] == ["tiny"]


def test_unknown_preset_lists_the_presets(recorder: type[_Recorder], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "--method", "m", "--out", str(tmp_path), "--preset", "huge"]
    )
    assert result.exit_code == 2
    assert "presets: tiny" in result.output
    assert recorder.seen == []


def test_preset_and_another_variant_conflict(recorder: type[_Recorder], tmp_path: Path) -> None:
    args = ["--preset", "tiny", "--variant", "base"]
    result = CliRunner().invoke(app, ["train", "--method", "m", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert "drop --variant base" in result.output
    assert recorder.seen == []


def test_suite_is_another_name_for_train_suite(recorder: type[_Recorder], tmp_path: Path) -> None:
    args = ["--suite", "universal-train"]
    result = CliRunner().invoke(app, ["train", "--method", "m", "--out", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    assert [c.train_suite for c in recorder.seen] == ["universal-train"]
