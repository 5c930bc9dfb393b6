"""Path safety for data that comes from outside: nothing may land or be read outside its root."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from harness.errors import HarnessError


class UnsafePathError(HarnessError):
    """A path (in a folder, an archive or a manifest) that would escape its root."""


def check_member_name(name: str, where: str) -> PurePosixPath:
    """Refuse archive member names that are absolute, contain ``..`` or a drive letter."""
    normalised = name.replace("\\", "/")
    p = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise UnsafePathError(
            f"{where}: entry {name!r} is an absolute path; refusing to extract it",
            hint="the archive is malformed or malicious; re-create it with relative paths",
        )
    if any(part == ".." for part in p.parts):
        raise UnsafePathError(
            f"{where}: entry {name!r} climbs out of the target folder ('..'); refusing it",
            hint="the archive is malformed or malicious (zip-slip); do not use it",
        )
    return p


def ensure_inside(path: Path, root: Path, what: str) -> Path:
    """Return ``path`` resolved, raising UnsafePathError if it is not inside ``root``."""
    resolved = path.resolve()
    base = root.resolve()
    if resolved != base and base not in resolved.parents:
        raise UnsafePathError(
            f"{what} {path} resolves to {resolved}, outside {base}",
            hint="remove the link or move the file inside the data folder",
        )
    return resolved


def walk_files(root: Path) -> list[str]:
    """Relative POSIX paths of regular, non-hidden files under ``root``, sorted.

    Symlinks are followed only when they stay inside ``root``; a link out is an error.
    """
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            if (here / d).is_symlink():
                ensure_inside(here / d, root, "symlinked folder")
                prefix = (here / d).relative_to(root).as_posix()
                found += [f"{prefix}/{rel}" for rel in walk_files(here / d)]
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            if f.startswith("."):
                continue
            file = here / f
            if file.is_symlink():
                ensure_inside(file, root, "symlink")
            if not file.is_file():
                continue
            found.append(file.relative_to(root).as_posix())
    return sorted(found)
