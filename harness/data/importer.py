"""``harness data import``: lay out a folder or archive the user already has, all or nothing.

The new copy is staged in a hidden ``.import-*`` folder beside the benchmark's folder (so on the
same filesystem), checked completely (every image decodes, pairing, a confirmed count, the lock
when one exists) and only then swapped in with two renames. A refusal, an error or an interrupt
leaves the previous copy as it was and removes the staging folder. Nothing outside the
benchmark's own root is ever removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from harness.data.archives import (
    ExtractLimits,
    Progress,
    extract_limits,
    is_archive,
    safe_extract,
)
from harness.data.benchmark import (
    DataVerificationError,
    PairingError,
    benchmark_root,
    build_pairs,
    lock_path,
)
from harness.data.lock import Lock, read_lock, verify_dir
from harness.data.manifest import Manifest
from harness.data.safety import (
    STAGING_PREFIX,
    UnsafePathError,
    ensure_inside,
    remove_tree,
    walk_files,
)
from harness.errors import HarnessError


def _candidates(manifest: Manifest, base: Path) -> list[Path]:
    found = [base, base / manifest.layout.root]
    found += [base / s.strip_prefix for s in manifest.sources if s.strip_prefix]
    tail = Path(manifest.layout.root).name
    found += sorted(p for p in base.rglob(tail) if p.is_dir())
    first = manifest.layout.input
    if first != ".":
        found += sorted(p.parent for p in base.rglob(first) if p.is_dir())
    return found


def find_layout(manifest: Manifest, base: Path, *, shown: str | None = None) -> Path:
    """The folder under ``base`` that holds the manifest's input (and target) folders.

    ``shown`` is how ``base`` is named in the error (the archive, when ``base`` is its extraction).
    """
    wanted = [d for d in (manifest.layout.input, manifest.layout.target) if d]
    for candidate in _candidates(manifest, base):
        if all((candidate / d).is_dir() for d in wanted):
            return candidate
    raise HarnessError(
        f"{shown or base}: no folder holding {' and '.join(w + '/' for w in wanted)} "
        f"for {manifest.name}",
        hint=f"point at the folder that contains {wanted[0]}/ (layout root "
        f"{manifest.layout.root!r}) or at the archive as downloaded",
    )


def check_decodes(files: list[Path]) -> None:
    """Fully decode each image; a corrupt or truncated one raises an error naming it."""
    for file in files:
        try:
            with Image.open(file) as im:
                im.load()
        except Exception as exc:  # PIL raises many types for damaged files; each names the file
            raise HarnessError(
                f"{file}: corrupt or truncated image ({exc})",
                hint="re-download the archive (or re-export the file) and import again",
            ) from None


def _lay_out(src: Path, dest: Path, folders: list[str], *, move: bool) -> None:
    """Copy (or, from our own extraction, move) the files of ``folders`` from ``src`` to ``dest``."""
    for folder in folders:
        for rel in walk_files(src / folder):  # refuses symlinks that point outside
            target = dest / folder / rel
            ensure_inside(target, dest, "import target")
            target.parent.mkdir(parents=True, exist_ok=True)
            if move:
                os.replace(src / folder / rel, target)
            else:
                shutil.copy2(src / folder / rel, target)


@contextmanager
def _staging(parent: Path, data_root: Path) -> Iterator[Path]:
    """A hidden staging folder in ``parent``, removed afterwards whatever happens."""
    work = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
    try:
        yield work
    finally:
        remove_tree(work, data_root, "import staging folder")


@contextmanager
def _parents(folder: Path, data_root: Path) -> Iterator[None]:
    """Create ``folder`` (and missing parents); on failure remove the ones made and left empty."""
    made = [p for p in (folder, *folder.parents) if p != data_root and data_root in p.parents]
    made = [p for p in made if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for p in made:  # deepest first
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()
        raise


def _declared_size(manifest: Manifest, archive: Path) -> int | None:
    """The size a manifest source declares for an archive of this file name, if any."""
    return next((s.size for s in manifest.sources if s.archive == archive.name and s.size), None)


def _stage(
    manifest: Manifest, source: Path, work: Path, limits: ExtractLimits, progress: Progress | None
) -> tuple[Path, str]:
    """Lay the source out in ``work/staged``; return it and how to name it in messages."""
    folders = [d for d in (manifest.layout.input, manifest.layout.target) if d]
    if source.is_dir():
        layout, shown, move = find_layout(manifest, source), None, False
    else:
        if not is_archive(source):
            raise HarnessError(f"{source}: not a folder, zip or tar archive")
        extracted = work / "extracted"
        safe_extract(source, extracted, limits=limits, progress=progress)
        layout = find_layout(manifest, extracted, shown=str(source))
        shown, move = f"{source}:{layout.relative_to(extracted).as_posix()}", True
    staged = work / "staged"
    staged.mkdir()
    _lay_out(layout, staged, folders, move=move)
    return staged, shown or str(layout)


def _validate(manifest: Manifest, staged: Path, lock: Lock | None, check_images: bool) -> int:
    """Every check an imported copy must pass; returns its pair count."""
    if check_images:
        folders = [d for d in (manifest.layout.input, manifest.layout.target) if d]
        check_decodes([staged / f / r for f in folders for r in walk_files(staged / f)])
    pairs = build_pairs(manifest, staged)
    expected = manifest.counts.inputs
    if manifest.counts.confirmed and expected is not None and expected != len(pairs):
        raise PairingError(
            f"{staged}: {len(pairs)} pairs for {manifest.name}, the manifest expects {expected} "
            "(confirmed count)",
            hint="the source is incomplete or a different release; import the full set",
        )
    if lock is not None:
        report = verify_dir(lock, staged, use_cache=False)
        if not report.ok:
            raise DataVerificationError(
                report.describe(),
                hint=f"import the release pinned by {lock_path(manifest.name)} "
                "(or, to pin a different one, remove that lock and run `harness data lock`)",
            )
    return len(pairs)


def _swap(staged: Path, dest: Path, aside: Path) -> None:
    """Put ``staged`` at ``dest`` by renames; the old ``dest`` goes to ``aside`` (or comes back)."""
    try:
        if dest.exists():
            os.rename(dest, aside)
        os.rename(staged, dest)
    except BaseException as exc:
        if aside.exists() and not dest.exists():
            os.rename(aside, dest)
        if isinstance(exc, OSError):
            raise HarnessError(
                f"cannot move the new copy into {dest} ({exc}); the previous copy is unchanged"
            ) from None
        raise


def import_benchmark(
    manifest: Manifest,
    source: Path,
    data_root: Path,
    *,
    check_images: bool = True,
    max_extract_bytes: int | None = None,
    declared_size: int | None = None,
    progress: Progress | None = None,
) -> tuple[Path, int]:
    """Lay out ``source`` (folder or archive) as the benchmark's folder; return (root, pairs).

    All or nothing: on any refusal (bad images, pairing, a confirmed count, the lock) the previous
    copy stays byte-identical, and errors name ``source``, never the staging folder. An archive is
    capped at ``max_extract_bytes``, else at a multiple of its ``declared_size`` (by default the
    size a manifest source declares for an archive of that file name), else at the default (see
    :func:`harness.data.archives.extract_limits`).
    """
    if manifest.embedded:
        raise HarnessError(f"{manifest.name} is embedded in the repository; nothing to import")
    source = Path(source)
    if not source.exists():
        raise HarnessError(f"{source}: no such file or folder")
    if source.is_symlink():
        raise UnsafePathError(f"{source}: is a symbolic link; pass the real folder or archive")
    data_root = Path(data_root)
    data_root.mkdir(parents=True, exist_ok=True)
    dest = benchmark_root(manifest, data_root)
    if ensure_inside(dest, data_root, "benchmark folder") == data_root.resolve():
        raise UnsafePathError(f"{manifest.name}: its folder is the data root; refusing to import")
    if dest.is_symlink():
        raise UnsafePathError(
            f"{dest} is a symbolic link; the importer replaces only a real folder",
            hint="move the data to that place and remove the link, or set --data-root",
        )
    lock = read_lock(lock_path(manifest.name)) if lock_path(manifest.name).is_file() else None
    with _parents(dest.parent, data_root), _staging(dest.parent, data_root) as work:
        declared = declared_size or _declared_size(manifest, source)
        limits = extract_limits(declared, max_extract_bytes)
        staged, shown = _stage(manifest, source, work, limits, progress)
        try:
            count = _validate(manifest, staged, lock, check_images)
        except HarnessError as exc:
            exc.message = exc.message.replace(str(staged), shown) + (
                f"\n  import refused; {dest} is unchanged" if dest.exists() else ""
            )
            exc.args = (exc.message,)
            raise
        _swap(staged, dest, work / "previous")
    return dest, count
