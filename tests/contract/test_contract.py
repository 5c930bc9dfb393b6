"""``harness check``: identity and the classical methods pass; broken restorers fail the right checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from harness import registry
from harness.cli import app
from harness.contract import check_method, mini_suite_images, run_contract, synthetic_images
from harness.data import benchmark as benchmark_module
from harness.errors import UnknownNameError
from harness.restorer import ImageBatch, Restorer

REPO = Path(__file__).resolve().parents[2]


class Broken(Restorer):
    """Identity with one deliberate contract violation, picked by the class attribute ``fault``."""

    name = "broken"
    tasks = ("derain",)
    fault = "none"

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        x = batch.images.clone()
        if self.fault == "float64":
            return x.double()
        if self.fault == "out-of-range":
            return x * 2.0
        if self.fault == "nan":
            x[:, :, 0, 0] = float("nan")
            return x
        if self.fault == "nondeterministic":
            return (x + 0.01 * torch.rand_like(x)).clamp(0, 1)  # global RNG, not batch.seed
        if self.fault == "batch-dependent":
            return (x - x.mean() + 0.5).clamp(0, 1)  # normalises by the whole batch
        if self.fault == "reads-benchmark":
            return (x * 0.5) if batch.benchmark == "mini-derain" else x
        if self.fault == "crops-odd":
            h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
            return x[..., :h, :w]
        if self.fault == "in-place":
            batch.images.mul_(0.5)
            return batch.images.clone()
        if self.fault == "raises":
            raise RuntimeError("boom")
        return x


FAULTS = {
    "float64": {"dtype"},
    "out-of-range": {"range", "odd-size range"},
    "nan": {"finite", "range", "odd-size finite", "odd-size range"},
    "nondeterministic": {"deterministic", "batch-invariant", "blind"},
    "batch-dependent": {"batch-invariant"},
    "reads-benchmark": {"blind"},
    "crops-odd": {"odd-size", "odd-size finite", "odd-size range"},
    "in-place": {"input-unchanged"},
    "raises": {"runs"},
}


def _register(monkeypatch: pytest.MonkeyPatch, cls: type[Restorer]) -> None:
    real = registry.method_class
    monkeypatch.setattr(
        registry, "method_class", lambda name: cls if name == cls.name else real(name)
    )


def test_identity_passes_on_the_cli() -> None:
    result = CliRunner().invoke(app, ["--device", "cpu", "check", "identity"])
    assert result.exit_code == 0, result.output
    for name in ("shape", "dtype", "range", "finite", "deterministic", "batch-invariant"):
        assert f"PASS  {name}" in result.output
    assert "PASS  blind" in result.output and "PASS  odd-size" in result.output
    assert "images:" in result.output


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_broken_restorer_fails_exactly_the_relevant_checks(
    fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = type("BrokenVariant", (Broken,), {"fault": fault})
    _register(monkeypatch, cls)
    report = check_method("broken")
    failed = {c.name for c in report.checks if c.passed is False}
    if fault == "crops-odd":
        failed_odd = {c.name for c in report.checks if c.name.startswith("odd") and not c.passed}
        assert failed == failed_odd == {"odd-size"}
    elif fault == "nondeterministic":
        assert "deterministic" in failed and failed <= FAULTS[fault]
    else:
        assert failed == FAULTS[fault]
    assert not report.passed


def test_broken_restorer_exits_1_on_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, type("BrokenVariant", (Broken,), {"fault": "out-of-range"}))
    result = CliRunner().invoke(app, ["--device", "cpu", "check", "broken"])
    assert result.exit_code == 1
    assert "FAIL  range" in result.output and "PASS  shape" in result.output


def test_non_blind_method_gets_its_task_and_blind_check_does_not_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str | None] = []

    class Labelled(Broken):
        blind = False

        def restore(self, batch: ImageBatch) -> torch.Tensor:
            seen.append(batch.task)
            return batch.images.clone()

    _register(monkeypatch, Labelled)
    report = check_method("broken")
    assert report.passed
    assert {c.name: c.passed for c in report.checks}["blind"] is None
    assert set(seen) == {"derain"}


def test_blind_method_never_sees_a_task(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    class Blind(Broken):
        def restore(self, batch: ImageBatch) -> torch.Tensor:
            seen.append(batch.task)
            return batch.images.clone()

    _register(monkeypatch, Blind)
    assert check_method("broken").passed and set(seen) == {None}


@pytest.mark.parametrize("name", ["dcp", "lime", "richardson-lucy", "median"])
def test_classical_methods_meet_the_contract(name: str) -> None:
    cls = registry.method_class(name)
    images = synthetic_images(2, 40, 48)
    report = run_contract(cls, images, benchmark="mini-x")
    assert report.passed, [c for c in report.checks if c.passed is False]


def test_images_are_centre_crops_of_the_mini_suite(tmp_path: Path) -> None:
    images, note = mini_suite_images("mini-derain", 2, 48, 64, tmp_path / "no-data-needed")
    assert note == "mini-derain (centre crops 48x64)"
    files = sorted((REPO / "manifests" / "embedded" / "mini-derain" / "input").glob("*.png"))[:2]
    expected = []
    for file in files:
        array = np.asarray(Image.open(file).convert("RGB"), dtype=np.float32) / 255.0
        top, left = (array.shape[0] - 48) // 2, (array.shape[1] - 64) // 2
        expected.append(array[top : top + 48, left : left + 64].transpose(2, 0, 1))
    assert torch.equal(images, torch.from_numpy(np.stack(expected)))


def test_check_runs_on_the_mini_suite() -> None:
    result = CliRunner().invoke(app, ["--device", "cpu", "check", "median"])
    assert result.exit_code == 0, result.output
    assert "images: mini-derain (centre crops 48x64)" in result.output


def test_images_fall_back_to_synthetic_only_when_the_data_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(benchmark_module, "embedded_dir", lambda: tmp_path / "no-embedded-data")
    images, note = mini_suite_images("mini-derain", 2, 24, 32, tmp_path)
    assert images.shape == (2, 3, 24, 32) and images.dtype == torch.float32
    assert 0 <= float(images.min()) and float(images.max()) <= 1
    assert note.startswith("synthetic images 24x32 (mini suite unavailable: benchmark mini-derain")
    assert torch.equal(images, synthetic_images(2, 24, 32))


def test_other_data_errors_are_not_hidden(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError):
        mini_suite_images("no-such-benchmark", 2, 24, 32, tmp_path)
