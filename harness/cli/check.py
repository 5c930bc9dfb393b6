"""``harness check``: run the plugin contract checks for a method on the mini suite."""

from __future__ import annotations

import typer

from harness.errors import HarnessError


def register(app: typer.Typer) -> None:
    """Attach the ``check`` verb to the app."""

    @app.command(
        "check",
        help="Run the plugin contract checks for a method on the mini suite. (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def _check() -> None:
        raise HarnessError("`harness check` is not available in this version yet")
