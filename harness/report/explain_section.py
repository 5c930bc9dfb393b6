"""The report's "Explain" section: ``harness explain`` of each reported run with saved outputs, on
at most ``REPORT_IMAGE_LIMIT`` saved images per benchmark so the report stays quick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.explain import BenchmarkExplanation, NoSavedImagesError, RunExplanation, explain_run
from harness.report.html import frame_html
from harness.store import Store

REPORT_IMAGE_LIMIT = 5


def _num(value: float) -> str:
    return f"{value:.4f}"


def _section(run: RunExplanation, bench: BenchmarkExplanation) -> dict[str, Any]:
    """One benchmark's block: protocol table, ranked changes, gap closing, notes."""
    metrics = list(dict.fromkeys(m for p in bench.protocols for m in p.means))
    protocols = pd.DataFrame(
        [
            {
                "protocol": p.protocol + (" (own)" if p.own else ""),
                **{m: _num(p.means[m]) if m in p.means else "-" for m in metrics},
                "signature": p.signature,
                "error": p.error or "",
            }
            for p in bench.protocols
        ]
    )
    changes = pd.DataFrame(
        [
            {
                "metric": m,
                "rank": i,
                "single change": c.label,
                "mean": _num(c.value),
                "effect": f"{c.effect:+.4f}",
            }
            for m in bench.metrics
            for i, c in enumerate(bench.changes[m], start=1)
        ]
    )
    tables = [frame_html(protocols, classes="small"), frame_html(changes, classes="small")]
    if bench.references:
        closing = pd.DataFrame(
            [
                {
                    "metric": ref.metric,
                    "reference": _num(ref.reference),
                    "source": ref.source,
                    "gap": f"{ref.gap:+.4f}",
                    "rank": i,
                    "single change": g.label,
                    "closes": f"{g.closes:+.4f}",
                    "remaining gap": f"{g.remaining:+.4f}",
                }
                for ref in bench.references
                for i, g in enumerate(ref.closing, start=1)
            ]
        )
        tables.append(frame_html(closing, classes="small"))
    summary = [
        f"Re-scored {bench.n_images} saved of {bench.n_scored} scored image(s); stored means: "
        + ", ".join(f"{m} {_num(bench.stored[m])}" for m in bench.metrics)
        + "."
    ]
    for m in bench.metrics:
        top = bench.largest(m)
        if top is not None:
            summary.append(f"Moves {m} most: {top.label} ({top.effect:+.4f}).")
    notes = list(bench.notes)
    notes += [f"not applicable: {label} ({why})" for label, why in bench.not_applicable.items()]
    return {
        "title": f"Run {run.run_id} ({run.method}) / {bench.benchmark} [{bench.protocol}]",
        "signature": bench.signature,
        "summary": summary,
        "tables": tables,
        "notes": notes,
        "error": None,
    }


def explain_sections(
    store_path: Path, run_ids: list[int], reference: pd.DataFrame | None
) -> dict[str, Any] | None:
    """The section's data for the template; None when no reported run saved outputs."""
    sections: list[dict[str, Any]] = []
    with Store(store_path, readonly=True) as store:
        for run_id in run_ids:
            try:
                run = explain_run(store, run_id, reference=reference, limit=REPORT_IMAGE_LIMIT)
            except NoSavedImagesError:
                continue
            except HarnessError as exc:  # files moved or changed: say so, keep the report
                sections.append({"title": f"Run {run_id}", "error": str(exc)})
                continue
            sections += [_section(run, bench) for bench in run.benchmarks]
    return {"limit": REPORT_IMAGE_LIMIT, "sections": sections} if sections else None
