"""``harness train``: train a method (DiffUIR) on a training suite."""

from __future__ import annotations

import typer

from harness.errors import HarnessError


def register(app: typer.Typer) -> None:
    """Attach the ``train`` verb to the app."""

    @app.command(
        "train",
        help="Train a method (DiffUIR) on a training suite. (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def _train() -> None:
        raise HarnessError("`harness train` is not available in this version yet")
