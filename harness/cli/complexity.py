"""``harness complexity``: parameters, FLOPs/MACs, peak memory and latency of a method."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

CONVENTIONS = (
    "FLOPs: torch.utils.flop_counter (conv/matmul/attention only, biases and elementwise ops "
    "not counted), FLOPs = 2 x MACs; per image = per network call x calls per image, counted on "
    "a batch of 1; peak memory and latency (median after warm-up) per restore() call of "
    "--batch-size images; images/s = batch size / latency."
)


def _fmt_giga(n: int) -> str:
    return f"{n / 1e9:,.3f}"


def _fmt_mem(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:,.1f} MiB"


def _build(
    name: str,
    variant: str | None,
    weights: str | None,
    device: str,
    options: dict[str, Any] | None = None,
):
    """Instantiate the method; without its weights file, fall back to random init and say so.

    The fallback needs a method that declares the ``random_init`` option.
    """
    from harness.errors import MissingFileError
    from harness.registry import method_class

    cls = method_class(name)
    options = options or {}
    try:
        return cls(variant=variant, weights=weights, device=device, **options), None
    except MissingFileError as missing:
        if "random_init" not in cls.option_specs or "random_init" in options:
            raise
        method = cls(variant=variant, weights=weights, device=device, **options, random_init=True)
        return method, (
            f"weights not found ({missing.path}); measured with random init "
            "(counts and timings do not depend on weight values)"
        )


def register(app: typer.Typer) -> None:
    """Attach the ``complexity`` verb to the app."""

    @app.command("complexity")
    def complexity(
        ctx: typer.Context,
        method: Annotated[str, typer.Argument(help="Method name (see `harness ls methods`).")],
        variant: Annotated[str | None, typer.Option("--variant", help="Method variant.")] = None,
        size: Annotated[
            list[str] | None,
            typer.Option("--size", help="Image size HxW; repeatable. Default 256x256."),
        ] = None,
        weights: Annotated[
            str | None, typer.Option("--weights", help="Weights name or path.")
        ] = None,
        repeats: Annotated[int, typer.Option("--repeats", min=0, help="Timed runs.")] = 5,
        warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs.")] = 1,
        batch_size: Annotated[
            int,
            typer.Option(
                "--batch-size", "-b", min=1, help="Images per timed call (throughput in images/s)."
            ),
        ] = 1,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
        options: Annotated[
            list[str] | None,
            typer.Option("--option", help="Method option KEY=VALUE (repeatable), as for run."),
        ] = None,
    ) -> None:
        """Print parameters, FLOPs/MACs per image, peak memory and latency of a method."""
        from harness.cli import settings_of
        from harness.cli.run import method_options
        from harness.complexity import measure, parse_size
        from harness.settings import resolve_device

        device = resolve_device(settings_of(ctx).device)
        sizes = [parse_size(s) for s in (size or ["256x256"])]
        chosen = method_options(options or [])
        restorer, note = _build(method, variant, weights, device, chosen)
        report = measure(
            restorer, sizes, device=device, warmup=warmup, repeats=repeats, batch_size=batch_size
        )
        if note:
            report.notes.append(note)
        if chosen:  # e.g. precision=bf16: the figures hold for these options only
            report.notes.append("options: " + ", ".join(f"{k}={v}" for k, v in chosen.items()))
        report.notes.append(CONVENTIONS)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
            return
        typer.echo(f"{report.method} variant {report.variant} on {report.device}")
        typer.echo(f"params: {report.params:,}")
        for what, count in report.params_detail.items():
            typer.echo(f"  {what}: {count:,}")
        typer.echo(
            f"{'size':<11} {'calls/img':>9} {'GMACs/call':>11} {'GMACs/img':>10} "
            f"{'GFLOPs/img':>11} {'peak memory':>13} {'latency ms':>11} {'images/s':>9}"
        )
        for row in report.sizes:
            latency = "-" if row.latency_ms_median is None else f"{row.latency_ms_median:,.1f}"
            rate = "-" if row.images_per_second is None else f"{row.images_per_second:,.3g}"
            typer.echo(
                f"{f'{row.height}x{row.width}':<11} {row.calls_per_image:>9} "
                f"{_fmt_giga(row.flops_per_call // 2):>11} {_fmt_giga(row.macs_per_image):>10} "
                f"{_fmt_giga(row.flops_per_image):>11} {_fmt_mem(row.peak_memory_bytes):>13} "
                f"{latency:>11} {rate:>9}"
            )
        kinds = sorted({row.memory_kind for row in report.sizes})
        typer.echo(
            f"peak memory: {', '.join(kinds)}; latency: median of {repeats} runs, "
            f"batch of {batch_size} image(s) per call"
        )
        for line in report.notes:
            typer.echo(f"note: {line}")
