"""Reference rows naming an average over benchmarks or method options: loading, validation and
"paper vs measured" against stored per-image results."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.paths import reports_dir
from harness.report.tables import load_reference, load_report_data, paper_vs_measured
from harness.runner import RunConfig, run
from harness.store import Store

HEADER = "method,variant,benchmark,metric,value,source,tolerance,options\n"


def _run(tmp_path: Path, suite: str, **options) -> tuple[Path, int]:
    store = tmp_path / "s.sqlite"
    config = RunConfig(
        method="jitter", suite=suite, device="cpu", workers=0, store_path=store, options=options
    )
    return store, run(config).run_id


def _means(store: Path, run_id: int, metric: str) -> dict[str, float]:
    """Per-benchmark mean of ``metric`` over the ok rows, straight from the SQLite file."""
    db = sqlite3.connect(store)
    rows = db.execute(
        "SELECT benchmark, metrics_json FROM results WHERE run_id = ? AND status = 'ok'", (run_id,)
    ).fetchall()
    db.close()
    values: dict[str, list[float]] = {}
    for bench, metrics in rows:
        values.setdefault(bench, []).append(json.loads(metrics)[metric])
    return {b: float(np.mean(v)) for b, v in values.items()}


def _compare(tmp_path: Path, store: Path, run_ids: list[int], rows: str):
    ref = tmp_path / "ref"
    ref.mkdir(exist_ok=True)
    (ref / "r.csv").write_text(HEADER + rows)
    with Store(store, readonly=True) as s:
        data = load_report_data(s, run_ids)
    return paper_vs_measured(data, load_reference(ref))


def test_an_average_is_the_mean_of_the_measured_benchmark_means(tmp_path, fixture_benchmarks):
    store, run_id = _run(tmp_path, "fx", foo=1)
    means = _means(store, run_id, "psnr")
    expected = (means["fx-derain"] + means["fx-dehaze"]) / 2
    # fx-dehaze has 5 scored images and fx-derain 7: a pooled image mean would differ
    db = sqlite3.connect(store)
    pooled = np.mean(
        [
            json.loads(m)["psnr"]
            for (m,) in db.execute("SELECT metrics_json FROM results WHERE status='ok'")
        ]
    )
    db.close()
    assert abs(pooled - expected) > 1e-6
    paper = _compare(
        tmp_path,
        store,
        [run_id],
        f"jitter,,mean:fx-derain+fx-dehaze,psnr,{expected + 0.3},t,0.5,\n",
    )
    (row,) = paper.itertuples()
    assert row.measured == pytest.approx(expected)
    assert row.difference == pytest.approx(-0.3)
    assert not row.beyond_tolerance and row.missing == ""


def test_a_missing_benchmark_of_an_average_is_named_not_averaged(tmp_path, fixture_benchmarks):
    store, run_id = _run(tmp_path, "fx-derain")
    paper = _compare(
        tmp_path, store, [run_id], "jitter,,mean:fx-derain+fx-dehaze,psnr,30.0,t,0.5,\n"
    )
    (row,) = paper.itertuples()
    assert row.missing == "fx-dehaze"
    assert math.isnan(row.measured) and math.isnan(row.difference)
    assert not row.beyond_tolerance


def test_a_row_with_options_is_compared_with_runs_made_with_them_only(tmp_path, fixture_benchmarks):
    store, one = _run(tmp_path, "fx-derain", foo=1)
    _, two = _run(tmp_path, "fx-derain", foo=2)
    means = _means(store, two, "ssim")
    paper = _compare(
        tmp_path,
        store,
        [one, two],
        "jitter,,fx-derain,ssim,0.5,with foo 2,0.01,foo=2\n"
        "jitter,,fx-derain,ssim,0.5,with foo 2.5,0.01,foo=2.5\n"
        "jitter,,fx-derain,ssim,0.5,any run,0.01,\n",
    )
    by_source = paper.groupby("source")["measured"].apply(list).to_dict()
    assert by_source["with foo 2"] == [pytest.approx(means["fx-derain"])]
    assert "with foo 2.5" not in by_source
    assert len(by_source["any run"]) == 2


def test_task_averages_resolve_to_the_suites_benchmarks_of_that_task(tmp_path):
    (tmp_path / "r.csv").write_text(
        HEADER
        + "diffuir,l,task:derain@universal,psnr,31.0,s,,\n"
        + "diffuir,l,task:desnow@universal,psnr,32.0,s,,\n"
        + "diffuir,l,task:derain@mini,psnr,31.0,s,,\n"
    )
    ref = load_reference(tmp_path)
    assert list(ref["members"]) == [
        ("rain100h", "rain100l", "test100", "test1200", "test2800"),
        ("snow100k-s", "snow100k-l"),
        ("mini-derain",),  # mini-zeroshot is a derain set too, but zero-shot
    ]


@pytest.mark.parametrize(
    ("cell", "options", "says"),
    [
        ("task:rain@universal", "", "unknown task 'rain'"),
        ("task:derain@nosuch", "", "unknown suite 'nosuch'"),
        ("task:derain", "", "task:<task>@<suite>"),
        ("task:udc@universal", "", "no universal-setting benchmark of task 'udc'"),
        ("mean:lol", "", "two or more benchmarks"),
        ("mean:lol+lol", "", "listed twice"),
        ("lol", "steps", "expected KEY=VALUE"),
    ],
)
def test_a_bad_row_is_refused_naming_file_and_row(tmp_path, cell, options, says):
    (tmp_path / "bad.csv").write_text(
        HEADER + "diffuir,l,lol,psnr,25.0,s,,\n" + f"diffuir,l,{cell},psnr,25.0,s,,{options}\n"
    )
    with pytest.raises(HarnessError, match=says) as caught:
        load_reference(tmp_path)
    assert f"bad.csv, row 2 (diffuir, {cell})" in str(caught.value)


def test_the_shipped_reference_tables_load_with_unknown_methods_kept(tmp_path, fixture_benchmarks):
    ref = load_reference(reports_dir() / "reference")
    udbm = ref[ref["file"] == "udbm-secondary.csv"]
    assert udbm["source"].str.startswith("secondary: UDBM").all()
    assert sorted(set(udbm["method"])) == ["airnet", "da-clip", "diffuir", "promptir", "restormer"]
    assert (udbm.groupby("method").size() == [10, 10, 17, 10, 10]).all()
    # rain and snow are listed; today they are the universal suite's rain and snow sets
    averaged = {m for m in udbm["members"] if len(m) > 1}
    tasks = "x,,task:derain@universal,psnr,1,s,,\nx,,task:desnow@universal,psnr,1,s,,\n"
    (tmp_path / "t.csv").write_text(HEADER + tasks)
    assert averaged == set(load_reference(tmp_path)["members"])
    singles = {m[0] for m in udbm["members"] if len(m) == 1}
    assert singles == {"lol", "sots-outdoor", "gopro"}
    steps = udbm[udbm["option_values"].map(bool)]
    assert [o["steps"] for o in steps["option_values"]] == [1, 3, 10, 20, 30, 50, 100]
    assert list(steps["value"]) == [24.45, 25.26, 24.81, 24.47, 24.28, 24.04, 23.78]
    assert set(steps["benchmark"]) == {"lol"}
    # a run of a method the references do not name: nothing breaks, nothing matches
    store, run_id = _run(tmp_path, "fx")
    with Store(store, readonly=True) as s:
        assert paper_vs_measured(load_report_data(s, [run_id]), ref).empty
