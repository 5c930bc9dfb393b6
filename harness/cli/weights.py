"""``harness weights``: list, verify and add checkpoint files (manifests + the weights cache)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _methods(method: str | None) -> list[str]:
    from harness import registry

    if method is None:
        return registry.method_names()
    registry.method_class(method)  # unknown name -> UnknownNameError with a suggestion
    return [method]


def _print_rows(method: str, verify: bool) -> int:
    """Print one line per entry of ``method``; return how many files mismatched."""
    from harness.errors import HarnessError
    from harness.weights import entry_path, known_entries, pinned_sha256, status

    try:
        entries = known_entries(method)
    except HarnessError as exc:  # one broken plugin must not hide the others
        typer.echo(f"{method}: unavailable ({exc})")
        return 0
    if not entries:
        typer.echo(f"{method:<16} (no weights)")
        return 0
    mismatches = 0
    for entry in entries:
        state, sha = status(entry, verify=verify)
        mismatches += state == "mismatch"
        mark = " (default)" if entry.default else ""
        typer.echo(
            f"{method:<16} {entry.variant:<8} {entry.name}{mark}: {state.upper()}  "
            f"{entry_path(entry)}"
        )
        if state == "missing":
            typer.echo(f"{'':<16} get it from: {entry.source}")
        if entry.sha256 is not None and entry.sha256_origin is not None:
            typer.echo(f"{'':<16} pinned sha256{entry.origin_note}")
        if state == "mismatch" and pinned_sha256(entry) in (None, sha):
            typer.echo(f"{'':<16} git blob SHA-1 is not the publisher's {entry.git_blob_sha1}")
        elif state == "mismatch":
            typer.echo(f"{'':<16} sha256 {sha} != pinned {pinned_sha256(entry)}{entry.origin_note}")
        elif verify and sha:
            typer.echo(f"{'':<16} sha256 {sha}")
    return mismatches


def register(app: typer.Typer) -> None:
    """Attach the ``weights`` verb group (ls, verify, add) to the app."""
    group = typer.Typer(
        name="weights",
        help="Checkpoints: list (present/missing/verified), verify sha256, add a file to the cache.",
        no_args_is_help=True,
    )

    @group.command("ls")
    def ls(
        method: Annotated[str | None, typer.Argument(help="One method; all when omitted.")] = None,
    ) -> None:
        """List known weights files and whether they are present (no hashing)."""
        from harness.weights import weights_dir

        typer.echo(f"weights cache: {weights_dir()}")
        for name in _methods(method):
            _print_rows(name, verify=False)

    @group.command("verify")
    def verify(
        method: Annotated[str | None, typer.Argument(help="One method; all when omitted.")] = None,
    ) -> None:
        """Hash every present weights file and compare with its pinned sha256 (exit 1 on mismatch)."""
        bad = sum(_print_rows(name, verify=True) for name in _methods(method))
        if bad:
            typer.secho(f"{bad} file(s) do not match their pinned sha256", fg="red", err=True)
            raise typer.Exit(1)

    @group.command("add")
    def add(
        method: Annotated[str, typer.Argument(help="The method the file belongs to.")],
        path: Annotated[Path, typer.Argument(help="The checkpoint file to copy into the cache.")],
        variant: Annotated[
            str | None, typer.Option("--variant", help="Its variant (default: the one it holds).")
        ] = None,
        name: Annotated[
            str | None, typer.Option("--name", help="Entry name (default: the file's stem).")
        ] = None,
        replace: Annotated[
            bool, typer.Option("--replace", help="Replace a user entry of the same name.")
        ] = False,
    ) -> None:
        """Check a checkpoint as loading would, copy it into the cache, record its sha256."""
        from harness.weights import add_weights, user_index_path

        added = add_weights(method, path, variant=variant, name=name, replace=replace)
        entry, target = added.entry, added.path
        if added.outcome == "pinned":
            typer.echo(
                f"stored as shipped entry {entry.name!r} at {target}; its sha256 is now pinned "
                f"in {user_index_path()} (the manifest pins none)"
            )
        elif added.outcome == "verified":
            typer.echo(
                f"git blob SHA-1 matches the publisher's ({entry.git_blob_sha1}) for shipped entry "
                f"{entry.name!r}; stored at {target}; its sha256 is now pinned in "
                f"{user_index_path()}"
            )
        elif added.outcome in ("shipped", "matched"):
            typer.echo(f"matches shipped entry {entry.name!r} ({entry.sha256}); stored at {target}")
        elif added.outcome == "unchanged":
            typer.echo(f"already recorded as {entry.name!r} ({entry.sha256}) at {target}")
        else:
            typer.echo(
                f"{added.outcome} {entry.name!r} for {method} variant {entry.variant}: {target}\n"
                f"sha256 {entry.sha256} recorded in {user_index_path()}"
            )

    app.add_typer(group)
