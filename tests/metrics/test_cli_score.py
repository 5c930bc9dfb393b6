"""``harness score``: pairing by stem, CSV, printed means and signature, clear errors."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from tests.metrics.reference import psnr_ref, ssim_replicate_full, y_bt601

REPO = Path(__file__).resolve().parents[2]


def _folders(tmp_path: Path, n: int = 3) -> tuple[Path, Path, list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    out, gt = tmp_path / "out", tmp_path / "gt"
    out.mkdir()
    gt.mkdir()
    outs, gts = [], []
    for i in range(n):
        t = rng.integers(0, 256, (24, 28, 3), dtype=np.uint8)
        o = t if i == 0 else np.clip(t + rng.normal(0, 10, t.shape), 0, 255).astype(np.uint8)
        Image.fromarray(o).save(out / f"{i:03d}.png")
        Image.fromarray(t).save(gt / f"{i:03d}.png")
        outs.append(o)
        gts.append(t)
    return out, gt, outs, gts


def test_score_writes_csv_and_prints_means(tmp_path: Path) -> None:
    out, gt, outs, gts = _folders(tmp_path)
    csv = tmp_path / "s.csv"
    result = CliRunner().invoke(
        app, ["score", "--protocol", "diffuir-online", str(out), str(gt), "--csv", str(csv)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(csv)
    assert list(table["image"]) == [0, 1, 2] or list(table["image"].astype(str)) == [
        "000",
        "001",
        "002",
    ]
    psnrs = [psnr_ref(y_bt601(o), y_bt601(t)) for o, t in zip(outs, gts, strict=True)]
    assert math.isinf(table["psnr"][0]) and math.isinf(psnrs[0])
    np.testing.assert_allclose(table["psnr"][1:], psnrs[1:], atol=1e-6)
    ssims = [ssim_replicate_full(y_bt601(o), y_bt601(t)) for o, t in zip(outs, gts, strict=True)]
    np.testing.assert_allclose(table["ssim"], ssims, atol=1e-8)
    assert (
        "psnr+ssim:y-bt601-float|q:round-even|crop:0|ssim:gauss11-replicate-full" in result.output
    )
    assert f"psnr: mean {np.mean(psnrs[1:]):.6f} over 3 images (1 infinite" in result.output
    assert f"ssim: mean {np.mean(ssims):.6f} over 3 images" in result.output


def test_unmatched_stems_are_listed(tmp_path: Path) -> None:
    out, gt, _, _ = _folders(tmp_path)
    (gt / "001.png").rename(gt / "099.png")
    result = CliRunner().invoke(app, ["score", str(out), str(gt)])
    assert isinstance(result.exception, HarnessError)
    assert "001" in str(result.exception) and "099" in str(result.exception)


@pytest.mark.parametrize("kind", ["16-bit", "alpha"])
def test_16bit_and_alpha_pngs_are_refused_with_the_file_name(tmp_path: Path, kind: str) -> None:
    out, gt, _, _ = _folders(tmp_path)
    bad = out / "002.png"
    if kind == "16-bit":
        Image.fromarray(np.full((24, 28), 40000, np.uint16)).save(bad)
    else:
        Image.fromarray(np.zeros((24, 28, 4), np.uint8), mode="RGBA").save(bad)
    result = CliRunner().invoke(app, ["score", str(out), str(gt)])
    assert isinstance(result.exception, HarnessError)
    message = str(result.exception)
    assert "002.png" in message
    assert ("16-bit" in message) if kind == "16-bit" else ("alpha" in message)


def test_shape_mismatch_names_the_image(tmp_path: Path) -> None:
    out, gt, _, _ = _folders(tmp_path)
    Image.fromarray(np.zeros((20, 28, 3), np.uint8)).save(out / "001.png")
    result = CliRunner().invoke(app, ["score", str(out), str(gt)])
    assert isinstance(result.exception, HarnessError)
    assert "001.png" in str(result.exception) and "shape" in str(result.exception)


def test_console_error_exit_code_and_message(tmp_path: Path) -> None:
    out, gt, _, _ = _folders(tmp_path, n=1)
    Image.fromarray(np.zeros((24, 28, 4), np.uint8), mode="RGBA").save(out / "000.png")
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "score", str(out), str(gt)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "000.png" in proc.stderr and "alpha" in proc.stderr


def test_no_reference_protocol_needs_no_gt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    out = tmp_path / "out"
    out.mkdir()
    Image.fromarray(rng.integers(0, 256, (96, 200, 3), dtype=np.uint8)).save(out / "a.png")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["score", "--protocol", "nr-niqe", str(out)])
    assert result.exit_code == 0, result.output
    assert "niqe: mean" in result.output
    assert (tmp_path / "scores-nr-niqe.csv").is_file()


def test_default_csv_goes_to_the_current_folder_never_into_the_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, gt, _, _ = _folders(tmp_path)
    before = {p: p.read_bytes() for p in (*out.iterdir(), *gt.iterdir())}
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = CliRunner().invoke(app, ["score", str(out), str(gt)])
    assert result.exit_code == 0, result.output
    assert {p: p.read_bytes() for p in (*out.iterdir(), *gt.iterdir())} == before
    table = pd.read_csv(here / "scores-diffuir-online.csv")
    assert len(table) == 3 and set(table["protocol"]) == {"diffuir-online"}
    assert f"per-image scores: {here / 'scores-diffuir-online.csv'}" in result.output
