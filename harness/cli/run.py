"""``harness run``: run a method on a suite or benchmark and store per-image results."""

from __future__ import annotations

import typer

from harness.errors import HarnessError


def register(app: typer.Typer) -> None:
    """Attach the ``run`` verb to the app."""

    @app.command(
        "run",
        help="Run a method on a suite or benchmark and store per-image results. (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def _run() -> None:
        raise HarnessError("`harness run` is not available in this version yet")
