"""``harness check``: run the plugin contract checks for a method and print pass/fail per check."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach the ``check`` verb to the app."""

    @app.command("check")
    def check(
        ctx: typer.Context,
        method: Annotated[str, typer.Argument(help="Method name (see `harness ls methods`).")],
        variant: Annotated[str | None, typer.Option("--variant", help="Method variant.")] = None,
        weights: Annotated[
            str | None, typer.Option("--weights", help="Weights name or path.")
        ] = None,
        options: Annotated[
            list[str] | None,
            typer.Option("--option", help="Method option KEY=VALUE (repeatable), as for run."),
        ] = None,
    ) -> None:
        """Check output shape, dtype, range, determinism, batch invariance, blindness, odd sizes."""
        from harness.cli import settings_of
        from harness.cli.run import method_options
        from harness.contract import check_method
        from harness.settings import resolve_device

        settings = settings_of(ctx)
        device = resolve_device(settings.device)
        report = check_method(
            method,
            variant=variant,
            weights=weights,
            device=device,
            data_root=settings.data_root,
            options=method_options(options or []),
        )
        typer.echo(f"{report.method} variant {report.variant} on {device}")
        typer.echo(f"images: {report.images}")
        for c in report.checks:
            label = {True: "PASS", False: "FAIL", None: "n/a "}[c.passed]
            colour = {True: "green", False: "red", None: None}[c.passed]
            typer.secho(f"  {label}  {c.name:<16} {c.detail}", fg=colour)
        failed = [c.name for c in report.checks if c.passed is False]
        if failed:
            typer.secho(f"contract FAILED: {', '.join(failed)}", fg="red")
            raise typer.Exit(1)
        typer.secho("contract passed", fg="green")
