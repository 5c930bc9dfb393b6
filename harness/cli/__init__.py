"""The ``harness`` command line: one entry point, one module per verb."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from harness import __version__
from harness.errors import HarnessError
from harness.memory import keep_freed_memory
from harness.settings import Settings

app = typer.Typer(
    name="harness",
    help=(
        "Benchmark universal (all-in-one) image restorers on the field's standard benchmarks, "
        "under exactly named metric protocols, with pinned data and weights."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)

# Each module defines ``register(app)``; the order is the order ``--help`` lists the verbs in.
_VERB_MODULES = (
    "run",
    "sweep",
    "report",
    "gate",
    "compare",
    "reproduce",
    "score",
    "ls",
    "data",
    "weights",
    "complexity",
    "check",
    "train",
    "explain",
)


# The packages whose loggers follow -v/-q; other libraries keep logging's default (warnings).
_LOGGED_PACKAGES = ("harness", "baselines")
_HANDLER_NAME = "harness-cli"
log = logging.getLogger(__name__)


class _StderrHandler(logging.Handler):
    """Writes each record to the stderr current at that moment (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(self.format(record), err=True)


def configure_logging(verbosity: int) -> None:
    """Show the harness's log records on stderr: warnings by default, -v info, -vv debug, -q errors."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(min(verbosity, 2), -1), logging.DEBUG
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    for name in _LOGGED_PACKAGES:
        logging.getLogger(name).setLevel(level)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"uir-harness {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    data_root: Annotated[
        Path | None,
        typer.Option("--data-root", envvar="HARNESS_DATA", help="Where benchmark data lives."),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir", envvar="HARNESS_CACHE", help="Weights, result store and caches."
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True, help="More output.")] = 0,
    quiet: Annotated[int, typer.Option("-q", "--quiet", count=True, help="Less output.")] = 0,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Global options, stored on the context for every verb."""
    settings = Settings(device=device, verbosity=verbose - quiet)
    configure_logging(settings.verbosity)
    if cache_dir is not None:
        settings.cache_dir = cache_dir.expanduser()
    if data_root is not None:
        settings.data_root = data_root.expanduser()
    elif cache_dir is not None:
        settings.data_root = settings.cache_dir / "data"
    ctx.obj = settings
    log.info(
        "uir-harness %s: cache %s, data %s, device %s",
        __version__,
        settings.cache_dir,
        settings.data_root,
        settings.device,
    )


def settings_of(ctx: typer.Context) -> Settings:
    """The global settings of the running command (defaults when called outside the CLI)."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Settings) else Settings()


for _name in _VERB_MODULES:
    importlib.import_module(f"harness.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point: run the app, turning HarnessError into a clean message."""
    keep_freed_memory()
    try:
        app()
    except HarnessError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
