"""``harness train --loss l1+diffloss``: the frozen model's file is required and recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import harness.losses.objective as objective
from harness.cli import app
from harness.errors import HarnessError
from tests.losses.tiny import TINY, tiny_adm

SOURCE = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion_uncond.pt"
TINY_PROMPTIR = ["train", "--method", "promptir", "--preset", "tiny", "--crop", "16"]
ONE_TASK = ["--suite", "mini-train-derain"]


def _invoke(*args: str):
    return CliRunner().invoke(app, ["--device", "cpu", "-q", *args])


def _error(result) -> str:
    """The HarnessError a command stopped with (the console script prints it), whitespace folded."""
    assert isinstance(result.exception, HarnessError), result.output
    return " ".join(str(result.exception).split())


def test_missing_diffusion_weights_file_names_it_and_its_source(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "256x256_diffusion_uncond.pt"
    args = ["--loss", "l1+diffloss", "--diffusion-weights", str(missing)]
    result = _invoke(*TINY_PROMPTIR, "--out", str(tmp_path / "run"), *args)
    text = _error(result)
    assert str(missing) in text
    assert SOURCE in text
    assert "none is published" in text
    assert not (tmp_path / "run").exists()


def test_diffloss_without_weights_says_where_to_get_them(tmp_path: Path) -> None:
    result = _invoke(*TINY_PROMPTIR, "--out", str(tmp_path / "run"), "--loss", "l1+diffloss")
    text = _error(result)
    assert "--diffusion-weights" in text and SOURCE in text


def test_diffloss_options_need_the_diffloss_loss(tmp_path: Path) -> None:
    result = _invoke(*TINY_PROMPTIR, "--out", str(tmp_path), "--diffusion-weights", "x.pt")
    assert result.exit_code == 2
    assert "l1+diffloss" in result.output
    result = _invoke(*TINY_PROMPTIR, "--out", str(tmp_path), "--loss", "l2")
    assert result.exit_code == 2


def test_diffuir_keeps_its_own_objective(tmp_path: Path, tiny_adm_file: Path) -> None:
    args = ["--loss", "l1+diffloss", "--diffusion-weights", str(tiny_adm_file)]
    result = _invoke("train", "--method", "diffuir", "--out", str(tmp_path / "run"), *args)
    assert "diffuir cannot train with --loss l1+diffloss" in _error(result)


def test_training_records_the_loss_and_the_weights_sha256(
    tmp_path: Path, tiny_adm_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(objective, "ADM_CONFIG", TINY)
    out = tmp_path / "run"
    args = ["--steps", "2", "--batch-per-task", "1", "--checkpoint-every", "2", "--out", str(out)]
    diffloss = ["--loss", "l1+diffloss", "--diffusion-weights", str(tiny_adm_file)]
    result = _invoke(*TINY_PROMPTIR, *ONE_TASK, *args, *diffloss)
    assert result.exit_code == 0, result.output
    sha = hashlib.sha256(tiny_adm_file.read_bytes()).hexdigest()
    for record in ("training.json", "state.json"):
        config = json.loads((out / record).read_text())["config"]
        assert config["loss"] == "l1+diffloss"
        assert config["diffusion_weights"] == str(tiny_adm_file)
        assert config["diffusion_weights_sha256"] == sha
        assert config["diffloss_upstream_nograd"] is False
    # a resumed run must load the same diffusion weights (another file is another run)
    other = tmp_path / "other.pt"
    torch.save(tiny_adm(seed=1).state_dict(), other)
    resume = ["--steps", "3", "--batch-per-task", "1", "--checkpoint-every", "2", "--out", str(out)]
    result = _invoke(
        *TINY_PROMPTIR,
        *ONE_TASK,
        *resume,
        "--loss",
        "l1+diffloss",
        "--diffusion-weights",
        str(other),
    )
    assert "different configuration (diffusion_weights_sha256)" in _error(result)
