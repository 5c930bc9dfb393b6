"""``harness compare`` and the report's paired comparison, checked against numbers the test
computes itself from the stored per-image values (sign test with math.comb, plain means)."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.report import write_report
from harness.report.paired import (
    ROW_COLUMNS,
    PairedComparison,
    paired_row,
    paired_text,
    sign_test,
)
from harness.runner import RunConfig, run
from tests.report.browser import render

MINI_BENCHMARKS = (
    "mini-deblur",
    "mini-dehaze",
    "mini-derain",
    "mini-desnow",
    "mini-lowlight",
    "mini-real",
    "mini-zeroshot",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """One store: identity and median on the mini suite, and a few single-benchmark runs."""
    path = tmp_path_factory.mktemp("compare") / "s.sqlite"
    runs = {
        "identity": {"method": "identity", "suite": "mini"},
        "median": {"method": "median", "suite": "mini"},
        "identity-basicsr": {"method": "identity", "suite": "mini-derain", "protocol": "basicsr-y"},
        "identity-limit2": {"method": "identity", "suite": "mini-derain", "limit": 2},
        "median-derain": {"method": "median", "suite": "mini-derain"},
    }
    ids = {
        name: run(RunConfig(**kw, device="cpu", workers=0, flops=False, store_path=path)).run_id
        for name, kw in runs.items()
    }
    assert len(set(ids.values())) == len(runs)  # --limit alone would resume a run, not add one
    return path, ids


def _compare(path: Path, *args: object) -> object:
    return CliRunner().invoke(app, ["compare", *map(str, args), "--store", str(path)])


def _stored(path: Path, run_id: int, benchmark: str, metric: str) -> dict[str, float]:
    """image id -> value of the run's ok rows, read straight from SQLite."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT image_id, metrics_json FROM results WHERE run_id = ? AND benchmark = ? "
            "AND status = 'ok'",
            (run_id, benchmark),
        ).fetchall()
    return {image: json.loads(m)[metric] for image, m in rows}


def _exact_sign_p(wins: int, losses: int) -> float:
    n = wins + losses
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def test_sign_test_drops_ties_and_is_exact():
    # 3 up, 1 down, 2 ties: n = 4, P(X <= 1) = 5/16, two-sided 10/16
    assert sign_test(np.array([0.5, 2.0, 1e-9, 0.0, 0.0, -3.0])) == pytest.approx(10 / 16)
    assert sign_test(np.zeros(4)) == 1.0
    assert sign_test(np.full(10, -1.0)) == pytest.approx(2 / 2**10)


