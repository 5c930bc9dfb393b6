"""Option sweeps: stored runs that differ only in one method option, their table and figure.

Runs belong to one sweep when every field of their config key (``harness.provenance.KEY_FIELDS``:
method, variant, weights, suite, protocol, seed, device, batch size, package version) is equal and
their method options (``--option`` and ``--steps``, ``harness.report.reference.run_options``)
differ in one key only, which each of them sets; two or more values make a sweep. The table of a
sweep gives, per value: the mean PSNR of each benchmark (mean over its images scored ``ok``), the
mean over those benchmarks (only when every one was measured), the network calls per image (what
the method declared at run time, ``calls_per_image`` of the run's complexity; ``n/a`` for a method
without a network or a run stored before it was recorded) and the model seconds per image (mean
over the run's scored images of each image's share of its batch's ``restore()`` time).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.report.figures import Figure, _encode, _plt
from harness.report.reference import (
    options_match,
    options_text,
    run_options,
    variant_matches,
)
from harness.report.tables import ZERO_SHOT, ReportData, _label

MEAN_COLUMN = "mean PSNR"
CALLS_COLUMN = "network calls/image"
SECONDS_COLUMN = "model s/image"
RUN_COLUMN = "run"
PSNR_SUFFIX = " PSNR"

# Fields of the config key that must be equal across a sweep (the options are compared apart;
# ``steps`` is one of them: ``--steps`` and ``--option steps`` build the same method).
_SAME_FIELDS = ("steps", "options")


@dataclass(frozen=True)
class Sweep:
    """Runs that differ only in option ``key``: one run per value, in value order."""

    key: str
    values: tuple[Any, ...]
    run_ids: tuple[int, ...]
    method: str
    variant: str | None
    label: str
    suite: str
    fixed: dict[str, Any] = field(default_factory=dict)
    """The options every run of the sweep shares."""

    @property
    def title(self) -> str:
        """A heading: method, suite, swept option and the fixed ones."""
        fixed = f" ({options_text(self.fixed)})" if self.fixed else ""
        return f"{self.label} on {self.suite}: {self.key} swept{fixed}"


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _ordered(values: Sequence[Any]) -> list[Any]:
    return sorted(values) if _numeric(values) else sorted(values, key=str)


def find_sweeps(data: ReportData) -> list[Sweep]:
    """Every set of two or more of the report's runs that differ only in one option's value."""
    from harness.provenance import KEY_FIELDS

    if data.runs.empty:
        return []
    same = [f for f in KEY_FIELDS if f not in _SAME_FIELDS]
    runs = data.runs.to_dict("records")
    options = {r["run_id"]: run_options(r) for r in runs}
    keys = sorted({k for opts in options.values() for k in opts})
    sweeps = []
    for key in keys:
        groups: dict[str, dict[Any, dict[str, Any]]] = {}
        for run in runs:
            opts = options[run["run_id"]]
            if key not in opts:
                continue
            rest = {k: v for k, v in opts.items() if k != key}
            identity = json.dumps([[run.get(f) for f in same], rest], sort_keys=True, default=str)
            by_value = groups.setdefault(identity, {})
            previous = by_value.get(opts[key])
            if previous is None or run["run_id"] > previous["run_id"]:  # the latest of equals
                by_value[opts[key]] = run
        for by_value in groups.values():
            if len(by_value) < 2:
                continue
            values = _ordered(list(by_value))
            first = by_value[values[0]]
            sweeps.append(
                Sweep(
                    key=key,
                    values=tuple(values),
                    run_ids=tuple(int(by_value[v]["run_id"]) for v in values),
                    method=str(first["method"]),
                    variant=first.get("variant"),
                    label=_label(first),
                    suite=str(first["suite"]),
                    fixed={k: v for k, v in options[first["run_id"]].items() if k != key},
                )
            )
    return sweeps


def psnr_benchmarks(data: ReportData, run_ids: Sequence[int]) -> list[str]:
    """The benchmarks scored with PSNR in any of ``run_ids``, in the main table's order."""
    bench = data.benchmarks[data.benchmarks["run_id"].isin(list(run_ids))]
    names: dict[str, tuple[bool, str, str]] = {}
    for b in bench.itertuples():
        if "psnr" in (b.metrics or []):
            names.setdefault(b.benchmark, (b.group == ZERO_SHOT, str(b.group), b.benchmark))
    return sorted(names, key=names.__getitem__)


