"""``harness report``: tables, figures and the HTML report of stored runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach the ``report`` verb to the app."""

    @app.command("report")
    def report(
        ctx: typer.Context,
        run_ids: Annotated[
            list[int] | None, typer.Argument(help="Run ids (default: the latest run).")
        ] = None,
        latest: Annotated[bool, typer.Option("--latest", help="Report the latest run.")] = False,
        all_runs: Annotated[bool, typer.Option("--all", help="Report every stored run.")] = False,
        formats: Annotated[
            list[str] | None,
            typer.Option("--format", "-f", help="html, md, csv, latex, json (repeatable)."),
        ] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
            "harness-report"
        ),
        store: Annotated[Path | None, typer.Option("--store", help="Result store.")] = None,
        list_runs: Annotated[bool, typer.Option("--list", help="List stored runs.")] = False,
    ) -> None:
        """Write tables, figures and the one-file HTML report of stored runs."""
        from harness.cli import settings_of
        from harness.errors import UnknownNameError
        from harness.report import FORMATS, write_report
        from harness.store import Store, default_store_path

        store_path = store or default_store_path(settings_of(ctx).cache_dir)
        with Store(store_path, readonly=True) as db:
            if list_runs:
                for r in db.runs():
                    n = len(db.results([r["run_id"]]))
                    typer.echo(
                        f"{r['run_id']:>4}  {r['method']:<14} {r['variant'] or '':<10} "
                        f"{r['suite']:<12} seed={r['seed']} device={r['device']} "
                        f"images={n} {r['status']}"
                    )
                return
            if all_runs:
                ids = [r["run_id"] for r in db.runs()]
            elif run_ids and not latest:
                ids = [r["run_id"] for r in db.runs(run_ids)]
            else:
                ids = [db.latest_run_id()]
        chosen = tuple(formats or ["html"])
        for f in chosen:
            if f not in FORMATS:
                raise UnknownNameError("report format", f, FORMATS)
        files = write_report(store_path, ids, out, chosen)
        for fmt, paths in files.items():
            for p in paths:
                typer.echo(f"{fmt}: {p.resolve()}")
