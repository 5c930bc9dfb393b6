"""``harness complexity``: parameters, FLOPs, peak memory and latency of a method."""

from __future__ import annotations

import typer

from harness.errors import HarnessError


def register(app: typer.Typer) -> None:
    """Attach the ``complexity`` verb to the app."""

    @app.command(
        "complexity",
        help="Parameters, FLOPs, peak memory and latency of a method. (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def _complexity() -> None:
        raise HarnessError("`harness complexity` is not available in this version yet")