def test_compare_matches_an_independent_computation(store):
    path, ids = store
    a, b = ids["identity"], ids["median"]
    result = _compare(path, a, b, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rows = {(r["benchmark"], r["metric"]): r for r in doc["rows"]}
    assert {bench for bench, _ in rows} == set(MINI_BENCHMARKS)
    assert doc["left_out"] == {}
    for bench in MINI_BENCHMARKS:
        metrics = ("niqe",) if bench == "mini-real" else ("psnr", "ssim")
        for metric in metrics:
            va, vb = _stored(path, a, bench, metric), _stored(path, b, bench, metric)
            common = sorted(set(va) & set(vb))
            diffs = [vb[i] - va[i] for i in common]
            up = sum(d > 0 for d in diffs)
            down = sum(d < 0 for d in diffs)
            row = rows[(bench, metric)]
            assert row["n"] == len(common) > 0
            assert row["p_value"] == pytest.approx(_exact_sign_p(up, down), rel=1e-12)
            assert row["difference"] == pytest.approx(sum(diffs) / len(diffs), rel=1e-12)
            assert row["mean_b"] - row["mean_a"] == pytest.approx(row["difference"])
            # NIQE: lower is better, so B is better where its value is smaller
            better = (down, up) if metric == "niqe" else (up, down)
            assert (row["b_better"], row["a_better"]) == better
            assert row["ci_low"] <= row["difference"] <= row["ci_high"]
            assert row["significant"] == (_exact_sign_p(up, down) < 0.05)
    # identity leaves the rain in; the median filter removes some of it on every image
    assert rows[("mini-derain", "psnr")]["b_better"] == rows[("mini-derain", "psnr")]["n"]


def test_bootstrap_interval_is_the_seeded_paired_bootstrap(store):
    path, ids = store
    a, b = ids["identity"], ids["median"]
    first = _compare(path, a, b, "--json", "--metric", "psnr")
    again = _compare(path, a, b, "--json", "--metric", "psnr")
    assert first.exit_code == 0, first.output
    assert first.stdout == again.stdout
    rows = {r["benchmark"]: r for r in json.loads(first.stdout)["rows"]}
    assert {r["metric"] for r in rows.values()} == {"psnr"}
    va, vb = _stored(path, a, "mini-desnow", "psnr"), _stored(path, b, "mini-desnow", "psnr")
    d = np.array([vb[i] - va[i] for i in sorted(va)])
    # the documented convention: 2000 resamples of the images, default_rng(0), 95% percentile
    idx = np.random.default_rng(0).integers(0, d.size, size=(2000, d.size))
    lo, hi = np.quantile(d[idx].mean(axis=1), [0.025, 0.975])
    assert (rows["mini-desnow"]["ci_low"], rows["mini-desnow"]["ci_high"]) == pytest.approx(
        (lo, hi), rel=1e-12
    )


def test_table_marks_every_difference_that_is_not_significant(store):
    path, ids = store
    result = _compare(path, ids["identity"], ids["median"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("| mini-")]
    assert len(lines) == 13  # 6 benchmarks x (PSNR, SSIM) + NIQE
    # at most 5 images per benchmark: the smallest two-sided sign-test p is 2/2**5 > 0.05
    assert _exact_sign_p(5, 0) > 0.05
    assert all(" n.s. |" in line for line in lines)
    assert "n.s. not significant: p >= 0.05" in result.stdout


def test_only_common_benchmarks_are_compared_and_the_others_named(store):
    path, ids = store
    result = _compare(path, ids["identity"], ids["median-derain"], "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {r["benchmark"] for r in doc["rows"]} == {"mini-derain"}
    assert set(doc["left_out"]) == set(MINI_BENCHMARKS) - {"mini-derain"}
    assert all(f"only run {ids['identity']}" in why for why in doc["left_out"].values())
    text = _compare(path, ids["identity"], ids["median-derain"]).stdout
    assert "mini-real: left out, only run" in text


def test_another_protocol_is_refused_naming_the_benchmark(store):
    path, ids = store
    result = _compare(path, ids["identity"], ids["identity-basicsr"])
    assert result.exit_code == 1
    message = str(result.exception)
    assert "mini-derain:" in message
    assert "'diffuir-online'" in message and "'basicsr-y'" in message


def test_another_image_set_is_refused_naming_the_benchmark(store):
    path, ids = store
    a, b = ids["median-derain"], ids["identity-limit2"]
    # both scored verified data, so both store the lock's digest: only the image sets differ
    result = _compare(path, a, b)
    assert result.exit_code == 1
    message = str(result.exception)
    assert "mini-derain:" in message
    assert f"run {a} holds 5 image(s) and run {b} 2" in message
    with sqlite3.connect(path) as db:
        only_a = {
            i
            for (i,) in db.execute(
                "SELECT image_id FROM results WHERE run_id = ? EXCEPT "
                "SELECT image_id FROM results WHERE run_id = ?",
                (a, b),
            )
        }
    assert len(only_a) == 3 and all(i in message for i in only_a)


def test_a_tampered_digest_is_refused_naming_that_benchmark(store, tmp_path):
    path, ids = store
    copy = tmp_path / "tampered.sqlite"
    shutil.copy(path, copy)
    forged = "f" * 64
    with sqlite3.connect(copy) as db:
        db.execute(
            "UPDATE run_benchmarks SET data_digest = ? WHERE run_id = ? AND benchmark = ?",
            (forged, ids["median"], "mini-deblur"),
        )
    result = _compare(copy, ids["identity"], ids["median"])
    assert result.exit_code == 1
    message = str(result.exception)
    with sqlite3.connect(path) as db:
        (kept,) = db.execute(
            "SELECT data_digest FROM run_benchmarks WHERE run_id = ? AND benchmark = ?",
            (ids["identity"], "mini-deblur"),
        ).fetchone()
    assert "mini-deblur:" in message and forged in message and kept in message
    assert not any(f"{bench}:" in message for bench in MINI_BENCHMARKS if bench != "mini-deblur")


def test_same_run_twice_and_unknown_metric_are_refused(store):
    path, ids = store
    same = _compare(path, ids["identity"], ids["identity"])
    assert same.exit_code == 1 and "both A and B" in str(same.exception)
    unknown = _compare(path, ids["identity"], ids["median"], "--metric", "loe")
    assert unknown.exit_code == 1 and "loe" in str(unknown.exception)


def test_reports_show_the_paired_comparison(store, tmp_path):
    path, ids = store
    files = write_report(path, [ids["identity"], ids["median"]], tmp_path / "r", ("html", "md"))
    html = files["html"][0].read_text()
    md = files["md"][0].read_text()
    assert '<h2 id="paired">Paired comparison</h2>' in html
    assert html.count(" n.s.</td>") == 13
    assert "## Paired comparison" in md and md.count(" n.s. |") == 13
    single = write_report(path, [ids["identity"]], tmp_path / "one", ("html",))["html"][0]
    assert "Paired comparison" not in single.read_text()
    # a pair that cannot be compared says why instead of failing the report
    refused = write_report(
        path, [ids["identity"], ids["identity-basicsr"]], tmp_path / "no", ("html",)
    )["html"][0].read_text()
    assert "not compared: runs" in refused and "mini-derain: run" in refused


@pytest.mark.browser
def test_paired_section_renders_in_headless_chromium_without_console_errors(store, tmp_path):
    path, ids = store
    index = write_report(path, [ids["identity"], ids["median"]], tmp_path / "rep", ("html",))
    dom, console = render(index["html"][0], tmp_path / "profile")
    assert console == [], console
    assert "Paired comparison" in dom
    assert dom.count("p (sign test)") == 1


def test_only_differences_with_p_below_alpha_go_unmarked():
    a = np.arange(10, dtype=float)
    rows = [
        paired_row(a, a + 1.0, "psnr") | {"benchmark": "x", "protocol": "p", "unpaired": 0},
        paired_row(a, a + [1.0, -1.0] * 5, "psnr")
        | {"benchmark": "y", "protocol": "p", "unpaired": 0},
    ]
    comp = PairedComparison(1, 2, "a", "b", pd.DataFrame(rows, columns=list(ROW_COLUMNS)))
    text = paired_text(comp).set_index("benchmark")["B - A [95% CI]"]
    assert _exact_sign_p(10, 0) < 0.05 <= _exact_sign_p(5, 5)
    assert text["x"] == "1.00"  # every image +1: the interval is the point, significant
    assert text["y"].endswith(" n.s.")
