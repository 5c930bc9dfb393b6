"""Report figures with matplotlib (Agg), returned as base64 PNG for embedding in one HTML file."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.report.tables import ReportData


@dataclass(frozen=True)
class Figure:
    """One embedded figure: title, caption and PNG bytes as base64."""

    title: str
    caption: str
    png_base64: str


def _encode(fig) -> str:  # fig: matplotlib.figure.Figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _ok_psnr(data: ReportData) -> pd.DataFrame:
    if "psnr" not in data.results.columns:
        return pd.DataFrame()
    res = data.results[(data.results["status"] == "ok")]
    return res[np.isfinite(res["psnr"].astype(float))]


def psnr_per_task_table(data: ReportData) -> pd.DataFrame:
    """Mean PSNR over the images of each group (rows; tables.task_group) for each method label."""
    res = _ok_psnr(data)
    if res.empty:
        return pd.DataFrame()
    return res.groupby(["group", "label"])["psnr"].mean().unstack("label")


def psnr_per_task(data: ReportData) -> Figure | None:
    """Bar chart: mean PSNR per task (mean over that task's images) for each method."""
    table = psnr_per_task_table(data)
    if table.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(table)), 3.2))
    table.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("PSNR (dB)")
    ax.set_xlabel("task")
    ax.legend(fontsize=7)
    ax.set_title("Mean PSNR per task")
    return Figure(
        "PSNR per task",
        "Mean PSNR over every image of each task's universal-setting benchmarks, and over every "
        "zero-shot benchmark's images in one group (each benchmark's own protocol).",
        _encode(fig),
    )


def _complexity_per_run(data: ReportData, key: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for b in data.benchmarks.itertuples():
        cx = b.complexity or {}
        if cx.get(key) is not None:
            out.setdefault(b.run_id, float(cx[key]))
    return out


def efficiency_frontier(data: ReportData, key: str, xlabel: str) -> Figure | None:
    """Scatter of mean PSNR against ``key`` (params or FLOPs per image), one point per run."""
    res = _ok_psnr(data)
    x_of = _complexity_per_run(data, key)
    if res.empty or not x_of:
        return None
    means = res.groupby("run_id")["psnr"].mean()
    label_of = dict(zip(data.runs["run_id"], data.runs["label"], strict=True))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    xs, ys = [], []
    for run_id, psnr in means.items():
        if run_id not in x_of:
            continue
        x = max(x_of[run_id], 1.0)
        xs.append(x)
        ys.append(psnr)
        ax.scatter([x], [psnr])
        ax.annotate(label_of.get(run_id, str(run_id)), (x, psnr), fontsize=7)
    if not xs:
        plt.close(fig)
        return None
    if max(xs) / max(min(xs), 1.0) > 100:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel + " (0 drawn as 1)")
    ax.set_ylabel("mean PSNR (dB)")
    ax.set_title(f"Efficiency: PSNR vs {xlabel}")
    return Figure(
        f"PSNR vs {xlabel}",
        f"Mean PSNR over all scored images of a run against its {xlabel}.",
        _encode(fig),
    )


def psnr_distributions(data: ReportData) -> Figure | None:
    """Box plots of per-image PSNR for each benchmark and method."""
    res = _ok_psnr(data)
    if res.empty:
        return None
    groups = [
        (f"{b}\n{m}", g["psnr"].to_numpy(float))
        for (b, m), g in res.groupby(["benchmark", "label"])
    ]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.5, 0.8 * len(groups)), 3.4))
    ax.boxplot([g for _, g in groups], showmeans=True)
    ax.set_xticks(range(1, len(groups) + 1), [n for n, _ in groups], rotation=60, fontsize=7)
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Per-image PSNR")
    return Figure(
        "Per-image PSNR distributions",
        "Box: quartiles; whiskers 1.5 IQR; triangle: mean.",
        _encode(fig),
    )


def all_figures(data: ReportData) -> list[Figure]:
    """Every figure that the data allows (a figure without data is left out)."""
    figures = [
        psnr_per_task(data),
        efficiency_frontier(data, "params", "parameters"),
        efficiency_frontier(data, "flops_per_image", "FLOPs per image"),
        psnr_distributions(data),
    ]
    return [f for f in figures if f is not None]


def crop_png_base64(path: str, size: int = 160) -> str | None:
    """A centre crop (at most size x size) of an image file as base64 PNG, or None if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            cw, ch = min(size, w), min(size, h)
            left, top = (w - cw) // 2, (h - ch) // 2
            crop = im.crop((left, top, left + cw, top + ch))
            buf = io.BytesIO()
            crop.save(buf, format="PNG")
    except (OSError, Image.DecompressionBombError):
        return None
    return base64.b64encode(buf.getvalue()).decode("ascii")
