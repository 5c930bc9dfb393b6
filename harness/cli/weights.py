"""``harness weights``: checkpoints: list, verify, add."""

from __future__ import annotations

import typer

from harness.errors import HarnessError


def register(app: typer.Typer) -> None:
    """Attach the ``weights`` verb to the app."""

    @app.command(
        "weights",
        help="Checkpoints: list, verify, add. (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def _weights() -> None:
        raise HarnessError("`harness weights` is not available in this version yet")
