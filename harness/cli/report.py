"""``harness report``: build tables, figures and an HTML report from stored runs."""

from __future__ import annotations

import typer

from harness.errors import HarnessError


def register(app: typer.Typer) -> None:
    """Attach the ``report`` verb to the app."""

    @app.command(
        "report",
        help="Build tables, figures and an HTML report from stored runs. (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def _report() -> None:
        raise HarnessError("`harness report` is not available in this version yet")
