"""Report tables built with pandas from the result store.

Conventions (stated in every rendered table):
- a cell is the plain mean over the images scored ``ok`` (failed images are counted, not scored);
- the interval is a percentile bootstrap 95% CI of that mean: 2000 resamples of the images with
  replacement, numpy ``default_rng(seed)`` with seed 0, so the same results give the same interval;
- a column is one (group, benchmark, protocol, metric): numbers scored under two protocols never
  share a column, and "best" is chosen within a column only - the highest mean for
  higher-is-better metrics and the lowest for the others, as harness.metrics.protocols'
  ``METRIC_HIGHER_IS_BETTER`` says (a metric it does not list is an error) - among the rows that
  are not task-routed;
- a row whose method was given the task label (``runs.blind`` = 0) is "task-routed" and carries
  ``TASK_ROUTED_MARK``: it is scored but never "best", since the others restore blind;
- a cell where the checkpoint's training setting does not cover the benchmark
  (``run_benchmarks.in_setting`` = 0) is "out of setting": still scored, competing for "best",
  and carrying ``OUT_OF_SETTING_MARK`` (greyed in HTML); NULL (no setting declared, or stored
  before it was recorded) marks nothing;
- the group is the benchmark's task, or "zero-shot" for zero-shot benchmarks (``task_group``);
- every (benchmark, protocol) has a footnote: its protocol signature and whether the data it scored
  was verified against the lock; cells scored on unverified data carry ``UNVERIFIED_MARK``.

Everything comes from the result store alone (no manifest is read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.metrics.protocols import METRIC_HIGHER_IS_BETTER
from harness.precision import DEFAULT_PRECISION
from harness.precision import OPTION as PRECISION_OPTION
from harness.store import Store
from harness.tolerances import MEAN_TOLERANCE

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CI_LEVEL = 0.95

ZERO_SHOT = "zero-shot"
UNVERIFIED_MARK = "\u2020"
OUT_OF_SETTING_MARK = "\u00a7"
TASK_ROUTED_MARK = "\u2021"

OUT_OF_SETTING_NOTE = (
    "out of setting: the checkpoint was not trained on this benchmark's degradations (still scored)"
)
TASK_ROUTED_NOTE = (
    "task-routed: the method was given the benchmark's task label (not blind), so its row is "
    "never marked best"
)

#: What each data status says about the digest stored with a benchmark (see ``data_status``).
DATA_STATUS_NOTES = {
    "verified": "the lock's digest: every scored byte matched the lock",
    "unverified": "digest of the bytes scored, which did not match the lock",
    "not pinned": "digest of the bytes scored; the benchmark has no lock",
    "not recorded": "stored before verification was recorded",
}


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (harness.metrics.protocols owns the rule)."""
    try:
        return METRIC_HIGHER_IS_BETTER[metric]
    except KeyError:
        raise HarnessError(
            f"metric {metric!r} has no known direction (higher or lower is better); known: "
            + ", ".join(sorted(METRIC_HIGHER_IS_BETTER)),
            hint="add it to METRIC_HIGHER_IS_BETTER in harness/metrics/protocols.py",
        ) from None


def task_group(task: str | None, setting: str | None) -> str:
    """The group a benchmark is shown under: "zero-shot" for a zero-shot benchmark, else its task.

    The setting is the one stored with the run (run_benchmarks.setting); rows stored before it
    existed hold NULL and count as universal.
    """
    return ZERO_SHOT if setting == ZERO_SHOT else (task or "-")


def known_flag(value: Any) -> bool | None:
    """A stored 0/1 flag as a bool; None for NULL (pandas reads it as NaN or None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return bool(value)


def data_status(pinned: int | None, verified: int | None) -> str:
    """One of ``DATA_STATUS_NOTES``: what run_benchmarks' ``pinned``/``verified`` say of the data."""
    if verified is not None:
        return "verified" if verified else "unverified"
    return "not recorded" if pinned else "not pinned"


