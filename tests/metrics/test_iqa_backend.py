"""The optional pyiqa bridge and the opt-in iqa-* protocols: clear errors without the extra,
never a download, scores through pyiqa (a stand-in module here) on the quantised images."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError, MissingFileError
from harness.metrics import iqa_backend
from harness.metrics.compute import score_image
from harness.metrics.protocols import get_protocol, protocol_names


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


def _fake_pyiqa(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Install a stand-in ``pyiqa``: lpips = mean |x - y|, musiq = 100 * mean(x), clipiqa = max."""
    created: list[str] = []

    class Metric:
        def __init__(self, name: str) -> None:
            self.name = name

        def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
            if self.name == "lpips":
                return (x - y).abs().mean(dim=(1, 2, 3))
            if self.name == "musiq":
                return 100 * x.mean(dim=(1, 2, 3), keepdim=True)
            return x.amax(dim=(1, 2, 3))

    def create_metric(name: str, device: str = "cpu") -> Metric:
        created.append(name)
        return Metric(name)

    module = types.ModuleType("pyiqa")
    module.list_models = lambda: ["clipiqa", "lpips", "musiq", "niqe"]
    module.create_metric = create_metric
    arch = types.ModuleType("pyiqa.archs.some_arch")
    arch.load_file_from_url = lambda url, *a, **k: "downloaded!"
    monkeypatch.setitem(sys.modules, "pyiqa", module)
    monkeypatch.setitem(sys.modules, "pyiqa.archs.some_arch", arch)
    return created


def _folders(tmp_path: Path) -> tuple[Path, Path, list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(7)
    out, gt = tmp_path / "out", tmp_path / "gt"
    out.mkdir()
    gt.mkdir()
    outs, gts = [], []
    for i in range(3):
        o = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        t = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        Image.fromarray(o).save(out / f"{i}.png")
        Image.fromarray(t).save(gt / f"{i}.png")
        outs.append(o)
        gts.append(t)
    return out, gt, outs, gts


def test_opt_in_protocols_are_listed_and_marked_without_pyiqa(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyiqa", None)
    rows = json.loads(CliRunner().invoke(app, ["ls", "protocols", "--json"]).output)
    by_name = {row["name"]: row for row in rows}
    assert {"iqa-lpips", "iqa-musiq", "iqa-clipiqa"} <= set(by_name)
    assert by_name["iqa-lpips"]["available"] is False
    assert by_name["iqa-lpips"]["signature"] == "lpips:rgb|q:round-even|crop:0|backend:pyiqa"
    assert "available" not in by_name["diffuir-online"]  # built-in rows are unchanged
    text = CliRunner().invoke(app, ["ls", "protocols"]).output
    assert "needs the iqa extra: pip install 'uir-harness[iqa]'" in text
    with pytest.raises(HarnessError, match=r"uir-harness\[iqa\]"):
        get_protocol("iqa-musiq")
    assert "iqa-lpips" not in protocol_names()  # no manifest may name an opt-in protocol


def test_opt_in_protocols_are_available_with_pyiqa(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pyiqa(monkeypatch)
    rows = json.loads(CliRunner().invoke(app, ["ls", "protocols", "--json"]).output)
    assert {r["name"]: r.get("available") for r in rows}["iqa-clipiqa"] is True
    assert get_protocol("iqa-lpips").needs_target
    assert not get_protocol("iqa-musiq").needs_target


def test_score_lpips_through_pyiqa_on_the_uint8_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _fake_pyiqa(monkeypatch)
    out, gt, outs, gts = _folders(tmp_path)
    csv = tmp_path / "lpips.csv"
    args = ["score", "-p", "iqa-lpips", str(out), str(gt), "--csv", str(csv)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    expected = [np.abs(o / 255.0 - t / 255.0).mean() for o, t in zip(outs, gts, strict=True)]
    np.testing.assert_allclose(pd.read_csv(csv)["lpips"], expected, rtol=1e-6)
    assert "lpips:rgb|q:round-even|crop:0|backend:pyiqa" in result.output
    assert created == ["lpips"]  # one metric object for every image
    assert sys.modules["pyiqa.archs.some_arch"].load_file_from_url is iqa_backend._offline_download


def test_score_no_reference_iqa_needs_no_ground_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_pyiqa(monkeypatch)
    out, _, outs, _ = _folders(tmp_path)
    proto = get_protocol("iqa-musiq")
    scores = [score_image(proto, o, None)["musiq"] for o in outs]
    np.testing.assert_allclose(scores, [100 * (o / 255.0).mean() for o in outs], rtol=1e-6)
    csv = tmp_path / "musiq.csv"
    result = CliRunner().invoke(app, ["score", "-p", "iqa-musiq", str(out), "--csv", str(csv)])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(pd.read_csv(csv)["musiq"], scores, rtol=1e-6)


def test_float_output_is_quantised_before_pyiqa(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pyiqa(monkeypatch)
    restored = np.full((16, 16, 3), 0.5, np.float32)  # 127.5 rounds half to even: 128
    target = np.zeros((16, 16, 3), np.uint8)
    got = score_image(get_protocol("iqa-lpips"), restored, target)["lpips"]
    assert got == pytest.approx(128 / 255.0, rel=1e-6)
