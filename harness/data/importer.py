"""``harness data import``: lay out a folder or archive the user already has under the data root."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from PIL import Image

from harness.data.archives import is_archive, safe_extract
from harness.data.benchmark import PairingError, benchmark_root, build_pairs
from harness.data.manifest import Manifest
from harness.data.safety import UnsafePathError, ensure_inside, walk_files
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


def find_layout(manifest: Manifest, base: Path) -> Path:
    """The folder under ``base`` that holds the manifest's input (and target) folders."""
    wanted = [d for d in (manifest.layout.input, manifest.layout.target) if d]
    for candidate in _candidates(manifest, base):
        if all((candidate / d).is_dir() for d in wanted):
            return candidate
    raise HarnessError(
        f"{base}: no folder holding {' and '.join(w + '/' for w in wanted)} for {manifest.name}",
        hint=f"point at the folder that contains {wanted[0]}/ (layout root "
        f"{manifest.layout.root!r}) or at the archive as downloaded",
    )


def check_decodes(files: list[Path]) -> None:
    """Fully decode each image; a corrupt or truncated one raises an error naming it."""
    for file in files:
        try:
            with Image.open(file) as im:
                im.load()
        except Exception as exc:
            raise HarnessError(
                f"{file}: corrupt or truncated image ({exc})",
                hint="re-download the archive (or re-export the file) and import again",
            ) from None


def _copy_tree(src: Path, dest: Path, folders: list[str]) -> int:
    count = 0
    for folder in folders:
        for rel in walk_files(src / folder):  # refuses symlinks that point outside
            target = dest / folder / rel
            ensure_inside(target, dest, "import target")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / folder / rel, target)
            count += 1
    return count


def import_benchmark(
    manifest: Manifest, source: Path, data_root: Path, *, check_images: bool = True
) -> tuple[Path, int]:
    """Copy ``source`` (folder or archive) into the canonical layout; return (root, pair count).

    Counts are checked against the manifest: a mismatch with a confirmed count is an error (the
    imported files stay in place so the user can inspect them).
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
    ensure_inside(dest, data_root, "benchmark folder")
    folders = [d for d in (manifest.layout.input, manifest.layout.target) if d]
    with tempfile.TemporaryDirectory(dir=data_root, prefix=".import-") as tmp:
        base = source
        if source.is_file():
            if not is_archive(source):
                raise HarnessError(f"{source}: not a folder, zip or tar archive")
            base = Path(tmp) / "extracted"
            safe_extract(source, base)
        layout = find_layout(manifest, base)
        staged = Path(tmp) / "staged"
        _copy_tree(layout, staged, folders)
        if check_images:
            check_decodes([staged / f / r for f in folders for r in walk_files(staged / f)])
        pairs = build_pairs(manifest, staged)
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), dest)
    expected = manifest.counts.inputs
    if expected is not None and expected != len(pairs):
        message = (
            f"{manifest.name}: imported {len(pairs)} pairs into {dest}, "
            f"the manifest expects {expected}"
        )
        if manifest.counts.confirmed:
            raise PairingError(
                message + " (confirmed count)",
                hint="the source is incomplete or a different release; import the full set",
            )
    return dest, len(pairs)
