"""The self-contained HTML report: jinja2 template, inline CSS, figures and crops as base64 PNG."""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.report.figures import Figure, crop_png_base64
from harness.report.paired import report_sections
from harness.report.tables import (
    DATA_STATUS_NOTES,
    OUT_OF_SETTING_MARK,
    OUT_OF_SETTING_NOTE,
    TASK_ROUTED_MARK,
    TASK_ROUTED_NOTE,
    UNVERIFIED_MARK,
    Column,
    MainTable,
    ReportData,
    footnotes,
    format_cell,
    higher_is_better,
)

if TYPE_CHECKING:
    from harness.report.sweeps import SweepView

TEMPLATE_NAME = "report.html.j2"
GALLERY_IMAGES = 8


def template_dir() -> Path:
    """Where report.html.j2 lives (reports/templates in the repository)."""
    from harness.paths import reports_dir

    return reports_dir() / "templates"


def _esc(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return html.escape(str(value))


def _spans(cols: list[Column], depth: int) -> list[tuple[str, int]]:
    """Header cells of one level: runs of adjacent columns sharing their first ``depth`` keys."""
    spans: list[tuple[tuple[str, ...], int]] = []
    for c in cols:
        if spans and spans[-1][0] == c[:depth]:
            spans[-1] = (spans[-1][0], spans[-1][1] + 1)
        else:
            spans.append((c[:depth], 1))
    return [(key[-1], n) for key, n in spans]


def main_table_html(table: MainTable) -> str:
    """A main table as HTML (group, benchmark, protocol, metric headers), each column's best bold;
    out-of-setting cells greyed (class ``oos``), task-routed rows marked (class ``task-routed``)."""
    cols = list(table.mean.columns)
    out = ['<table class="main"><thead><tr><th rowspan="4">method</th>']
    for depth in (1, 2, 3):
        out += [f'<th colspan="{n}">{_esc(key)}</th>' for key, n in _spans(cols, depth)]
        out.append("</tr><tr>")
    out += [
        f"<th>{_esc(c[3].upper())} {'&uarr;' if higher_is_better(c[3]) else '&darr;'}</th>"
        for c in cols
    ]
    out.append("</tr></thead><tbody>")
    for label in table.mean.index:
        if label in table.task_routed:
            out.append(
                f'<tr class="task-routed"><th title="{_esc(TASK_ROUTED_NOTE)}">{_esc(label)} '
                f'<span class="mark">{TASK_ROUTED_MARK}</span></th>'
            )
        else:
            out.append(f"<tr><th>{_esc(label)}</th>")
        for c in cols:
            text = format_cell(
                table.mean.loc[label, c], table.lo.loc[label, c], table.hi.loc[label, c], c[3]
            )
            failed = table.failed.loc[label, c]
            extra = ""
            if isinstance(failed, float) and not math.isnan(failed) and failed > 0:
                extra = f' <span class="failed">({int(failed)} failed)</span>'
            if table.unverified(label, c):
                extra += (
                    f' <span class="unverified" title="{DATA_STATUS_NOTES["unverified"]}">'
                    f"{UNVERIFIED_MARK}</span>"
                )
            body = _esc(text)
            if table.best.get(c) == label:
                body = f"<b>{body}</b>"
            if table.out_of_setting(label, c):
                extra += f' <span class="mark">{OUT_OF_SETTING_MARK}</span>'
                out.append(
                    f'<td class="oos" title="{_esc(OUT_OF_SETTING_NOTE)}">{body}{extra}</td>'
                )
            else:
                out.append(f"<td>{body}{extra}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def frame_html(df: pd.DataFrame, *, classes: str = "", highlight: str | None = None) -> str:
    """A plain DataFrame as an HTML table; rows where column ``highlight`` is true are marked."""
    if df.empty:
        return "<p><i>(empty)</i></p>"
    out = [f'<table class="{classes}"><thead><tr>']
    out += [f"<th>{_esc(c)}</th>" for c in df.columns]
    out.append("</tr></thead><tbody>")
    for _, row in df.iterrows():
        mark = ""
        if highlight is not None and bool(row.get(highlight)):
            mark = ' class="flag"'
        elif row.get("status") == "failed":
            mark = ' class="failed-row"'
        out.append(f"<tr{mark}>" + "".join(f"<td>{_esc(v)}</td>" for v in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def gallery(per_image: pd.DataFrame, results: pd.DataFrame) -> list[dict[str, Any]]:
    """Input / output / ground-truth centre crops of the worst images whose outputs were saved."""
    if results.empty or "output_path" not in results:
        return []
    saved = results[(results["status"] == "ok") & results["output_path"].notna()]
    if saved.empty:
        return []
    key = {(r.label, r.benchmark, r.image_id): r for r in saved.itertuples()}
    tiles = []
    for row in per_image.itertuples():
        r = key.get((row.method, row.benchmark, row.image_id))
        if r is None:
            continue
        tile = {
            "title": f"{row.method} / {row.benchmark} / {row.image_id}",
            "input": crop_png_base64(r.input_path) if r.input_path else None,
            "output": crop_png_base64(r.output_path),
            "target": crop_png_base64(r.target_path) if isinstance(r.target_path, str) else None,
            "psnr": getattr(row, "psnr", None),
        }
        tiles.append(tile)
        if len(tiles) >= GALLERY_IMAGES:
            break
    return tiles


def provenance(data: ReportData) -> list[dict[str, Any]]:
    """Per run: what made its numbers (config, versions, weights, data digests, protocols)."""
    out = []
    for run in data.runs.to_dict("records"):
        benches = (
            data.benchmarks[data.benchmarks["run_id"] == run["run_id"]]
            if not data.benchmarks.empty
            else pd.DataFrame()
        )
        records = benches.to_dict("records")
        for b in records:
            b["data_note"] = DATA_STATUS_NOTES[b["data"]]
        out.append(
            {
                "run": run,
                "executor": executor_text(run.get("provenance")),
                "started": _time(run.get("started_at")),
                "finished": _time(run.get("finished_at")),
                "benchmarks": records,
            }
        )
    return out


def executor_text(provenance: Any) -> str:
    """Where a run's images were restored, from the executor its provenance records."""
    info = provenance.get("executor") if isinstance(provenance, dict) else None
    if not isinstance(info, dict):
        return "(not recorded: local)"
    if info.get("name") != "ray":
        return f"local, {info.get('decode_workers', '?')} decode worker(s)"
    cluster = info.get("cluster_resources") or {}
    return (
        f"ray {info.get('ray_version', '?')} at {info.get('address', '?')}: "
        f"{info.get('workers')} worker(s) of {info.get('cpus_per_worker')} CPU / "
        f"{info.get('gpus_per_worker')} GPU on {', '.join(info.get('worker_hosts') or [])} "
        f"(cluster: {info.get('nodes')} node(s), {cluster.get('CPU', 0):g} CPU, "
        f"{cluster.get('GPU', 0):g} GPU)"
    )


def _time(ts: Any) -> str:
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return ""
    return dt.datetime.fromtimestamp(float(ts), tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_html(
    data: ReportData,
    tables: list[MainTable],
    complexity: pd.DataFrame,
    paper: pd.DataFrame,
    per_image: pd.DataFrame,
    figures: list[Figure],
    sweeps: Sequence[SweepView] = (),
    *,
    explain: dict[str, Any] | None = None,
) -> str:
    """Render the whole report to one HTML string (``sweeps``: harness.report.sweeps;
    ``explain``: the Explain section's data)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template(TEMPLATE_NAME)
    n_failed = int((data.results["status"] == "failed").sum()) if not data.results.empty else 0
    return template.render(
        generated=_time(dt.datetime.now(tz=dt.UTC).timestamp()),
        runs=data.runs.to_dict("records"),
        main_tables=[
            {"suite": t.suite, "html": main_table_html(t), "footnotes": footnotes(t)}
            for t in tables
        ],
        complexity_html=frame_html(complexity, classes="small"),
        paper_html=frame_html(paper, classes="small", highlight="beyond_tolerance")
        if not paper.empty
        else None,
        per_image_html=frame_html(per_image, classes="small"),
        n_failed=n_failed,
        figures=figures,
        gallery=gallery(per_image, data.results),
        provenance=provenance(data),
        paired=[
            {
                "title": s.title,
                "html": None if s.table is None else frame_html(s.table),
                "notes": s.notes,
            }
            for s in report_sections(data)
        ],
        explain=explain,
        sweeps=[
            {
                "title": v.title,
                "table_html": frame_html(v.table, classes="small"),
                "figure": v.figure,
            }
            for v in sweeps
        ],
    )