def bootstrap_ci(
    values: np.ndarray, *, seed: int = BOOTSTRAP_SEED, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float]:
    """Percentile bootstrap CI_LEVEL interval of the mean of ``values`` (seeded)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return math.nan, math.nan
    if values.size == 1 or not np.all(np.isfinite(values)):
        m = float(values.mean())
        return m, m
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(resamples, values.size))
    means = values[idx].mean(axis=1)
    alpha = (1.0 - CI_LEVEL) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


@dataclass
class ReportData:
    """Everything a report shows, as pandas frames."""

    runs: pd.DataFrame
    benchmarks: pd.DataFrame
    results: pd.DataFrame
    metrics: list[str] = field(default_factory=list)


def _label(run: dict[str, Any]) -> str:
    """``method (variant)``, plus an opt-in precision (``diffuir (t, bf16)``) so that its numbers
    are never read as float32 ones."""
    variant = run.get("variant")
    parts = [variant] if variant and variant != "default" else []
    precision = (run.get("provenance") or {}).get(PRECISION_OPTION) or DEFAULT_PRECISION
    if precision != DEFAULT_PRECISION:
        parts.append(str(precision))
    return f"{run['method']}" + (f" ({', '.join(parts)})" if parts else "")


# The columns the report reads from an empty benchmarks frame (a run stopped before its first one).
_EMPTY_BENCHMARKS = ("run_id", "benchmark")


def load_report_data(store: Store, run_ids: list[int]) -> ReportData:
    """Read runs, benchmarks and per-image results of ``run_ids`` into frames.

    Benchmarks gain ``group`` (``task_group``) and ``data`` (``data_status``); results gain the
    ``label`` of their run and the ``task``, ``protocol``, ``group`` and ``data`` of their benchmark.
    """
    runs = store.runs(run_ids)
    labels = [_label(r) for r in runs]
    for run, label in zip(runs, labels, strict=True):
        run["label"] = label if labels.count(label) == 1 else f"{label} #{run['run_id']}"
    runs_df = pd.DataFrame(runs)
    benches = store.benchmarks(run_ids)
    for b in benches:
        b["group"] = task_group(b["task"], b["setting"])
        b["data"] = data_status(b["pinned"], b["verified"])
    bench_df = pd.DataFrame(benches) if benches else pd.DataFrame(columns=_EMPTY_BENCHMARKS)
    metrics: list[str] = []
    for b in benches:
        for m in b["metrics"]:
            if m not in metrics:
                metrics.append(m)
    flat = []
    for row in store.results(run_ids):
        d = {k: v for k, v in row.items() if k != "metrics"}
        d.update({m: row["metrics"].get(m, math.nan) for m in metrics})
        flat.append(d)
    results = pd.DataFrame(flat)
    if results.empty:
        results = pd.DataFrame(columns=["run_id", "benchmark", "image_id", "status", *metrics])
    label_of = dict(zip(runs_df["run_id"], runs_df["label"], strict=True)) if runs else {}
    results["label"] = results["run_id"].map(label_of)
    info = {(b["run_id"], b["benchmark"]): b for b in benches}
    keys = list(zip(results["run_id"], results["benchmark"], strict=True))
    for column in ("task", "protocol", "group", "data"):
        results[column] = [info[k][column] if k in info else None for k in keys]
    return ReportData(runs_df, bench_df, results, metrics)


Column = tuple[str, str, str, str]
"""A main-table column: (group, benchmark, protocol, metric)."""


@dataclass
class MainTable:
    """One suite's table: rows = method labels, columns = (group, benchmark, protocol, metric)."""

    suite: str
    mean: pd.DataFrame
    lo: pd.DataFrame
    hi: pd.DataFrame
    n: pd.DataFrame
    failed: pd.DataFrame
    signatures: dict[tuple[str, str], str]
    """(benchmark, protocol) -> protocol signature."""
    data: dict[tuple[str, str], dict[str, str]]
    """(benchmark, protocol) -> method label -> data status (``data_status``)."""
    best: dict[Column, str]
    """column -> label of the best row (task-routed rows excluded)."""
    in_setting: dict[tuple[str, str], bool] = field(default_factory=dict)
    """(method label, benchmark) -> whether the checkpoint's setting covers it (when recorded)."""
    task_routed: frozenset[str] = frozenset()
    """Labels of the rows whose method was given the task label (not blind)."""

    def unverified(self, label: str, col: Column) -> bool:
        """Whether the cell was scored on data that did not match the benchmark's lock."""
        return self.data.get((col[1], col[2]), {}).get(label) == "unverified"

    def out_of_setting(self, label: str, col: Column) -> bool:
        """Whether the cell's checkpoint was not trained for the benchmark (recorded as such)."""
        return self.in_setting.get((label, col[1])) is False

    def row_label(self, label: str) -> str:
        """The row's label as shown: task-routed rows carry ``TASK_ROUTED_MARK``."""
        return f"{label} {TASK_ROUTED_MARK}" if label in self.task_routed else label


