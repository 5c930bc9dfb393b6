"""``harness gate``: pSNR/SSIM regression gate against a committed baseline (for CI)."""

from __future__ import annotations

import typer

from harness.errors import HarnessError


def register(app: typer.Typer) -> None:
    """Attach the ``gate`` verb to the app."""

    @app.command(
        "gate",
        help="PSNR/SSIM regression gate against a committed baseline (for CI). (not available yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def _gate() -> None:
        raise HarnessError("`harness gate` is not available in this version yet")