def _calls(data: ReportData, run_id: int) -> float:
    for b in data.benchmarks[data.benchmarks["run_id"] == run_id].itertuples():
        calls = (b.complexity or {}).get("calls_per_image")
        if calls is not None:
            return float(calls)
    return math.nan


def sweep_table(data: ReportData, sweep: Sweep) -> pd.DataFrame:
    """One row per value (index named after the option): the run, each benchmark's mean PSNR,
    their mean, network calls and model seconds per image (NaN: not measured / not known)."""
    benches = psnr_benchmarks(data, sweep.run_ids)
    ok = data.results[data.results["status"] == "ok"]
    rows = []
    for run_id in sweep.run_ids:
        mine = ok[ok["run_id"] == run_id]
        row: dict[str, Any] = {RUN_COLUMN: run_id}
        for bench in benches:
            values = (
                mine.loc[mine["benchmark"] == bench, "psnr"].dropna().to_numpy(dtype=float)
                if "psnr" in mine
                else np.array([])
            )
            row[bench + PSNR_SUFFIX] = float(values.mean()) if values.size else math.nan
        means = [row[b + PSNR_SUFFIX] for b in benches]
        row[MEAN_COLUMN] = (
            float(np.mean(means)) if means and not any(math.isnan(m) for m in means) else math.nan
        )
        row[CALLS_COLUMN] = _calls(data, run_id)
        latency = (
            mine["latency_ms"].dropna().to_numpy(dtype=float)
            if "latency_ms" in mine
            else np.array([])
        )
        row[SECONDS_COLUMN] = float(latency.mean()) / 1000.0 if latency.size else math.nan
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(list(sweep.values), name=sweep.key))


def sweep_table_text(table: pd.DataFrame) -> pd.DataFrame:
    """The table as text: PSNR to 0.01 dB, calls as integers, seconds to 3 significant digits;
    ``n/a`` where nothing is known. The option's value becomes the first column."""

    def psnr(v: float) -> str:
        return "-" if math.isnan(v) else f"{v:.2f}"

    out = pd.DataFrame(index=table.index)
    out[RUN_COLUMN] = [str(int(v)) for v in table[RUN_COLUMN]]
    for column in table.columns:
        if column.endswith(PSNR_SUFFIX) or column == MEAN_COLUMN:
            out[column] = [psnr(v) for v in table[column]]
    out[CALLS_COLUMN] = ["n/a" if math.isnan(v) else str(int(v)) for v in table[CALLS_COLUMN]]
    out[SECONDS_COLUMN] = ["n/a" if math.isnan(v) else f"{v:.3g}" for v in table[SECONDS_COLUMN]]
    return out.reset_index()


def reference_points(sweep: Sweep, benches: Sequence[str], reference: pd.DataFrame) -> pd.DataFrame:
    """Reference PSNRs of the sweep's method at values of its option, on benchmarks (or averages
    over benchmarks) that the sweep measured: columns value, benchmark, psnr, source."""
    rows = []
    if reference.empty or "option_values" not in reference:
        return pd.DataFrame(columns=["value", "benchmark", "psnr", "source"])
    for ref in reference.itertuples():
        wanted: Mapping[str, Any] = ref.option_values
        if ref.method != sweep.method or ref.metric != "psnr" or sweep.key not in wanted:
            continue
        if not variant_matches(ref.variant, sweep.variant):
            continue
        rest = {k: v for k, v in wanted.items() if k != sweep.key}
        if not options_match(rest, sweep.fixed) or not set(ref.members) <= set(benches):
            continue
        rows.append(
            {
                "value": wanted[sweep.key],
                "benchmark": ref.benchmark,
                "psnr": float(ref.value),
                "source": ref.source,
            }
        )
    return pd.DataFrame(rows, columns=["value", "benchmark", "psnr", "source"])


