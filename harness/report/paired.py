"""Paired comparison of two runs: per benchmark and metric, over the images both runs scored ``ok``.

Conventions (this module owns them; ``harness compare`` and the report print them):

- run A is the reference, run B the other; an image's difference is B - A, per metric, and the
  shown difference is the mean over the paired images (so it equals mean B - mean A over them);
  which side is better follows ``tables.higher_is_better``;
- the interval is ``tables.bootstrap_ci`` of the per-image differences: a paired bootstrap (images
  resampled with replacement, each keeping its A and B values together) with the report's
  resamples, seed and level;
- p is the exact two-sided sign test over the images: ties (difference 0) dropped, the number of
  images where B is larger tested against Binomial(n, 1/2) with ``scipy.stats.binomtest``; with no
  untied image p is 1;
- a difference is significant when p < ``ALPHA``; otherwise its cell carries
  ``NOT_SIGNIFICANT_MARK``. With 5 images the smallest two-sided p is 2/32 = 0.0625, so no
  difference on 5 images can be significant;
- an image where either value is not finite (+inf PSNR of an exact reconstruction) is left out of
  the statistics and counted, like an image only one run scored ``ok``;
- only benchmarks both runs finished are compared; the others are listed with the reason. A
  common benchmark scored under another protocol (name or signature) or on other data (data
  digest, or set of image ids) makes the runs not comparable: ``compare_runs`` raises HarnessError
  naming the benchmark and both values. Data with no lock (or that failed it) has the digest of
  the rows scored ``ok``, so there an image that failed in one run only also counts as other data;
- a multi-run report compares every run with the first one (the lowest run id), so each table has
  the same reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.report.tables import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    CI_LEVEL,
    ReportData,
    bootstrap_ci,
    format_cell,
    higher_is_better,
)

#: Significance level of the sign test: p >= ALPHA is marked not significant.
ALPHA = 0.05
NOT_SIGNIFICANT_MARK = "n.s."

#: The columns of ``PairedComparison.rows``.
ROW_COLUMNS = (
    "benchmark",
    "protocol",
    "metric",
    "higher_is_better",
    "n",
    "unpaired",
    "non_finite",
    "mean_a",
    "mean_b",
    "difference",
    "ci_low",
    "ci_high",
    "b_better",
    "a_better",
    "ties",
    "p_value",
    "significant",
)


@dataclass(frozen=True)
class PairedComparison:
    """Run B against run A: one row per common benchmark and metric, and what was left out."""

    run_a: int
    run_b: int
    label_a: str
    label_b: str
    rows: pd.DataFrame
    """ROW_COLUMNS; ``n`` images paired, ``unpaired`` scored ok by one run only."""
    left_out: dict[str, str] = field(default_factory=dict)
    """benchmark -> why it was not compared."""


def sign_test(differences: np.ndarray) -> float:
    """Exact two-sided sign-test p of "the median difference is 0" (ties dropped; 1 when none)."""
    from scipy.stats import binomtest

    d = np.asarray(differences, dtype=np.float64)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    if wins + losses == 0:
        return 1.0
    return float(binomtest(wins, wins + losses, 0.5, alternative="two-sided").pvalue)


def paired_row(a: np.ndarray, b: np.ndarray, metric: str) -> dict[str, Any]:
    """The statistics of one metric over paired values ``a``, ``b`` (same images, same order)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    finite = np.isfinite(a) & np.isfinite(b)
    a, b = a[finite], b[finite]
    d = b - a
    lo, hi = bootstrap_ci(d)
    p = sign_test(d)
    up = higher_is_better(metric)
    return {
        "metric": metric,
        "higher_is_better": up,
        "n": int(d.size),
        "non_finite": int((~finite).sum()),
        "mean_a": float(a.mean()) if d.size else math.nan,
        "mean_b": float(b.mean()) if d.size else math.nan,
        "difference": float(d.mean()) if d.size else math.nan,
        "ci_low": lo,
        "ci_high": hi,
        "b_better": int((d > 0).sum() if up else (d < 0).sum()),
        "a_better": int((d < 0).sum() if up else (d > 0).sum()),
        "ties": int((d == 0).sum()),
        "p_value": p,
        "significant": p < ALPHA,
    }


def _benchmarks_of(data: ReportData, run_id: int) -> dict[str, Any]:
    if data.benchmarks.empty:
        return {}
    rows = data.benchmarks[data.benchmarks["run_id"] == run_id]
    return {b.benchmark: b for b in rows.itertuples()}


