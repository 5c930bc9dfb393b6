"""Report figures: zero-shot benchmarks get their own group in the per-task chart."""

from __future__ import annotations

import pandas as pd

from harness.report.figures import psnr_per_task, psnr_per_task_table, task_groups
from harness.report.tables import ReportData


def _results() -> pd.DataFrame:
    rows = [
        ("mini-derain", "derain", 30.0),
        ("mini-derain", "derain", 32.0),
        ("mini-zeroshot", "derain", 10.0),  # manifest task derain, setting zero-shot
        ("mini-deblur", "deblur", 25.0),
        ("retired-benchmark", "dehaze", 20.0),  # not in the catalog any more
    ]
    return pd.DataFrame(
        {
            "run_id": 1,
            "label": "m",
            "status": "ok",
            "benchmark": [r[0] for r in rows],
            "task": [r[1] for r in rows],
            "psnr": [r[2] for r in rows],
        }
    )


def test_zero_shot_benchmarks_are_not_counted_in_their_task() -> None:
    groups = task_groups(_results())
    assert list(groups) == ["derain", "derain", "zero-shot", "deblur", "dehaze"]


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
