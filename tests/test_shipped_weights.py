"""The shipped diffuir-t-mini weights on the embedded mini suite: the CI gate and issue 7's claims.

One DiffUIR run and the classical runs are made once per session through the real CLI, then:
- the regression gate passes against the committed baseline (reports/baselines/mini.json);
- DiffUIR beats identity (no restoration) on every task and on the five-task mean: by more than
  1 dB on derain, desnow, dehaze and low light, but on mini-deblur only narrowly (27.35 vs 27.27 dB
  when trained, four of five images better), so that margin is asserted as what it is;
- DiffUIR beats every classical baseline on mean PSNR over the five tasks;
- the weights file is the one the weights manifest pins;
- promptir-tiny-mini (issue 13's equal-budget baseline) beats identity on every task, and stands
  against diffuir-t-mini as the README's table says.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.paths import REPO_ROOT

TASK_BENCHMARKS = ("mini-derain", "mini-desnow", "mini-dehaze", "mini-deblur", "mini-lowlight")
CLASSICAL = ("dcp", "lime", "richardson-lucy", "median")


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "harness", "--device", "cpu", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=1800,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mini-store") / "results.sqlite"
    runs = [["diffuir"], ["promptir", "--variant", "tiny"], ["identity"], *([m] for m in CLASSICAL)]
    for method, *variant in runs:
        _harness(
            "run",
            "--method",
            method,
            *variant,
            "--suite",
            "mini",
            "--store",
            str(path),
            "--no-report",
            "--workers",
            "0",
        )
    return path


def _mean_psnr(store: Path) -> dict[tuple[str, str], float]:
    con = sqlite3.connect(store)
    methods = dict(con.execute("select run_id, method from runs"))
    values: dict[tuple[str, str], list[float]] = {}
    for run_id, bench, metrics in con.execute(
        "select run_id, benchmark, metrics_json from results where status = 'ok'"
    ):
        psnr = json.loads(metrics).get("psnr")
        if psnr is not None:
            values.setdefault((methods[run_id], bench), []).append(float(psnr))
    return {k: sum(v) / len(v) for k, v in values.items()}


def test_gate_passes_against_the_committed_baseline(store: Path) -> None:
    con = sqlite3.connect(store)
    (run_id,) = con.execute("select run_id from runs where method = 'diffuir'").fetchone()
    out = _harness(
        "gate",
        str(run_id),
        "--store",
        str(store),
        "--baseline",
        str(REPO_ROOT / "reports" / "baselines" / "mini.json"),
    )
    assert "gate passed" in out.stdout


def _image_psnr(store: Path, method: str, bench: str) -> dict[str, float]:
    con = sqlite3.connect(store)
    (run_id,) = con.execute("select run_id from runs where method = ?", (method,)).fetchone()
    rows = con.execute(
        "select image_id, metrics_json from results where run_id = ? and benchmark = ?",
        (run_id, bench),
    )
    return {image: float(json.loads(metrics)["psnr"]) for image, metrics in rows}


def test_diffuir_beats_identity_on_every_task(store: Path) -> None:
    psnr = _mean_psnr(store)
    for bench in ("mini-derain", "mini-desnow", "mini-dehaze", "mini-lowlight"):
        assert psnr[("diffuir", bench)] > psnr[("identity", bench)] + 1.0, bench
    # deblurring is the weak task: a small but real gain, on most images rather than one outlier
    assert psnr[("diffuir", "mini-deblur")] > psnr[("identity", "mini-deblur")] + 0.05
    ours = _image_psnr(store, "diffuir", "mini-deblur")
    plain = _image_psnr(store, "identity", "mini-deblur")
    assert sum(ours[i] > plain[i] for i in plain) >= 4


def test_diffuir_beats_identity_on_the_five_task_mean(store: Path) -> None:
    psnr = _mean_psnr(store)
    mean = {m: sum(psnr[(m, b)] for b in TASK_BENCHMARKS) / 5 for m in ("diffuir", "identity")}
    assert mean["diffuir"] > mean["identity"] + 3.0


def test_diffuir_beats_every_classical_baseline_on_the_five_task_mean(store: Path) -> None:
    psnr = _mean_psnr(store)

    def mean(method: str) -> float:
        return sum(psnr[(method, b)] for b in TASK_BENCHMARKS) / len(TASK_BENCHMARKS)

    for method in CLASSICAL:
        assert mean("diffuir") > mean(method), method


def test_shipped_weights_match_the_manifest() -> None:
    manifest = yaml.safe_load((REPO_ROOT / "baselines" / "diffuir" / "weights.yaml").read_text())
    entries = manifest["weights"] if isinstance(manifest, dict) else manifest
    entry = next(e for e in entries if e["name"] == "diffuir-t-mini")
    path = REPO_ROOT / entry["file"]
    assert path.is_file()
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["default"] is True and entry["variant"] == "t"


def test_runs_record_whether_the_training_setting_covers_each_benchmark(store: Path) -> None:
    con = sqlite3.connect(store)
    rows = con.execute(
        "select r.method, b.benchmark, b.in_setting from run_benchmarks b "
        "join runs r on r.run_id = b.run_id"
    ).fetchall()
    # diffuir-t-mini declares the five tasks: mini-zeroshot mixes haze and rain (both in them);
    # mini-real also lists noise, defocus and a colour cast (outside them). Classical methods
    # declare no training setting.
    diffuir = {bench: flag for method, bench, flag in rows if method == "diffuir"}
    assert diffuir == {**dict.fromkeys((*TASK_BENCHMARKS, "mini-zeroshot"), 1), "mini-real": 0}
    promptir = {bench: flag for method, bench, flag in rows if method == "promptir"}
    assert promptir == diffuir  # the same declared setting
    assert {flag for method, _, flag in rows if method not in ("diffuir", "promptir")} == {None}


def test_promptir_tiny_mini_beats_identity_on_every_task(store: Path) -> None:
    psnr = _mean_psnr(store)
    for bench in ("mini-derain", "mini-desnow", "mini-dehaze", "mini-lowlight"):
        assert psnr[("promptir", bench)] > psnr[("identity", bench)] + 1.0, bench
    # on the mild blur the gain is tiny (README: +0.04 dB, three of five images better)
    assert psnr[("promptir", "mini-deblur")] > psnr[("identity", "mini-deblur")]
    ours = _image_psnr(store, "promptir", "mini-deblur")
    plain = _image_psnr(store, "identity", "mini-deblur")
    assert sum(ours[i] > plain[i] for i in plain) >= 3


def test_promptir_tiny_mini_against_diffuir_t_mini_as_the_readme_says(store: Path) -> None:
    psnr = _mean_psnr(store)

    def mean(method: str) -> float:
        return sum(psnr[(method, b)] for b in TASK_BENCHMARKS) / len(TASK_BENCHMARKS)

    assert 0.2 < mean("promptir") - mean("diffuir") < 0.5
    for bench in ("mini-dehaze", "mini-lowlight"):
        assert psnr[("promptir", bench)] > psnr[("diffuir", bench)] + 1.0, bench
    for bench in ("mini-derain", "mini-desnow", "mini-zeroshot"):
        assert psnr[("promptir", bench)] < psnr[("diffuir", bench)], bench
    for method in CLASSICAL:
        assert mean("promptir") > mean(method), method


def test_promptir_tiny_mini_is_pinned_and_within_the_equal_budget() -> None:
    from safetensors.torch import load_file

    manifest = yaml.safe_load((REPO_ROOT / "baselines" / "promptir" / "weights.yaml").read_text())
    entry = next(e for e in manifest["weights"] if e["name"] == "promptir-tiny-mini")
    path = REPO_ROOT / entry["file"]
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["size"] == path.stat().st_size
    assert entry["default"] is True and entry["variant"] == "tiny"
    # issue 13: within 2x DiffUIR-T's 886,435 parameters, trained like diffuir-t-mini's first run
    assert sum(t.numel() for t in load_file(path).values()) < 2 * 886_435
    diffuir = yaml.safe_load((REPO_ROOT / "baselines" / "diffuir" / "weights.yaml").read_text())
    first = next(e for e in diffuir["weights"] if e["name"] == "diffuir-t-mini")
    first_run = first["training"]["stages"][0]
    assert entry["training"]["steps"] == first_run["steps"]
    for flag in ("--train-suite mini-train", "--crop 48", "--batch-per-task 2", "--steps 8400"):
        assert flag in " ".join(first_run["command"].split())
        assert flag in " ".join(entry["training"]["command"].split())