def _ids(ids: set[str]) -> str:
    shown = sorted(ids)[:5]
    return ", ".join(shown) + (f" and {len(ids) - len(shown)} more" if len(ids) > 5 else "")


def _problems(
    name: str, a: Any, b: Any, images: dict[int, set[str]], runs: tuple[int, int]
) -> list[str]:
    """Why benchmark ``name`` of runs ``runs`` (A, B) cannot be compared; empty when it can."""
    ra, rb = runs
    out = []
    if (a.protocol, a.protocol_signature) != (b.protocol, b.protocol_signature):
        out.append(
            f"{name}: run {ra} scored it under protocol {a.protocol!r} ({a.protocol_signature}) "
            f"but run {rb} under {b.protocol!r} ({b.protocol_signature}); the numbers are not "
            "comparable"
        )
    if a.data_digest != b.data_digest:
        out.append(
            f"{name}: run {ra} scored data with digest {a.data_digest} but run {rb} data with "
            f"digest {b.data_digest}; they scored other data"
        )
    only_a, only_b = images[ra] - images[rb], images[rb] - images[ra]
    if only_a or only_b:
        out.append(
            f"{name}: run {ra} holds {len(images[ra])} image(s) and run {rb} {len(images[rb])}"
            + (f"; only in run {ra}: {_ids(only_a)}" if only_a else "")
            + (f"; only in run {rb}: {_ids(only_b)}" if only_b else "")
            + "; they scored other image sets"
        )
    return out


def compare_runs(
    data: ReportData, run_a: int, run_b: int, metrics: list[str] | None = None
) -> PairedComparison:
    """Compare run B with run A on their common benchmarks (``metrics``: all by default).

    Raises HarnessError when a common benchmark was scored under another protocol or on other
    data, and when none of the requested ``metrics`` is scored on a common benchmark.
    """
    label_of = dict(zip(data.runs["run_id"], data.runs["label"], strict=True))
    bench_a, bench_b = _benchmarks_of(data, run_a), _benchmarks_of(data, run_b)
    left_out = {n: f"only run {run_a} scored it" for n in bench_a if n not in bench_b}
    left_out |= {n: f"only run {run_b} scored it" for n in bench_b if n not in bench_a}
    common = []
    for name in sorted(set(bench_a) & set(bench_b)):
        unfinished = [
            r
            for r, b in ((run_a, bench_a), (run_b, bench_b))
            if not isinstance(b[name].data_digest, str)
        ]
        if unfinished:
            runs = " and ".join(f"run {r}" for r in unfinished)
            left_out[name] = f"not finished in {runs} (no data digest yet)"
        else:
            common.append(name)
    res = data.results
    problems: list[str] = []
    for name in common:
        images = {
            r: set(res[(res["run_id"] == r) & (res["benchmark"] == name)]["image_id"])
            for r in (run_a, run_b)
        }
        problems += _problems(name, bench_a[name], bench_b[name], images, (run_a, run_b))
    if problems:
        raise HarnessError(
            f"runs {run_a} and {run_b} cannot be compared:\n  " + "\n  ".join(problems),
            hint="compare runs scored under the same protocol (--protocol) on the same data "
            "(the same lock and --limit)",
        )
    rows = []
    for name in common:
        ok = res[(res["benchmark"] == name) & (res["status"] == "ok")]
        a = ok[ok["run_id"] == run_a].set_index("image_id")
        b = ok[ok["run_id"] == run_b].set_index("image_id")
        paired = sorted(set(a.index) & set(b.index))
        unpaired = len(set(a.index) ^ set(b.index))
        for m in bench_a[name].metrics:
            if (metrics and m not in metrics) or m not in bench_b[name].metrics:
                continue
            row = paired_row(a.loc[paired, m].to_numpy(), b.loc[paired, m].to_numpy(), m)
            row |= {
                "benchmark": name,
                "protocol": bench_a[name].protocol,
                "unpaired": unpaired,
            }
            rows.append(row)
    if metrics:
        scored = {r["metric"] for r in rows}
        absent = [m for m in metrics if m not in scored]
        if absent:
            known = sorted({m for n in common for m in bench_a[n].metrics})
            raise HarnessError(
                f"metric(s) {', '.join(absent)} not scored on any benchmark both runs share "
                f"(scored: {', '.join(known) or 'none'})",
                hint="pass --metric with one of the scored metrics, or leave it out",
            )
    return PairedComparison(
        run_a,
        run_b,
        str(label_of[run_a]),
        str(label_of[run_b]),
        pd.DataFrame(rows, columns=list(ROW_COLUMNS)),
        dict(sorted(left_out.items())),
    )


