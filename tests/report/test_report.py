"""Reports: every format from a real run, bootstrap CI, best in bold, failures shown, browser render."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.report import write_report
from harness.report.tables import bootstrap_ci
from harness.runner import RunConfig, run
from tests.report.browser import render
from tests.runner import fakes


@pytest.fixture
def two_runs(tmp_path, fixture_benchmarks) -> tuple[Path, list[int]]:
    store = tmp_path / "s.sqlite"
    ids = []
    for method in ("identity", "box-blur"):
        cfg = RunConfig(
            method=method,
            suite=fakes.SUITE,
            device="cpu",
            workers=0,
            store_path=store,
            images_dir=tmp_path / "out",
            save_images=True,
        )
        ids.append(run(cfg).run_id)
    return store, ids


def test_bootstrap_ci_matches_the_normal_approximation():
    values = np.random.default_rng(1).normal(30.0, 2.0, size=400)
    lo, hi = bootstrap_ci(values)
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert lo < values.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)
    assert bootstrap_ci(values) == (lo, hi)  # seeded
    assert bootstrap_ci(np.full(5, 3.0)) == (3.0, 3.0)


def test_every_format_is_written_with_the_right_numbers(two_runs, tmp_path, fixture_benchmarks):
    store, ids = two_runs
    out = tmp_path / "rep"
    files = write_report(store, ids, out, ("html", "md", "csv", "latex", "json"))
    assert set(files) == {"html", "md", "csv", "latex", "json"}

    main = pd.read_csv(out / "main.csv")
    per_image = pd.read_csv(out / "per_image.csv")
    # the mean in the main table is the plain mean of the per-image values
    for (method, bench), group in per_image[per_image["status"] == "ok"].groupby(
        ["method", "benchmark"]
    ):
        row = main[
            (main["method"] == method) & (main["benchmark"] == bench) & (main["metric"] == "psnr")
        ]
        assert row["mean"].item() == pytest.approx(group["psnr"].mean())
        assert row["ci_low"].item() <= row["mean"].item() <= row["ci_high"].item()
    # identity beats the blur on these noise-textured fixtures; failed first, then worst first
    assert (
        per_image.iloc[0]["status"] == "failed" and "cannot decode" in per_image.iloc[0]["reason"]
    )
    ok = per_image[per_image["status"] == "ok"]
    assert list(ok["psnr"]) == sorted(ok["psnr"])

    tex = (out / "report.tex").read_text()
    best = main[main["metric"] == "psnr"].groupby("benchmark")["mean"].max()
    for value in best:
        assert f"\\textbf{{{value:.2f}" in tex
    assert "fx-rgb: RGB uint8" in tex

    md = (out / "report.md").read_text()
    assert "(1 failed)" in md and "fx-dehaze" in md

    doc = json.loads((out / "report.json").read_text())
    assert {r["method"] for r in doc["runs"]} == {"identity", "box-blur"}
    assert len(doc["per_image"]) == 2 * 13

    html = (out / "index.html").read_text()
    assert html.count('<table class="main"') == 1
    assert "<b>" in html and "1 failed" in html
    assert "fx-rgb: RGB uint8" in html  # protocol signature under the table
    assert "fixture-digest" in html  # data digest in the provenance
    srcs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(srcs) >= 4 + 3  # figures + one gallery tile (input, output, GT)
    for src in srcs:  # every embedded image decodes
        Image.open(io.BytesIO(base64.b64decode(src))).verify()


def test_paper_vs_measured_flags_differences_beyond_tolerance(
    two_runs, tmp_path, fixture_benchmarks
):
    store, ids = two_runs
    ref = tmp_path / "ref"
    ref.mkdir()
    per_image = None
    write_report(store, ids, tmp_path / "a", ("csv",), reference_dir=ref)
    per_image = pd.read_csv(tmp_path / "a" / "per_image.csv")
    measured = per_image[
        (per_image["method"] == "identity") & (per_image["benchmark"] == "fx-derain")
    ]["psnr"].mean()
    (ref / "paper.csv").write_text(
        "method,variant,benchmark,metric,value,source,tolerance\n"
        f"identity,,fx-derain,psnr,{measured + 0.05:.6f},test table A,0.1\n"
        f"identity,,fx-derain,ssim,0.5,test table B,0.01\n"
    )
    write_report(store, ids, tmp_path / "b", ("csv", "html"), reference_dir=ref)
    paper = pd.read_csv(tmp_path / "b" / "paper_vs_measured.csv").set_index("metric")
    assert paper.loc["psnr", "difference"] == pytest.approx(-0.05, abs=1e-5)
    assert not paper.loc["psnr", "beyond_tolerance"]
    assert paper.loc["ssim", "beyond_tolerance"]
    assert "test table B" in (tmp_path / "b" / "index.html").read_text()


def test_shipped_reference_tables_have_sources():
    from harness.paths import reports_dir
    from harness.report.tables import load_reference

    ref = load_reference(reports_dir() / "reference")
    assert ref["source"].notna().all()
    assert ref["source"].str.contains("secondary").all()


@pytest.mark.browser
def test_html_renders_in_headless_chromium_without_console_errors(two_runs, tmp_path):
    store, ids = two_runs
    index = write_report(store, ids, tmp_path / "rep", ("html",))["html"][0]
    dom, console = render(index, tmp_path / "profile")
    assert console == [], console
    assert dom.count("<table") >= 4  # main, complexity, per-image, provenance
    assert dom.count("data:image/png;base64,") >= 7
    assert "uir-harness report" in dom and "cannot decode" in dom