def sweep_figure(sweep: Sweep, table: pd.DataFrame, refs: pd.DataFrame) -> Figure | None:
    """PSNR (each benchmark thin, their mean bold, annotated with network calls per image) and
    model seconds per image (second axis) against the option's value, with reference points."""
    benches = [
        c[: -len(PSNR_SUFFIX)]
        for c in table.columns
        if c.endswith(PSNR_SUFFIX) and c != MEAN_COLUMN
    ]
    if not benches or table[[b + PSNR_SUFFIX for b in benches]].isna().all().all():
        return None
    values = list(table.index)
    numeric = _numeric(values) and _numeric(list(refs["value"]))
    categories = [str(v) for v in values]

    def position(value: Any) -> float | None:
        if numeric:
            return float(value)
        return float(categories.index(str(value))) if str(value) in categories else None

    xs = [position(v) for v in values]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    colours = {}
    for bench in benches:
        (line,) = ax.plot(
            xs, table[bench + PSNR_SUFFIX], marker=".", lw=0.9, alpha=0.8, label=bench
        )
        colours[bench] = line.get_color()
    ax.plot(xs, table[MEAN_COLUMN], marker="o", lw=2.2, color="black", label=MEAN_COLUMN)
    for x, y, calls in zip(xs, table[MEAN_COLUMN], table[CALLS_COLUMN], strict=True):
        if not (math.isnan(y) or math.isnan(calls)):
            ax.annotate(
                f"{int(calls)} call" + ("" if calls == 1 else "s"),
                (x, y),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=7,
            )
    for bench, group in refs.groupby("benchmark", sort=False):
        points = [(position(v), y) for v, y in zip(group["value"], group["psnr"], strict=True)]
        points = [(x, y) for x, y in points if x is not None]
        if points:
            ax.scatter(
                [x for x, _ in points],
                [y for _, y in points],
                marker="x",
                s=45,
                color=colours.get(str(bench), "black"),
                zorder=3,
                label=f"reference: {bench}",
            )
    ax.set_xlabel(sweep.key)
    ax.set_ylabel("PSNR (dB)")
    if numeric:
        shown = [x for x in xs if x is not None] + [float(v) for v in refs["value"]]
        if min(shown) > 0 and max(shown) / min(shown) > 20:
            ax.set_xscale("log")
        ticks = sorted(set(shown))
        if len(ticks) <= 12:
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
    else:
        ax.set_xticks(range(len(categories)), categories)
    seconds = ax.twinx()
    seconds.plot(
        xs, table[SECONDS_COLUMN], ls="--", marker="s", color="tab:gray", label=SECONDS_COLUMN
    )
    seconds.set_ylabel("model seconds per image")
    handles = ax.get_legend_handles_labels()
    more = seconds.get_legend_handles_labels()
    ax.legend(
        handles[0] + more[0],
        handles[1] + more[1],
        fontsize=6,
        loc="upper left",
        bbox_to_anchor=(1.14, 1.0),
    )
    ax.set_title(f"{sweep.label}: quality, network calls and latency vs {sweep.key}", fontsize=9)
    ids = ", ".join(str(r) for r in sweep.run_ids)
    caption = (
        f"Runs {ids} on suite {sweep.suite} differ only in option {sweep.key}. Left axis: mean "
        "PSNR of each benchmark (thin) and their mean (bold, annotated with the network calls "
        "per image); right axis (dashed): model seconds per image."
    )
    if not refs.empty:
        listed = "; ".join(
            f"{r.benchmark} at {sweep.key}={r.value}: {r.psnr:.2f} ({r.source})"
            for r in refs.itertuples()
        )
        caption += f" Reference points (x): {listed}."
    return Figure(f"Sweep of {sweep.key}: {sweep.label} on {sweep.suite}", caption, _encode(fig))


@dataclass(frozen=True)
class SweepView:
    """What the report shows of one sweep: a heading, its table as text and its figure."""

    title: str
    table: pd.DataFrame
    figure: Figure | None


def sweep_views(data: ReportData, reference: pd.DataFrame) -> list[SweepView]:
    """The table and figure of every sweep among the report's runs."""
    views = []
    for sweep in find_sweeps(data):
        table = sweep_table(data, sweep)
        refs = reference_points(sweep, psnr_benchmarks(data, sweep.run_ids), reference)
        views.append(
            SweepView(sweep.title, sweep_table_text(table), sweep_figure(sweep, table, refs))
        )
    return views
