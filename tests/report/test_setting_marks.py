"""Out-of-setting cells and task-routed rows: recorded by the runner, marked in every format, and
task-routed rows never "best".

Runs of the runner's fake restorers on the fixture suite (fx-derain lists degradation rain,
fx-dehaze is judged by its task): "task-routed" (blind = False, identity), "trained" (identity
whose checkpoint declares tasks = derain: fx-dehaze is out of its setting) and "box-blur" (no
training setting: nothing marked). task-routed and trained restore identically, and task-routed
runs first, so a "best" that did not skip task-routed rows would pick it on every tie.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from harness.report import write_report
from harness.report.tables import (
    OUT_OF_SETTING_MARK,
    TASK_ROUTED_MARK,
    load_report_data,
    main_tables,
)
from harness.runner import RunConfig, run
from harness.store import ImageResult, Store
from tests.runner import fakes

RUNS = (("task-routed", {}), ("trained", {"tasks": "derain"}), ("box-blur", {}))


@pytest.fixture
def marked_runs(tmp_path, fixture_benchmarks) -> tuple[Path, list[int]]:
    store = tmp_path / "s.sqlite"
    ids = []
    for method, options in RUNS:
        cfg = RunConfig(
            method=method,
            suite=fakes.SUITE,
            device="cpu",
            workers=0,
            flops=False,
            store_path=store,
            options=options,
        )
        ids.append(run(cfg).run_id)
    return store, ids


def _md_rows(md: str) -> tuple[list[str], dict[str, list[str]]]:
    """Header cells and rows (by first cell) of the first Markdown table in ``md``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip().strip("|").split("|")])
    header, body = table[0], table[2:]
    return header, {cells[0]: cells for cells in body}


def test_columns_and_markers_in_every_format(marked_runs, tmp_path) -> None:
    store, ids = marked_runs
    out = tmp_path / "rep"
    write_report(store, ids, out, ("html", "md", "csv", "latex", "json"))

    main = pd.read_csv(out / "main.csv")
    flags = main.groupby(["method", "benchmark"])["in_setting"].first()
    assert flags[("trained", "fx-derain")] == True  # noqa: E712 (numpy bool)
    assert flags[("trained", "fx-dehaze")] == False  # noqa: E712
    assert flags[["task-routed", "box-blur"]].isna().all()
    routed = main.groupby("method")["task_routed"].first()
    assert routed.to_dict() == {"task-routed": True, "trained": False, "box-blur": False}

    doc = json.loads((out / "report.json").read_text())
    assert {r["method"]: r["blind"] for r in doc["runs"]} == {
        "task-routed": 0,
        "trained": 1,
        "box-blur": 1,
    }
    cell = next(
        r
        for r in doc["main"][fakes.SUITE]
        if r["method"] == "trained" and r["benchmark"] == "fx-dehaze"
    )
    assert cell["in_setting"] is False and cell["task_routed"] is False

    md = (out / "report.md").read_text()
    header, rows = _md_rows(md)
    assert set(rows) == {f"task-routed {TASK_ROUTED_MARK}", "trained", "box-blur"}
    for name, value in zip(header, rows["trained"], strict=True):
        if "fx-dehaze" in name:
            assert value.endswith(OUT_OF_SETTING_MARK), (name, value)
        elif "fx-derain" in name:
            assert OUT_OF_SETTING_MARK not in value, (name, value)
    assert not any(
        OUT_OF_SETTING_MARK in v for v in rows["box-blur"] + rows[f"task-routed {TASK_ROUTED_MARK}"]
    )
    assert f"{OUT_OF_SETTING_MARK} out of setting:" in md
    assert f"{TASK_ROUTED_MARK} task-routed:" in md and "never marked best" in md

    html = (out / "index.html").read_text()
    oos = re.findall(r'<td class="oos" title="out of setting[^"]*">(.*?)</td>', html)
    assert len(oos) == 2  # trained on fx-dehaze: psnr and ssim
    assert all(OUT_OF_SETTING_MARK in c for c in oos)
    assert html.count('<td class="oos"') == 2
    assert re.search(
        rf'<tr class="task-routed"><th title="task-routed:[^"]*">task-routed '
        rf'<span class="mark">{TASK_ROUTED_MARK}</span></th>',
        html,
    )
    assert html.count('<tr class="task-routed">') == 1
    assert "out of setting: the checkpoint was not trained" in html  # legend under the table

    tex = (out / "report.tex").read_text()
    assert "task-routed$^\\ddagger$ &" in tex
    assert tex.count("$^\\S$") == 2 + 1  # two cells and the legend


def test_task_routed_rows_are_never_best(marked_runs) -> None:
    store, ids = marked_runs
    with Store(store, readonly=True) as db:
        (table,) = main_tables(load_report_data(db, ids))
    assert table.task_routed == {"task-routed"}
    assert table.best  # every column has a best...
    assert set(table.best.values()) == {"trained"}  # ...never the tied task-routed row
    tied = table.mean.loc["task-routed"] == table.mean.loc["trained"]
    assert tied.all()


def test_out_of_setting_cells_still_compete_for_best(tmp_path) -> None:
    # hand-made store: "general" is out of setting on bench-h yet best there; "routed" (not
    # blind) is highest everywhere and best nowhere; "old" has NULL flags (stored before them)
    path = tmp_path / "s.sqlite"
    runs = {
        "general": (True, {"bench-r": (True, [20.0, 22.0]), "bench-h": (False, [30.0, 31.0])}),
        "routed": (False, {"bench-r": (None, [25.0, 26.0]), "bench-h": (None, [40.0, 41.0])}),
        "old": (None, {"bench-r": (None, [19.0, 19.5]), "bench-h": (None, [10.0, 12.0])}),
    }
    with Store(path) as db:
        for key, (method, (blind, benches)) in enumerate(runs.items()):
            fields = {"method": method, "suite": "s", "seed": 0, "device": "cpu"}
            run_id, _ = db.start_run(str(key), {**fields, "batch_size": 1, "blind": blind}, {}, {})
            for bench, (in_setting, values) in benches.items():
                info = {"task": "derain", "protocol": "p", "protocol_signature": "sig"}
                info.update(metrics=("psnr",), in_setting=in_setting)
                db.upsert_benchmark(run_id, bench, info)
                for i, v in enumerate(values):
                    db.add_result(run_id, ImageResult(bench, str(i), "ok", metrics={"psnr": v}))
    with Store(path, readonly=True) as db:
        (table,) = main_tables(load_report_data(db, [1, 2, 3]))
    assert table.best == {
        ("derain", "bench-h", "p", "psnr"): "general",  # 30.5, out of setting, still best
        ("derain", "bench-r", "p", "psnr"): "general",  # 21.0 beats 19.25; routed's 25.5 skipped
    }
    assert table.in_setting == {("general", "bench-r"): True, ("general", "bench-h"): False}
    assert table.task_routed == {"routed"}