def _column_order(b: Any) -> tuple[bool, str, str, str]:
    return (b.group == ZERO_SHOT, b.group, b.benchmark, b.protocol)


def main_tables(data: ReportData) -> list[MainTable]:
    """The main table of every suite present in the runs."""
    tables = []
    if data.runs.empty:
        return tables
    label_of = dict(zip(data.runs["run_id"], data.runs["label"], strict=True))
    for suite, suite_runs in data.runs.groupby("suite", sort=False):
        ids = set(suite_runs["run_id"])
        bench = data.benchmarks[data.benchmarks["run_id"].isin(ids)]
        res = data.results[data.results["run_id"].isin(ids)]
        columns: list[Column] = []
        signatures: dict[tuple[str, str], str] = {}
        statuses: dict[tuple[str, str], dict[str, str]] = {}
        in_setting: dict[tuple[str, str], bool] = {}
        for b in sorted(bench.itertuples(), key=_column_order):
            flag = known_flag(getattr(b, "in_setting", None))
            if flag is not None:
                in_setting[(label_of[b.run_id], b.benchmark)] = flag
            key = (b.benchmark, b.protocol)
            if signatures.setdefault(key, b.protocol_signature) != b.protocol_signature:
                raise HarnessError(
                    f"suite {suite}: {b.benchmark} under protocol {b.protocol!r} has two "
                    f"signatures ({signatures[key]!r} and {b.protocol_signature!r}); their "
                    "numbers cannot share a column",
                    hint="report the runs made before and after the protocol changed separately",
                )
            statuses.setdefault(key, {})[label_of[b.run_id]] = b.data
            for m in b.metrics:
                col = (b.group, b.benchmark, b.protocol, m)
                if col not in columns:
                    columns.append(col)
        if not columns:
            continue
        index = list(suite_runs["label"])
        frames = {
            k: pd.DataFrame(
                index=index,
                columns=pd.MultiIndex.from_tuples(
                    columns, names=["group", "benchmark", "protocol", "metric"]
                ),
                dtype=float,
            )
            for k in ("mean", "lo", "hi", "n", "failed")
        }
        for (label, group_name, benchmark, protocol), group in res.groupby(
            ["label", "group", "benchmark", "protocol"]
        ):
            ok = group[group["status"] == "ok"]
            for col in columns:
                if col[:3] != (group_name, benchmark, protocol):
                    continue
                values = ok[col[3]].dropna().to_numpy(dtype=float)
                frames["mean"].loc[label, col] = float(values.mean()) if values.size else math.nan
                lo, hi = bootstrap_ci(values)
                frames["lo"].loc[label, col] = lo
                frames["hi"].loc[label, col] = hi
                frames["n"].loc[label, col] = values.size
                frames["failed"].loc[label, col] = int((group["status"] == "failed").sum())
        routed = frozenset(
            r.label
            for r in suite_runs.itertuples()
            if known_flag(getattr(r, "blind", None)) is False
        )
        best = {}
        for col in columns:
            series = frames["mean"][col].drop(index=list(routed)).dropna()
            if len(series) > 1:
                best[col] = series.idxmax() if higher_is_better(col[3]) else series.idxmin()
        tables.append(
            MainTable(
                str(suite),
                **frames,
                signatures=signatures,
                data=statuses,
                best=best,
                in_setting=in_setting,
                task_routed=routed,
            )
        )
    return tables


def footnotes(table: MainTable) -> list[str]:
    """Per (benchmark, protocol): its signature and data status; then the unverified mark's legend."""
    lines = []
    for (bench, protocol), signature in table.signatures.items():
        by_label = table.data[(bench, protocol)]
        if len(set(by_label.values())) == 1:
            status = next(iter(by_label.values()))
        else:
            status = "; ".join(f"{s} for {label}" for label, s in by_label.items())
        lines.append(f"{bench} [{protocol}]: {signature}; data {status}")
    if any(s == "unverified" for d in table.data.values() for s in d.values()):
        lines.append(
            f"{UNVERIFIED_MARK} scored on data that did not match the benchmark's lock "
            "(unverified): not the benchmark's numbers"
        )
    if any(v is False for v in table.in_setting.values()):
        lines.append(f"{OUT_OF_SETTING_MARK} {OUT_OF_SETTING_NOTE}")
    if table.task_routed:
        lines.append(f"{TASK_ROUTED_MARK} {TASK_ROUTED_NOTE}")
    return lines


