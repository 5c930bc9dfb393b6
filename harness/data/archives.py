"""Safe extraction of zip and tar archives: every member is checked before anything is written."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

from harness.data.safety import UnsafePathError, check_member_name, ensure_inside
from harness.errors import HarnessError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(path: Path) -> bool:
    """Whether ``path`` names a zip or tar archive (by suffix)."""
    name = path.name.lower()
    return any(name.endswith(s) for s in ARCHIVE_SUFFIXES)


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise HarnessError(f"{archive}: not a readable zip ({exc})") from None
    with zf:
        members = zf.infolist()
        for info in members:
            check_member_name(info.filename, str(archive))
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:
                raise UnsafePathError(
                    f"{archive}: entry {info.filename!r} is a symbolic link; refusing it",
                    hint="archives with links can write outside the target; re-pack without links",
                )
        for info in members:
            target = dest / info.filename.replace("\\", "/")
            ensure_inside(target, dest, f"{archive}: entry")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)


def _extract_tar(archive: Path, dest: Path) -> None:
    try:
        tf = tarfile.open(archive)
    except (tarfile.TarError, OSError) as exc:
        raise HarnessError(f"{archive}: not a readable tar archive ({exc})") from None
    with tf:
        members = tf.getmembers()
        for m in members:
            check_member_name(m.name, str(archive))
            if m.issym() or m.islnk():
                raise UnsafePathError(
                    f"{archive}: entry {m.name!r} is a link ({m.linkname!r}); refusing it",
                    hint="archives with links can write outside the target; re-pack without links",
                )
            if not (m.isfile() or m.isdir()):
                raise UnsafePathError(f"{archive}: entry {m.name!r} is a device or fifo; refusing")
        for m in members:
            target = dest / m.name
            ensure_inside(target, dest, f"{archive}: entry")
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(m)
            if src is None:
                continue
            with src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract ``archive`` into ``dest``; refuse absolute, ``..``, link and device members."""
    dest.mkdir(parents=True, exist_ok=True)
    if archive.name.lower().endswith(".zip"):
        _extract_zip(archive, dest)
    else:
        _extract_tar(archive, dest)
