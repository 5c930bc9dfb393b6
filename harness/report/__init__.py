"""Reports from the result store: tables (pandas), figures (matplotlib), one-file HTML (jinja2).

Formats: ``html`` (index.html), ``md`` (report.md), ``csv`` (one file per table), ``latex``
(report.tex, best values bold) and ``json`` (report.json).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

FORMATS = ("html", "md", "csv", "latex", "json")


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\~{}",
    "^": r"\^{}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_main(table: Any) -> str:
    from harness.report.tables import (
        OUT_OF_SETTING_MARK,
        TASK_ROUTED_MARK,
        UNVERIFIED_MARK,
        footnotes,
        format_cell,
    )

    marks = {
        UNVERIFIED_MARK: "$^\\dagger$",
        OUT_OF_SETTING_MARK: "$^\\S$",
        TASK_ROUTED_MARK: "$^\\ddagger$",
    }

    cols = list(table.mean.columns)
    lines = [
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{Suite {_latex_escape(table.suite)}: mean with 95\\% bootstrap interval; "
        "best of each column (one benchmark under one protocol) in bold, among rows not "
        "task-routed.}}",
        "\\begin{tabular}{l" + "r" * len(cols) + "}",
        "\\toprule",
        "Method & "
        + " & ".join(_latex_escape(f"{c[1]} [{c[2]}] {c[3].upper()}") for c in cols)
        + " \\\\",
        "\\midrule",
    ]
    for label in table.mean.index:
        cells = []
        for c in cols:
            text = _latex_escape(
                format_cell(
                    table.mean.loc[label, c], table.lo.loc[label, c], table.hi.loc[label, c], c[3]
                )
            )
            text = f"\\textbf{{{text}}}" if table.best.get(c) == label else text
            text += marks[UNVERIFIED_MARK] if table.unverified(label, c) else ""
            cells.append(
                text + (marks[OUT_OF_SETTING_MARK] if table.out_of_setting(label, c) else "")
            )
        row = _latex_escape(str(label))
        row += marks[TASK_ROUTED_MARK] if label in table.task_routed else ""
        lines.append(row + " & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    for note in footnotes(table):
        note = _latex_escape(note)
        for mark, tex in marks.items():
            note = note.replace(mark, tex)
        lines.append(f"\\\\[2pt]{{\\scriptsize\\texttt{{{note}}}}}")
    lines.append("\\end{table}")
    return "\n".join(lines)


def _records(df: Any) -> list[dict[str, Any]]:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if hasattr(v, "item"):
            return clean(v.item())
        return v

    return [{str(k): clean(v) for k, v in row.items()} for row in df.to_dict("records")]


def write_report(
    store_path: Path,
    run_ids: list[int],
    out_dir: Path,
    formats: tuple[str, ...] = ("html",),
    *,
    reference_dir: Path | None = None,
) -> dict[str, list[Path]]:
    """Write the report of ``run_ids`` in ``formats`` to ``out_dir``; returns the files per format."""
    import pandas as pd

    from harness.paths import reports_dir
    from harness.report import tables as T
    from harness.report.paired import paired_markdown
    from harness.store import Store

    with Store(store_path, readonly=True) as store:
        data = T.load_report_data(store, run_ids)
    mains = T.main_tables(data)
    complexity = T.complexity_table(data)
    reference = T.load_reference(reference_dir or reports_dir() / "reference")
    paper = T.paper_vs_measured(data, reference)
    per_image = T.per_image_table(data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}

    if "csv" in formats:
        files = []
        main_long = (
            pd.concat([T.flat_main_table(t) for t in mains], ignore_index=True)
            if mains
            else pd.DataFrame()
        )
        for name, df in (
            ("main", main_long),
            ("complexity", complexity),
            ("paper_vs_measured", paper),
            ("per_image", per_image),
        ):
            path = out_dir / f"{name}.csv"
            df.to_csv(path, index=False)
            files.append(path)
        written["csv"] = files
    if "md" in formats:
        parts = ["# uir-harness report", ""]
        for t in mains:
            parts += [
                f"## Suite {t.suite}",
                "",
                T.markdown_table(T.main_table_text(t), index=True),
                "",
            ]
            parts += [f"- `{note}`" for note in T.footnotes(t)] + [""]
        parts += paired_markdown(data)
        parts += ["## Complexity", "", T.markdown_table(complexity), ""]
        if not paper.empty:
            parts += ["## Paper vs measured", "", T.markdown_table(paper), ""]
        parts += [
            "## Per-image results (failed first, then worst first)",
            "",
            T.markdown_table(per_image),
            "",
        ]
        path = out_dir / "report.md"
        path.write_text("\n".join(parts), encoding="utf-8")
        written["md"] = [path]
    if "latex" in formats:
        path = out_dir / "report.tex"
        body = "% needs \\usepackage{booktabs}\n" + "\n\n".join(_latex_main(t) for t in mains)
        path.write_text(body + "\n", encoding="utf-8")
        written["latex"] = [path]
    if "json" in formats:
        path = out_dir / "report.json"
        doc = {
            "runs": _records(data.runs),
            "benchmarks": _records(data.benchmarks),
            "main": {t.suite: _records(T.flat_main_table(t)) for t in mains},
            "complexity": _records(complexity),
            "paper_vs_measured": _records(paper),
            "per_image": _records(per_image),
        }
        path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
        written["json"] = [path]
    if "html" in formats:
        from harness.report.explain_section import explain_sections
        from harness.report.figures import all_figures
        from harness.report.html import render_html
        from harness.report.sweeps import sweep_views

        path = out_dir / "index.html"
        explain = explain_sections(store_path, run_ids, reference)
        path.write_text(
            render_html(
                data,
                mains,
                complexity,
                paper,
                per_image,
                all_figures(data),
                sweeps=sweep_views(data, reference),
                explain=explain,
            ),
            encoding="utf-8",
        )
        written["html"] = [path]
    return written