def format_cell(mean: float, lo: float, hi: float, metric: str) -> str:
    """``mean [lo, hi]`` with the metric's usual precision."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    digits = 4 if metric in ("ssim", "lpips") else 2
    if math.isinf(mean):
        return "inf"
    if lo == hi:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def main_table_text(table: MainTable) -> pd.DataFrame:
    """The table as ``mean [CI]`` strings, with ``(k failed)`` and the unverified and
    out-of-setting marks appended; task-routed row labels carry their mark."""
    out = pd.DataFrame(index=table.mean.index, columns=table.mean.columns, dtype=object)
    for label in out.index:
        for col in out.columns:
            text = format_cell(
                table.mean.loc[label, col],
                table.lo.loc[label, col],
                table.hi.loc[label, col],
                col[3],
            )
            failed = table.failed.loc[label, col]
            if isinstance(failed, float) and not math.isnan(failed) and failed > 0:
                text += f" ({int(failed)} failed)"
            if table.unverified(label, col):
                text += f" {UNVERIFIED_MARK}"
            if table.out_of_setting(label, col):
                text += f" {OUT_OF_SETTING_MARK}"
            out.loc[label, col] = text
    return out.rename(index=table.row_label)


def complexity_table(data: ReportData) -> pd.DataFrame:
    """Params, FLOPs per image at the benchmark's most common size, latency, peak memory."""
    rows = []
    if data.benchmarks.empty:
        return pd.DataFrame()
    label_of = dict(zip(data.runs["run_id"], data.runs["label"], strict=True))
    for b in data.benchmarks.itertuples():
        cx = b.complexity or {}
        res = data.results[
            (data.results["run_id"] == b.run_id)
            & (data.results["benchmark"] == b.benchmark)
            & (data.results["status"] == "ok")
        ]
        lat = res["latency_ms"].dropna() if "latency_ms" in res else pd.Series(dtype=float)
        size = cx.get("flops_size")
        rows.append(
            {
                "method": label_of.get(b.run_id),
                "benchmark": b.benchmark,
                "params": cx.get("params"),
                "GFLOPs/image": None
                if cx.get("flops_per_image") is None
                else cx["flops_per_image"] / 1e9,
                "at size (HxW)": f"{size[0]}x{size[1]}" if size else None,
                "latency ms/image (median)": float(lat.median()) if len(lat) else None,
                "peak memory MiB": None
                if cx.get("peak_memory_bytes") is None
                else cx["peak_memory_bytes"] / 2**20,
                "images": int(len(res)),
            }
        )
    return pd.DataFrame(rows)


REFERENCE_COLUMNS = ("method", "variant", "benchmark", "metric", "value", "source")


def load_reference(folder: Path) -> pd.DataFrame:
    """All ``*.csv`` reference tables of ``folder`` (columns REFERENCE_COLUMNS, optional
    tolerance, options and note), each row's averaged benchmarks and options parsed
    (``harness.report.reference``)."""
    from harness.report.reference import prepare_reference

    frames = []
    for path in sorted(Path(folder).glob("*.csv")):
        df = pd.read_csv(path, comment="#", dtype={"variant": str, "options": str})
        missing = [c for c in REFERENCE_COLUMNS if c not in df.columns]
        if missing:
            raise HarnessError(f"{path}: reference table lacks column(s) {', '.join(missing)}")
        df = prepare_reference(df, str(path))
        df["file"] = path.name
        frames.append(df)
    if not frames:
        return pd.DataFrame(
            columns=[*REFERENCE_COLUMNS, "tolerance", "members", "option_values", "file"]
        )
    return pd.concat(frames, ignore_index=True)


def reference_applies(ref: Any, method: str, variant: str | None) -> bool:
    """Whether a reference row is about ``method`` (and ``variant``; an empty variant is any)."""
    from harness.report.reference import variant_matches

    return ref.method == method and variant_matches(ref.variant, variant)


