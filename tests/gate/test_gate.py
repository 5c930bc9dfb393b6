"""The gate: fails on a method made worse on purpose, passes on noise-level changes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from harness.gate import (
    BASELINE_FORMAT,
    Baseline,
    BenchmarkBaseline,
    ImageScores,
    RunBenchmark,
    compare,
)
from harness.runner import RunConfig, run
from tests.runner import fakes


def _run(tmp_path, method: str) -> int:
    cfg = RunConfig(
        method=method, suite=fakes.SUITE, device="cpu", workers=0, store_path=tmp_path / "s.sqlite"
    )
    return run(cfg).run_id


def _gate(tmp_path, *args: str):
    return CliRunner().invoke(
        app,
        [
            "gate",
            "--store",
            str(tmp_path / "s.sqlite"),
            "--baseline",
            str(tmp_path / "base.json"),
            *args,
        ],
    )


def test_gate_fails_on_a_worse_method_and_passes_on_noise(tmp_path, fixture_benchmarks):
    base = _run(tmp_path, "identity")
    r = _gate(tmp_path, str(base), "--update")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "base.json").read_text())
    assert doc["format"] == BASELINE_FORMAT and len(doc["benchmarks"]["fx-derain"]["images"]) == 7

    same = _gate(tmp_path, str(base))
    assert same.exit_code == 0, same.output

    noisy = _gate(tmp_path, str(_run(tmp_path, "jitter")))
    assert noisy.exit_code == 0, noisy.output
    assert "gate passed" in noisy.output

    worse = _gate(tmp_path, str(_run(tmp_path, "box-blur")))
    assert worse.exit_code == 1
    assert "FAIL" in worse.output and "fx-derain" in worse.output and "psnr" in worse.output


def _baseline(values: dict[str, list[float]]) -> Baseline:
    return Baseline(
        format=BASELINE_FORMAT,
        benchmarks={
            name: BenchmarkBaseline(
                protocol="p",
                protocol_signature="sig",
                data_digest="digest",
                images={f"{i:03d}": ImageScores(psnr=v) for i, v in enumerate(vals)},
            )
            for name, vals in values.items()
        },
    )


def _scores(values: dict[str, list[float]], signature: str = "sig") -> dict[str, RunBenchmark]:
    return {
        name: RunBenchmark(
            protocol="p",
            protocol_signature=signature,
            data_digest="digest",
            verified=True,
            images={f"{i:03d}": {"psnr": v} for i, v in enumerate(vals)},
        )
        for name, vals in values.items()
    }


def test_small_consistent_drop_fails_while_zero_mean_noise_passes():
    rng = np.random.default_rng(0)
    base = list(30 + rng.normal(0, 1, 30))
    drop = [v - 0.3 + rng.normal(0, 0.05) for v in base]
    noise = [v + rng.normal(0, 0.3) for v in base]
    (bad,) = compare(_baseline({"b": base}), _scores({"b": drop}))
    (fine,) = compare(_baseline({"b": base}), _scores({"b": noise}))
    assert bad.regression and bad.p_value < 1e-6 and bad.mean_drop == pytest.approx(0.3, abs=0.05)
    assert not fine.regression


def test_a_single_collapsed_image_cannot_hide_in_the_mean():
    base = [30.0] * 20
    new = [30.1] * 19 + [27.0]  # mean drop is negative (improvement) but one image lost 3 dB
    (row,) = compare(_baseline({"b": base}), _scores({"b": new}))
    assert -row.mean_drop == pytest.approx((19 * 0.1 - 3.0) / 20)
    assert row.regression and "dropped" in row.reason


def test_missing_images_and_other_protocols_are_caught():
    (row,) = compare(_baseline({"b": [30.0] * 6}), _scores({"b": [30.0] * 5}))
    assert row.regression and "1 baseline image(s) not scored" in row.reason
    with pytest.raises(HarnessError, match="not comparable"):
        compare(_baseline({"b": [30.0]}), _scores({"b": [30.0]}, signature="other"))


def test_wilcoxon_p_value_matches_the_exact_distribution():
    # all 6 differences negative: the exact one-sided p is 1/2**6
    (row,) = compare(
        _baseline({"b": [30.0] * 6}), _scores({"b": [29.0, 28.9, 28.8, 28.7, 28.6, 28.5]})
    )
    assert row.p_value == pytest.approx(1 / 2**6)
    assert math.isclose(row.mean_drop, 1.25)
