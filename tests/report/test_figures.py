"""Report figures: zero-shot benchmarks get their own group in the per-task chart."""

from __future__ import annotations

import pandas as pd

from harness.report.figures import psnr_per_task, psnr_per_task_table
from harness.report.tables import ReportData, task_group


def _results() -> pd.DataFrame:
    rows = [
        # benchmark, task, setting as stored (None: a row from before schema v2), psnr
        ("mini-derain", "derain", "universal", 30.0),
        ("mini-derain", "derain", "universal", 32.0),
        ("mini-zeroshot", "derain", "zero-shot", 10.0),
        ("mini-deblur", "deblur", "universal", 25.0),
        ("old-benchmark", "dehaze", None, 20.0),
    ]
    return pd.DataFrame(
        {
            "run_id": 1,
            "label": "m",
            "status": "ok",
            "benchmark": [r[0] for r in rows],
            "group": [task_group(r[1], r[2]) for r in rows],
            "psnr": [r[3] for r in rows],
        }
    )


def test_zero_shot_benchmarks_are_not_counted_in_their_task() -> None:
    assert list(_results()["group"]) == ["derain", "derain", "zero-shot", "deblur", "dehaze"]
    assert task_group(None, None) == "-"


def test_psnr_per_task_draws_a_figure_with_the_grouped_caption() -> None:
    data = ReportData(pd.DataFrame(), pd.DataFrame(), _results(), ["psnr"])
    figure = psnr_per_task(data)
    assert figure is not None and "zero-shot" in figure.caption
    assert len(figure.png_base64) > 1000


def test_psnr_per_task_table_averages_images_within_each_group() -> None:
    data = ReportData(pd.DataFrame(), pd.DataFrame(), _results(), ["psnr"])
    table = psnr_per_task_table(data)
    assert table["m"].to_dict() == {
        "deblur": 25.0,
        "dehaze": 20.0,
        "derain": 31.0,
        "zero-shot": 10.0,
    }