def paper_vs_measured(data: ReportData, reference: pd.DataFrame) -> pd.DataFrame:
    """Reference numbers next to measured means; ``beyond_tolerance`` flags |difference| > tol.

    A reference row without its own tolerance gets ``MEAN_TOLERANCE`` (0 for other metrics). A row
    averaging several benchmarks is compared with the same average of each run that measured one
    of them; while the run lacks some, ``missing`` names them and nothing is measured. A row with
    options is compared only with runs made with those options (``harness.report.reference``).
    """
    from harness.report.reference import (
        average_of_run,
        options_match,
        options_text,
        prepare_reference,
        run_options,
    )

    rows = []
    if reference.empty or data.runs.empty:
        return pd.DataFrame()
    if "members" not in reference:  # a frame made by hand rather than by load_reference
        reference = prepare_reference(reference, "reference table")
    ok = data.results[data.results["status"] == "ok"]
    protocol_of = {(b.run_id, b.benchmark): b.protocol for b in data.benchmarks.itertuples()}
    options_of = {r["run_id"]: run_options(r) for r in data.runs.to_dict("records")}
    for ref in reference.itertuples():
        for run in data.runs.itertuples():
            if not reference_applies(ref, run.method, run.variant):
                continue
            if not options_match(ref.option_values, options_of[run.run_id]):
                continue
            means = {}
            for bench in ref.members:
                sel = ok[(ok["run_id"] == run.run_id) & (ok["benchmark"] == bench)]
                if ref.metric in sel and not sel.empty:
                    means[bench] = float(sel[ref.metric].mean())
            if not means:
                continue
            measured, missing = average_of_run(means, ref.members)
            tol = getattr(ref, "tolerance", math.nan)
            if tol is None or (isinstance(tol, float) and math.isnan(tol)):
                tol = MEAN_TOLERANCE.get(ref.metric, 0.0)
            diff = measured - float(ref.value)
            protocols = {protocol_of.get((run.run_id, b)) for b in means}
            rows.append(
                {
                    "method": run.label,
                    "benchmark": ref.benchmark,
                    "options": options_text(ref.option_values),
                    "protocol": ", ".join(sorted(p for p in protocols if p)) or None,
                    "metric": ref.metric,
                    "reference": float(ref.value),
                    "measured": measured,
                    "difference": diff,
                    "tolerance": float(tol),
                    "beyond_tolerance": abs(diff) > float(tol),
                    "missing": ", ".join(missing),
                    "source": ref.source,
                }
            )
    return pd.DataFrame(rows)


def per_image_table(data: ReportData) -> pd.DataFrame:
    """Every image, failed ones first, then worst first by the benchmark's first metric."""
    res = data.results.copy()
    if res.empty:
        return res
    primary = {
        b.benchmark: (b.metrics[0] if b.metrics else None) for b in data.benchmarks.itertuples()
    }
    keys = []
    for row in res.itertuples():
        metric = primary.get(row.benchmark)
        value = getattr(row, metric) if metric and metric in res.columns else math.nan
        if row.status != "ok" or value is None or (isinstance(value, float) and math.isnan(value)):
            keys.append(-math.inf)
        else:
            keys.append(float(value) if higher_is_better(metric) else -float(value))
    res["_key"] = keys
    res = res.sort_values(["_key", "benchmark", "image_id"], kind="stable").drop(columns="_key")
    cols = [
        "label",
        "benchmark",
        "image_id",
        "status",
        "reason",
        *data.metrics,
        "latency_ms",
        "input_sha256",
    ]
    return (
        res[[c for c in cols if c in res.columns]]
        .rename(columns={"label": "method"})
        .reset_index(drop=True)
    )


def markdown_table(df: pd.DataFrame, *, index: bool = False) -> str:
    """A GitHub-flavoured Markdown table (no tabulate dependency)."""
    if df.empty:
        return "_(empty)_"
    frame = (
        df.reset_index(names="method" if df.index.name is None else df.index.name) if index else df
    )
    headers = [
        " / ".join(str(p) for p in c if str(p)) if isinstance(c, tuple) else str(c)
        for c in frame.columns
    ]

    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float):
            return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def flat_main_table(table: MainTable) -> pd.DataFrame:
    """Long form of a main table (one row per method x column), for CSV/JSON."""
    rows = []
    for label in table.mean.index:
        for col in table.mean.columns:
            rows.append(
                {
                    "suite": table.suite,
                    "method": label,
                    "group": col[0],
                    "benchmark": col[1],
                    "protocol": col[2],
                    "metric": col[3],
                    "mean": table.mean.loc[label, col],
                    "ci_low": table.lo.loc[label, col],
                    "ci_high": table.hi.loc[label, col],
                    "n": table.n.loc[label, col],
                    "failed": table.failed.loc[label, col],
                    "protocol_signature": table.signatures[(col[1], col[2])],
                    "data": table.data[(col[1], col[2])].get(label),
                    "in_setting": table.in_setting.get((label, col[1])),
                    "task_routed": label in table.task_routed,
                }
            )
    return pd.DataFrame(rows)
