"""``harness data``: benchmark data: list, verify, lock, fetch, import, export."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated

import typer

from harness.errors import HarnessError

data_app = typer.Typer(
    name="data",
    help="Benchmark data: list, verify, lock, fetch, import, export.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _settings(ctx: typer.Context):
    from harness.cli import settings_of

    return settings_of(ctx)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _byte_size(text: str) -> int:
    """``123``, ``200K``, ``1.5GiB``, ``64G`` -> bytes (units are binary: 1K = 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a size (e.g. 500M, 64GiB, 1000000)")
    return int(float(match[1]) * _UNITS[match[2].upper()])


MaxExtractBytes = Annotated[
    int | None,
    typer.Option(
        "--max-extract-bytes",
        parser=_byte_size,
        metavar="SIZE",
        help="Most bytes to extract from an archive, e.g. 200GiB (default: 8x the archive size "
        "the manifest declares, else 64GiB).",
    ),
]


@contextmanager
def _bytes_bar(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A transient rich progress bar fed with (bytes done, bytes in all)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@data_app.command("ls")
def ls(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Each benchmark: missing / present / verified, with the size on disk and pinned or not."""
    from harness.data.benchmark import benchmark_root, benchmark_status, lock_path
    from harness.data.catalog import benchmark_names, load_manifest
    from harness.data.safety import walk_files

    root = _settings(ctx).data_root
    rows = []
    for name in benchmark_names():
        manifest = load_manifest(name)
        status = benchmark_status(name, root)
        folder = benchmark_root(manifest, root)
        size = (
            sum((folder / rel).stat().st_size for rel in walk_files(folder))
            if status != "missing"
            else 0
        )
        rows.append(
            {
                "name": name,
                "status": status,
                "bytes": size,
                "pinned": lock_path(name).is_file(),
                "task": manifest.task,
                "setting": manifest.setting,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"data root: {root}")
    for r in rows:
        pin = "pinned" if r["pinned"] else "not pinned"
        typer.echo(
            f"{r['name']:<22} {r['status']:<9} {_human(r['bytes']):>9}  {pin:<10} "
            f"{r['task']}/{r['setting']}"
        )


def _names(name: str | None, suite: str | None) -> list[str]:
    from harness.data.catalog import resolve_suite

    if (name is None) == (suite is None):
        raise HarnessError("give a benchmark NAME or --suite S (exactly one)")
    return resolve_suite(suite) if suite else resolve_suite(name)  # type: ignore[arg-type]


@data_app.command("verify")
def verify(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Benchmark (or suite) name.")] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="Verify every benchmark.")] = None,
) -> None:
    """Hash every file and name each missing, extra and changed one (exit 1 on any problem)."""
    from harness.data.benchmark import benchmark_root, lock_path
    from harness.data.catalog import load_manifest
    from harness.data.lock import read_lock, verify_dir

    root = _settings(ctx).data_root
    failed = []
    for bench in _names(name, suite):
        manifest = load_manifest(bench)
        folder = benchmark_root(manifest, root)
        if not lock_path(bench).is_file():
            typer.echo(
                f"{bench}: not pinned (no lock); create one with `harness data lock {bench}`"
            )
            failed.append(bench)
            continue
        if not folder.is_dir():
            typer.echo(f"{bench}: missing (no folder {folder}); see `harness data fetch {bench}`")
            failed.append(bench)
            continue
        report = verify_dir(read_lock(lock_path(bench)), folder, use_cache=False)
        typer.echo(report.describe())
        if not report.ok:
            failed.append(bench)
    if failed:
        raise HarnessError(f"verification failed for: {', '.join(failed)}")


@data_app.command("lock")
def lock(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Benchmark name.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Lock path (default: manifests).")
    ] = None,
) -> None:
    """Write the lock (path, size, sha256, WxH per file, Merkle root) from the local copy."""
    from harness.data.benchmark import benchmark_root, build_pairs, lock_path
    from harness.data.catalog import load_manifest
    from harness.data.lock import write_lock_for_dir

    manifest = load_manifest(name)
    folder = benchmark_root(manifest, _settings(ctx).data_root)
    if not folder.is_dir():
        raise HarnessError(
            f"{name}: no data under {folder}", hint=f"harness data import {name} PATH"
        )
    pairs = build_pairs(manifest, folder)  # refuse to pin a set that does not pair
    written = write_lock_for_dir(name, folder, out or lock_path(name))
    typer.echo(
        f"{name}: locked {len(written.entries)} files ({len(pairs)} pairs), "
        f"merkle root {written.root} -> {out or lock_path(name)}"
    )


@data_app.command("fetch")
def fetch(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Benchmark name.")],
    max_extract_bytes: MaxExtractBytes = None,
) -> None:
    """Download plain-URL sources (resumable, checksum-verified) and import them; else print steps."""
    from harness.data.catalog import load_manifest
    from harness.data.fetch import archive_name, download, manual_steps
    from harness.data.importer import import_benchmark
    from harness.data.safety import DOWNLOADS_DIR

    manifest = load_manifest(name)
    if manifest.embedded:
        typer.echo(f"{name} is embedded in the repository; nothing to fetch")
        return
    root = _settings(ctx).data_root
    downloads = root / DOWNLOADS_DIR
    steps = []
    for source in manifest.sources:
        if source.kind != "url":
            steps.append(manual_steps(manifest, source, downloads))
            continue
        target = downloads / archive_name(source)
        typer.echo(f"downloading {source.url} -> {target}")
        with _bytes_bar("downloading") as progress:
            download(
                source.url,  # type: ignore[arg-type]
                target,
                sha256=source.sha256,
                size=source.size,
                progress=progress,
            )
        with _bytes_bar("extracting") as progress:
            dest, count = import_benchmark(
                manifest,
                target,
                root,
                max_extract_bytes=max_extract_bytes,
                declared_size=source.size,
                progress=progress,
            )
        typer.echo(f"{name}: {count} pairs laid out under {dest}")
        return
    typer.echo(f"{name} cannot be downloaded by script. Manual steps:")
    for step in steps:
        typer.echo(step)


@data_app.command("import")
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Benchmark name.")],
    path: Annotated[Path, typer.Argument(help="A folder or zip/tar archive you already have.")],
    max_extract_bytes: MaxExtractBytes = None,
) -> None:
    """Lay out a folder or archive under the data root, all or nothing, and check it.

    Every image must decode, inputs must pair with targets, a confirmed count must match and,
    when the benchmark has a lock, every file must match it; otherwise the previous copy stays.
    """
    from harness.data.catalog import load_manifest
    from harness.data.importer import import_benchmark

    manifest = load_manifest(name)
    with _bytes_bar("extracting") if path.is_file() else nullcontext(None) as progress:
        dest, count = import_benchmark(
            manifest,
            path,
            _settings(ctx).data_root,
            max_extract_bytes=max_extract_bytes,
            progress=progress,
        )
    typer.echo(f"{name}: {count} pairs laid out under {dest}")


@data_app.command("export")
def export(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Benchmark name.")],
    to_hf: Annotated[Path, typer.Option("--to-hf", help="Output folder (datasets format).")],
    allow_unverified: Annotated[bool, typer.Option("--allow-unverified")] = False,
) -> None:
    """Write a local Hugging Face dataset (pairs, ids, lock digest) for sharing a pinned copy."""
    from harness.data.benchmark import open_benchmark
    from harness.data.hf_export import export_to_hf

    bench = open_benchmark(name, _settings(ctx).data_root, allow_unverified=allow_unverified)
    out = export_to_hf(bench, to_hf)
    typer.echo(f"{name}: {len(bench.pairs)} records, digest {bench.digest} -> {out}")


def register(app: typer.Typer) -> None:
    """Attach the ``data`` verb group to the app."""
    app.add_typer(data_app, name="data")
