"""``harness explain``: which metric convention moves a stored run's numbers, re-scored from its
saved outputs (see :mod:`harness.explain`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from harness.explain import BenchmarkExplanation, RunExplanation


def _lines(bench: BenchmarkExplanation) -> list[str]:
    """The text block of one benchmark."""
    metrics = list(dict.fromkeys(m for p in bench.protocols for m in p.means))
    width = max(len(p.protocol) for p in bench.protocols) + 2
    out = [
        f"{bench.benchmark}: {bench.n_images} saved of {bench.n_scored} scored image(s); "
        f"own protocol {bench.protocol}",
        f"  {bench.signature}",
        "  stored means:  " + "  ".join(f"{m} {bench.stored[m]:.4f}" for m in bench.metrics),
        "  " + "protocol".ljust(width + 2) + "".join(f"{m:>12}" for m in metrics),
    ]
    for p in bench.protocols:
        mark = "* " if p.own else "  "
        cells = (
            f"  n/a: {p.error}"
            if p.error
            else "".join(f"{p.means[m]:>12.4f}" if m in p.means else f"{'-':>12}" for m in metrics)
        )
        out.append(f"  {mark}{p.protocol.ljust(width)}{cells}")
    out.append(f"  single changes of {bench.protocol}, largest effect on the mean first:")
    for m in bench.metrics:
        for c in bench.changes[m]:
            out.append(f"    {m:<5} {c.effect:+10.4f}  -> {c.value:.4f}  {c.label}")
    for label, reason in bench.not_applicable.items():
        out.append(f"    not applicable: {label} ({reason})")
    most = []
    for m in bench.metrics:
        top = bench.largest(m)
        if top is not None:
            most.append(f"{m}: {top.label} ({top.effect:+.4f})")
    if most:
        out.append("  moves it most: " + "; ".join(most))
    for ref in bench.references:
        out.append(
            f"  reference {ref.metric} {ref.reference:.4f} ({ref.source}): measured "
            f"{ref.measured:.4f}, gap {ref.gap:+.4f}; changes by the part of |gap| they close:"
        )
        for g in ref.closing:
            out.append(f"    closes {g.closes:+.4f}, remaining {g.remaining:+.4f}  {g.label}")
    out += [f"  note: {n}" for n in bench.notes]
    return out


def render_text(explanation: RunExplanation) -> str:
    """The whole explanation as plain text."""
    shown = explanation.variant not in (None, "", "default")
    variant = f" ({explanation.variant})" if shown else ""
    lines = [
        f"run {explanation.run_id}: {explanation.method}{variant}, suite {explanation.suite}; "
        "numbers re-scored from the saved outputs (* the benchmark's own protocol)"
    ]
    for bench in explanation.benchmarks:
        lines += ["", *_lines(bench)]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Attach the ``explain`` verb to the app."""

    @app.command("explain")
    def explain(
        ctx: typer.Context,
        run_id: Annotated[int, typer.Argument(help="Run id (harness report --list).")],
        benchmark: Annotated[
            str | None, typer.Option("--benchmark", help="Only this benchmark of the run.")
        ] = None,
        store: Annotated[
            Path | None,
            typer.Option("--store", help="Result store (default <cache>/results.sqlite)."),
        ] = None,
        reference: Annotated[
            Path | None,
            typer.Option(
                "--reference", help="Folder of reference CSVs (default reports/reference)."
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Re-score a run's saved outputs under every protocol and every single convention change
        of its own protocol: which change moves each mean most, and how much of the gap to a
        reference number each closes (needs a run stored with --save-images)."""
        from harness.cli import settings_of
        from harness.explain import explain_run
        from harness.paths import reports_dir
        from harness.report.tables import load_reference
        from harness.store import Store, default_store_path

        store_path = store or default_store_path(settings_of(ctx).cache_dir)
        refs = load_reference(reference or reports_dir() / "reference")
        with Store(store_path, readonly=True) as db:
            result = explain_run(db, run_id, benchmark=benchmark, reference=refs)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2))
        else:
            typer.echo(render_text(result))
