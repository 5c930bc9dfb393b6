"""``harness score``: score a folder of restored images against ground truth under a protocol."""

from __future__ import annotations

import typer

from harness.errors import HarnessError


def register(app: typer.Typer) -> None:
    """Attach the ``score`` verb to the app."""

    @app.command(
        "score",
        help="Score a folder of restored images against ground truth under a protocol. (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def _score() -> None:
        raise HarnessError("`harness score` is not available in this version yet")
