"""Report columns: one protocol per column, zero-shot grouped apart, data verification shown.

The store is written here through harness.store.Store, so every number is known in advance:

- "identity" scores bench-a under protocol p-online (22.0, 23.0: mean 22.5) and bench-z, a
  zero-shot benchmark whose data did not match its lock (10.0, 12.0: mean 11.0);
- "identity" again, under the override p-rgb, on bench-a (21.0, 21.3: mean 21.15);
- "strong" scores bench-a under p-online (25.0, 26.0: mean 25.5) and bench-old, a row stored
  before the setting column existed (NULL setting: counted as universal, task dehaze).

None of these benchmarks is in the catalog, so only the store can say which one is zero-shot.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.report import write_report
from harness.report.figures import psnr_per_task_table
from harness.report.tables import (
    footnotes,
    higher_is_better,
    load_report_data,
    main_table_text,
    main_tables,
    paper_vs_measured,
)
from harness.store import ImageResult, Store

SIG = {"p-online": "psnr:y|online", "p-rgb": "psnr:rgb|basicsr"}


def _add_run(
    store: Store,
    key: str,
    method: str,
    benches: list[tuple[str, str, str | None, str, bool | None, list[float]]],
    protocol: str | None = None,
) -> int:
    run_id, _ = store.start_run(
        key,
        {
            "method": method,
            "suite": "s",
            "seed": 0,
            "device": "cpu",
            "batch_size": 1,
            "protocol": protocol,
        },
        {},
        {},
    )
    for name, task, setting, proto, verified, values in benches:
        store.upsert_benchmark(
            run_id,
            name,
            {
                "task": task,
                "setting": setting,
                "protocol": proto,
                "protocol_signature": SIG[proto],
                "metrics": ("psnr",),
                "data_digest": f"digest-of-{name}-{key}",
                "pinned": verified is not None,
                "verified": verified,
                "n_pairs": len(values),
            },
        )
        for i, v in enumerate(values):
            store.add_result(run_id, ImageResult(name, f"{i:02d}", "ok", metrics={"psnr": v}))
    return run_id


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, list[int]]:
    path = tmp_path / "s.sqlite"
    with Store(path) as db:
        ids = [
            _add_run(
                db,
                "k1",
                "identity",
                [
                    ("bench-a", "derain", "universal", "p-online", True, [22.0, 23.0]),
                    ("bench-z", "derain", "zero-shot", "p-online", False, [10.0, 12.0]),
                ],
            ),
            _add_run(
                db,
                "k2",
                "identity",
                [("bench-a", "derain", "universal", "p-rgb", True, [21.0, 21.3])],
                protocol="p-rgb",
            ),
            _add_run(
                db,
                "k3",
                "strong",
                [
                    ("bench-a", "derain", "universal", "p-online", True, [25.0, 26.0]),
                    ("bench-old", "dehaze", None, "p-online", None, [20.0, 20.0]),
                ],
            ),
        ]
    return path, ids


def _table(path: Path, ids: list[int]):
    with Store(path) as db:
        data = load_report_data(db, ids)
    (table,) = main_tables(data)
    return data, table


def test_two_protocols_on_one_benchmark_get_two_columns(store) -> None:
    data, table = _table(*store)
    online = ("derain", "bench-a", "p-online", "psnr")
    rgb = ("derain", "bench-a", "p-rgb", "psnr")
    assert online in table.mean.columns and rgb in table.mean.columns
    assert table.mean.loc["identity #1", online] == pytest.approx(22.5)
    assert table.mean.loc["identity #2", rgb] == pytest.approx(21.15)
    assert math.isnan(table.mean.loc["identity #2", online])  # never mixed into p-online
    assert math.isnan(table.mean.loc["identity #1", rgb])
    # best only within one protocol: p-rgb, bench-z and bench-old hold one value each, so no best
    assert table.best == {online: "strong"}
    assert table.signatures == {
        ("bench-a", "p-online"): SIG["p-online"],
        ("bench-a", "p-rgb"): SIG["p-rgb"],
        ("bench-z", "p-online"): SIG["p-online"],
        ("bench-old", "p-online"): SIG["p-online"],
    }


def test_zero_shot_benchmarks_are_grouped_apart_from_the_stored_setting(store) -> None:
    data, table = _table(*store)
    groups = [c[0] for c in table.mean.columns]
    assert ("zero-shot", "bench-z", "p-online", "psnr") in table.mean.columns
    assert "dehaze" in groups  # NULL setting counts as universal: grouped under its task
    assert groups[-1] == "zero-shot"  # after every task
    figure = psnr_per_task_table(data)
    assert figure.loc["zero-shot", "identity #1"] == pytest.approx(11.0)
    assert figure.loc["derain", "identity #1"] == pytest.approx(22.5)
    assert figure.loc["dehaze", "strong"] == pytest.approx(20.0)


def test_unverified_data_is_marked_in_cells_footnotes_and_html(store, tmp_path: Path) -> None:
    path, ids = store
    data, table = _table(path, ids)
    text = main_table_text(table)
    assert text.loc["identity #1", ("zero-shot", "bench-z", "p-online", "psnr")].endswith("†")
    assert not text.loc["identity #1", ("derain", "bench-a", "p-online", "psnr")].endswith("†")
    notes = "\n".join(footnotes(table))
    assert "bench-z [p-online]: psnr:y|online; data unverified" in notes
    assert "bench-a [p-rgb]: psnr:rgb|basicsr; data verified" in notes
    assert "bench-old [p-online]: psnr:y|online; data not pinned" in notes

    out = tmp_path / "rep"
    write_report(path, ids, out, ("html", "md", "csv", "latex"))
    md = (out / "report.md").read_text()
    assert "zero-shot / bench-z / p-online / psnr" in md
    assert "bench-z [p-online]: psnr:y|online; data unverified" in md
    html = (out / "index.html").read_text()
    assert "bench-a [p-rgb]: psnr:rgb|basicsr" in html
    assert html.count(">zero-shot</th>") == 1
    assert "did not match the lock" in html
    main = pd.read_csv(out / "main.csv")
    row = main[(main["benchmark"] == "bench-a") & (main["method"] == "identity #2")]
    assert set(row["protocol"]) == {"p-online", "p-rgb"}
    rgb = row[row["protocol"] == "p-rgb"]
    assert rgb["mean"].item() == pytest.approx(21.15)
    assert rgb["protocol_signature"].item() == SIG["p-rgb"]
    tex = (out / "report.tex").read_text()
    assert "\\textbf{25.50 [" in tex and "21.15 [" in tex and "\\textbf{21.15" not in tex


def test_paper_vs_measured_uses_the_gate_tolerance_by_default(store) -> None:
    data, _ = _table(*store)
    reference = pd.DataFrame(
        [
            {
                "method": "strong",
                "variant": None,
                "benchmark": "bench-a",
                "metric": "psnr",
                "value": 25.45,
                "source": "test",
            }
        ]
    )
    (row,) = paper_vs_measured(data, reference).to_dict("records")
    assert row["tolerance"] == 0.1 and not row["beyond_tolerance"]
    assert row["protocol"] == "p-online"


def test_metric_direction_comes_from_the_protocol_module_and_unknown_fails() -> None:
    assert higher_is_better("psnr") and higher_is_better("ssim")
    assert not higher_is_better("niqe") and not higher_is_better("loe")
    with pytest.raises(HarnessError, match="brisque"):
        higher_is_better("brisque")


def test_a_run_stopped_before_its_first_benchmark_still_reports(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as db:
        run_id = _add_run(db, "k", "stopped", [])
    files = write_report(path, [run_id], tmp_path / "rep", ("html", "md", "csv", "latex", "json"))
    assert len(files) == 5
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "Run 1: stopped" in html and '<table class="main"' not in html
