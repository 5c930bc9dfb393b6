"""Path safety for data that comes from outside: nothing may land or be read outside its root."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path, PurePosixPath

from harness.errors import HarnessError

# Names the harness itself keeps directly under the data root; no benchmark root may use them.
STAGING_PREFIX = ".import-"  # a hidden folder where an import is staged before it is swapped in
DOWNLOADS_DIR = "_downloads"  # archives fetched by ``harness data fetch``


class UnsafePathError(HarnessError, ValueError):
    """A path (in a folder, an archive, a manifest or a lock) that would escape its root.

    It is a ValueError too, so pydantic validators report it as a field error.
    """


def safe_relative_path(path: str, what: str, *, allow_backslash: bool = False) -> PurePosixPath:
    """Return ``path`` as a relative POSIX path that cannot leave its root, else raise.

    Refused: empty names, absolute paths, drive letters, ``..`` parts and (unless
    ``allow_backslash``, where backslashes count as separators) backslashes. The one validator of
    every untrusted relative path: manifest layouts, lock lines, archive members, weights files.
    """
    text = path.replace("\\", "/") if allow_backslash else path
    if not text.strip():
        raise UnsafePathError(f"{what} is empty")
    if "\\" in text:
        raise UnsafePathError(
            f"{what} {path!r} contains a backslash; refusing it (use '/' as the separator)"
        )
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise UnsafePathError(
            f"{what} {path!r} is an absolute path; refusing it (paths must be relative)",
            hint="the file is malformed or malicious; re-create it with relative paths",
        )
    posix = PurePosixPath(text)
    if any(part == ".." for part in posix.parts):
        raise UnsafePathError(
            f"{what} {path!r} escapes its root ('..'); refusing it",
            hint="the file is malformed or malicious (path traversal); do not use it",
        )
    return posix


def safe_benchmark_root(path: str) -> str:
    """Return ``path`` normalised (``./a//b/`` -> ``a/b``) if it can be a benchmark's own folder.

    Refused besides what :func:`safe_relative_path` refuses: the data root itself (``.``, ``./``),
    hidden parts (imports are staged in hidden folders; verification skips hidden files) and the
    harness's own downloads folder.
    """
    posix = safe_relative_path(path, "layout.root")
    if posix == PurePosixPath("."):
        raise UnsafePathError(
            f"layout.root {path!r} is the data root itself; refusing it",
            hint="give the benchmark a folder of its own, e.g. 'LOL/test'",
        )
    if any(part.startswith(".") for part in posix.parts):
        raise UnsafePathError(f"layout.root {path!r} has a hidden part; refusing it")
    if posix.parts[0].casefold() == DOWNLOADS_DIR:
        raise UnsafePathError(f"layout.root {path!r} lies in the harness's {DOWNLOADS_DIR}/ folder")
    return posix.as_posix()


def check_member_name(name: str, where: str) -> PurePosixPath:
    """Refuse archive member names that are absolute, contain ``..`` or a drive letter."""
    return safe_relative_path(name, f"{where}: entry", allow_backslash=True)


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


def remove_tree(path: Path, root: Path, what: str) -> None:
    """Delete the folder ``path``; refuse unless it is a real folder strictly inside ``root``."""
    if path.is_symlink():
        raise UnsafePathError(f"{what} {path} is a symbolic link; refusing to delete through it")
    if ensure_inside(path, root, what) == root.resolve():
        raise UnsafePathError(f"{what} {path} is {root} itself; refusing to delete it")
    shutil.rmtree(path)


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