def paired_text(comp: PairedComparison) -> pd.DataFrame:
    """The comparison as strings; a difference that is not significant carries the mark."""
    out = []
    for r in comp.rows.itertuples():
        diff = format_cell(r.difference, r.ci_low, r.ci_high, r.metric)
        out.append(
            {
                "benchmark": r.benchmark,
                "protocol": r.protocol,
                "metric": f"{r.metric.upper()} {'↑' if r.higher_is_better else '↓'}",
                "images": r.n,
                f"A: {comp.label_a}": format_cell(r.mean_a, r.mean_a, r.mean_a, r.metric),
                f"B: {comp.label_b}": format_cell(r.mean_b, r.mean_b, r.mean_b, r.metric),
                f"B - A [{CI_LEVEL:.0%} CI]": diff
                + ("" if r.significant else f" {NOT_SIGNIFICANT_MARK}"),
                "B better / A better / tied": f"{r.b_better} / {r.a_better} / {r.ties}",
                "p (sign test)": f"{r.p_value:.3g}",
            }
        )
    return pd.DataFrame(out)


def paired_notes(comp: PairedComparison) -> list[str]:
    """What the table's numbers are, its mark's legend, and what was left out and why."""
    notes = [
        f"A = run {comp.run_a} ({comp.label_a}), B = run {comp.run_b} ({comp.label_b}); "
        "difference B - A per image over the images both runs scored ok; interval: paired "
        f"bootstrap {CI_LEVEL:.0%} ({BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}) of "
        "the mean difference; p: exact two-sided sign test over the images, ties dropped",
        f"{NOT_SIGNIFICANT_MARK} not significant: p >= {ALPHA:g}",
    ]
    for r in comp.rows.drop_duplicates("benchmark").itertuples():
        if r.unpaired:
            notes.append(
                f"{r.benchmark}: {r.unpaired} image(s) scored ok by one run only, unpaired"
            )
    for r in comp.rows.itertuples():
        if r.non_finite:
            notes.append(
                f"{r.benchmark} {r.metric}: {r.non_finite} image(s) with a value that is not "
                "finite, left out"
            )
    notes += [f"{name}: left out, {why}" for name, why in comp.left_out.items()]
    return notes


def comparison_json(comp: PairedComparison) -> dict[str, Any]:
    """The comparison as JSON-ready values (NaN as None)."""

    def clean(v: Any) -> Any:
        v = v.item() if hasattr(v, "item") else v
        return None if isinstance(v, float) and math.isnan(v) else v

    return {
        "run_a": comp.run_a,
        "run_b": comp.run_b,
        "label_a": comp.label_a,
        "label_b": comp.label_b,
        "alpha": ALPHA,
        "rows": [{k: clean(v) for k, v in r.items()} for r in comp.rows.to_dict("records")],
        "left_out": comp.left_out,
    }


@dataclass(frozen=True)
class PairedSection:
    """One pair of a report: a title, the text table (None when refused) and its notes."""

    title: str
    table: pd.DataFrame | None
    notes: list[str]


def report_sections(data: ReportData) -> list[PairedSection]:
    """Every run after the first compared with the first (none for a one-run report);
    a pair that cannot be compared shows why instead of a table."""
    ids = [int(i) for i in data.runs["run_id"]] if not data.runs.empty else []
    label_of = dict(zip(data.runs["run_id"], data.runs["label"], strict=True)) if ids else {}
    sections = []
    for other in ids[1:]:
        title = f"run {other} ({label_of[other]}) vs run {ids[0]} ({label_of[ids[0]]})"
        try:
            comp = compare_runs(data, ids[0], other)
        except HarnessError as exc:
            sections.append(PairedSection(title, None, [f"not compared: {exc.message}"]))
            continue
        table = paired_text(comp) if not comp.rows.empty else None
        sections.append(PairedSection(title, table, paired_notes(comp)))
    return sections


def paired_markdown(data: ReportData) -> list[str]:
    """The report's "Paired comparison" section as Markdown lines (none for a one-run report)."""
    from harness.report.tables import markdown_table

    sections = report_sections(data)
    if not sections:
        return []
    lines = ["## Paired comparison", ""]
    for s in sections:
        lines += [f"### {s.title}", ""]
        if s.table is not None:
            lines += [markdown_table(s.table), ""]
        lines += [f"- `{note}`" for note in s.notes] + [""]
    return lines
