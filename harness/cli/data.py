"""``harness data``: benchmark data: list, verify, lock, fetch, import, export."""

from __future__ import annotations

import typer

from harness.errors import HarnessError


def register(app: typer.Typer) -> None:
    """Attach the ``data`` verb to the app."""

    @app.command(
        "data",
        help="Benchmark data: list, verify, lock, fetch, import, export. (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def _data() -> None:
        raise HarnessError("`harness data` is not available in this version yet")
