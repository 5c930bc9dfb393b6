"""Safe extraction of zip and tar archives: every member is checked before anything is written.

Refused: absolute, ``..``, link and device members; encrypted zip members; more than
``max_members`` members; and archive bombs. Bytes are counted as they are written (header sizes
are checked first but not trusted): extraction stops past ``max_bytes`` in all, past
``max_ratio`` times the archive's size in all, or at a zip member that claims to expand more than
``max_ratio`` times. A damaged archive (corrupt or truncated zip, tar, tar.gz, tar.bz2, tar.xz) is
a HarnessError naming it. On any refusal or error the output folder is removed.
"""

from __future__ import annotations

import lzma
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.data.safety import UnsafePathError, check_member_name, ensure_inside
from harness.errors import HarnessError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
GIB = 1 << 30
# Without a declared archive size, at most this much is extracted (``--max-extract-bytes``
# raises it).
DEFAULT_MAX_EXTRACT_BYTES = 64 * GIB
# A manifest source that declares its archive's size may extract to at most this multiple of it:
# benchmark images (PNG, JPEG) barely compress, and 8x leaves room for BMP/TIFF/PPM sets.
DECLARED_SIZE_MULTIPLE = 8
MAX_MEMBERS = 500_000
# Deflate of real photographs stays far below 200:1; a run of zeros reaches about 1000:1.
MAX_RATIO = 200
RATIO_FLOOR = 1 << 20  # the ratio is judged on sizes of at least this (small files say nothing)
CHUNK = 1 << 20

# What reading a damaged archive raises (zlib, bz2, lzma and gzip each have their own).
_READ_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    NotImplementedError,  # a zip compression method Python cannot read (e.g. deflate64)
)

Progress = Callable[[int, int], None]


class ArchiveLimitError(HarnessError):
    """An archive that would extract to more bytes, members or ratio than allowed."""


@dataclass(frozen=True)
class ExtractLimits:
    """How much one archive may extract to: bytes in all, members, and expansion ratio."""

    max_bytes: int = DEFAULT_MAX_EXTRACT_BYTES
    max_members: int = MAX_MEMBERS
    max_ratio: int = MAX_RATIO
    max_bytes_from: str = "the default cap"


def extract_limits(declared_size: int | None, max_bytes: int | None = None) -> ExtractLimits:
    """The limits for one archive: ``max_bytes`` if given, else a multiple of its declared size.

    Without either, :data:`DEFAULT_MAX_EXTRACT_BYTES` applies.
    """
    if max_bytes is not None:
        return ExtractLimits(max_bytes=max_bytes, max_bytes_from="the cap --max-extract-bytes sets")
    if declared_size:
        return ExtractLimits(
            max_bytes=DECLARED_SIZE_MULTIPLE * declared_size,
            max_bytes_from=f"{DECLARED_SIZE_MULTIPLE}x the archive size the manifest declares, "
            f"{declared_size} bytes",
        )
    return ExtractLimits()


def is_archive(path: Path) -> bool:
    """Whether ``path`` names a zip or tar archive (by suffix)."""
    name = path.name.lower()
    return any(name.endswith(s) for s in ARCHIVE_SUFFIXES)


def _kind(archive: Path) -> str:
    name = archive.name.lower()
    return next((s[1:] for s in ARCHIVE_SUFFIXES if name.endswith(s)), "archive")


def _unreadable(archive: Path, exc: BaseException) -> HarnessError:
    detail = str(exc) or type(exc).__name__
    return HarnessError(
        f"{archive}: not a readable {_kind(archive)} archive ({detail})",
        hint="it is corrupt or truncated if it was readable before: download it again (and "
        "compare its sha256 with the published one if there is one)",
    )


class _Budget:
    """Counts the bytes written from one archive and stops at the first limit passed."""

    def __init__(self, archive: Path, limits: ExtractLimits, total: int, progress: Progress | None):
        self.archive = archive
        self.limits = limits
        self.ratio_cap = limits.max_ratio * max(archive.stat().st_size, RATIO_FLOOR)
        self.total = total
        self.progress = progress
        self.done = 0

    def check(self, size: int, what: str) -> None:
        """Refuse ``size`` bytes in all (header-declared or counted) if they pass a limit."""
        if size > self.limits.max_bytes:
            raise ArchiveLimitError(
                f"{self.archive}: {what} more than {_human(self.limits.max_bytes)} "
                f"({self.limits.max_bytes_from}); refusing it",
                hint="if the archive is genuine, raise the cap with --max-extract-bytes "
                "(e.g. --max-extract-bytes 200GiB)",
            )
        if size > self.ratio_cap:
            raise ArchiveLimitError(
                f"{self.archive}: {what} {size} bytes from a "
                f"{self.archive.stat().st_size}-byte archive, a ratio over "
                f"{self.limits.max_ratio}:1; refusing it (an archive bomb?)",
                hint="extract it yourself if you trust it and import the folder",
            )

    def copy(self, src: IO[bytes], out: IO[bytes] | None) -> None:
        """Stream one member from ``src`` to ``out`` (None: discard), counting every byte."""
        while True:
            try:
                block = src.read(CHUNK)
            except _READ_ERRORS as exc:
                raise _unreadable(self.archive, exc) from None
            if not block:
                return
            self.done += len(block)
            self.check(self.done, "extracts to")
            if out is None:
                continue
            out.write(block)
            if self.progress:
                self.progress(self.done, self.total)

    def drain(self, stream: IO[bytes]) -> None:
        """Read ``stream`` to its end (gzip, bz2 and xz check their checksums only there)."""
        self.copy(stream, None)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _check_count(archive: Path, count: int, limits: ExtractLimits) -> None:
    if count > limits.max_members:
        raise ArchiveLimitError(
            f"{archive}: more than {limits.max_members} members; refusing it",
            hint="extract it yourself if you trust it and import the folder",
        )


def _write(archive: Path, name: str, target: Path, src: IO[bytes] | None, budget: _Budget) -> None:
    """Write one member (``src`` None: a folder); a name clash or full disk names the entry."""
    try:
        if src is None:
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            budget.copy(src, out)  # reading errors become HarnessError in there
    except OSError as exc:
        raise HarnessError(f"{archive}: cannot write entry {name!r} ({exc})") from None


def _zip_members(
    archive: Path, zf: zipfile.ZipFile, limits: ExtractLimits
) -> list[zipfile.ZipInfo]:
    members = zf.infolist()
    _check_count(archive, len(members), limits)
    for info in members:
        check_member_name(info.filename, str(archive))
        mode = (info.external_attr >> 16) & 0o170000
        if mode == 0o120000:
            raise UnsafePathError(
                f"{archive}: entry {info.filename!r} is a symbolic link; refusing it",
                hint="archives with links can write outside the target; re-pack without links",
            )
        if info.flag_bits & 0x1:
            raise HarnessError(
                f"{archive}: entry {info.filename!r} is encrypted",
                hint="extract it yourself with the password and import the folder",
            )
        if info.file_size > max(info.compress_size, 1) * limits.max_ratio and (
            info.file_size > RATIO_FLOOR
        ):
            raise ArchiveLimitError(
                f"{archive}: entry {info.filename!r} expands from {info.compress_size} to "
                f"{info.file_size} bytes, a ratio over {limits.max_ratio}:1; refusing it "
                "(an archive bomb?)",
                hint="extract it yourself if you trust it and import the folder",
            )
    return members


def _extract_zip(
    archive: Path, dest: Path, limits: ExtractLimits, progress: Progress | None
) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except _READ_ERRORS as exc:
        raise _unreadable(archive, exc) from None
    with zf:
        members = _zip_members(archive, zf, limits)
        budget = _Budget(archive, limits, sum(i.file_size for i in members), progress)
        budget.check(budget.total, "says it extracts to")
        for info in members:
            target = dest / info.filename.replace("\\", "/")
            ensure_inside(target, dest, f"{archive}: entry")
            if info.is_dir():
                _write(archive, info.filename, target, None, budget)
                continue
            try:
                src = zf.open(info)
            except _READ_ERRORS as exc:
                raise _unreadable(archive, exc) from None
            with src:
                _write(archive, info.filename, target, src, budget)


def _tar_members(
    archive: Path, tf: tarfile.TarFile, limits: ExtractLimits
) -> list[tarfile.TarInfo]:
    members: list[tarfile.TarInfo] = []
    try:
        for m in tf:
            members.append(m)
            _check_count(archive, len(members), limits)
    except _READ_ERRORS as exc:
        raise _unreadable(archive, exc) from None
    for m in members:
        check_member_name(m.name, str(archive))
        if m.issym() or m.islnk():
            raise UnsafePathError(
                f"{archive}: entry {m.name!r} is a link ({m.linkname!r}); refusing it",
                hint="archives with links can write outside the target; re-pack without links",
            )
        if not (m.isfile() or m.isdir()):
            raise UnsafePathError(f"{archive}: entry {m.name!r} is a device or fifo; refusing")
    return members


def _extract_tar(
    archive: Path, dest: Path, limits: ExtractLimits, progress: Progress | None
) -> None:
    try:
        tf = tarfile.open(archive)
    except _READ_ERRORS as exc:
        raise _unreadable(archive, exc) from None
    with tf:
        members = _tar_members(archive, tf, limits)
        budget = _Budget(archive, limits, sum(m.size for m in members if m.isfile()), progress)
        budget.check(budget.total, "says it extracts to")
        for m in members:
            target = dest / m.name
            ensure_inside(target, dest, f"{archive}: entry")
            if m.isdir():
                _write(archive, m.name, target, None, budget)
                continue
            try:
                src = tf.extractfile(m)
            except _READ_ERRORS as exc:
                raise _unreadable(archive, exc) from None
            if src is None:
                continue
            with src:
                _write(archive, m.name, target, src, budget)
        budget.drain(tf.fileobj)  # type: ignore[arg-type]


def safe_extract(
    archive: Path,
    dest: Path,
    *,
    limits: ExtractLimits | None = None,
    progress: Progress | None = None,
) -> None:
    """Extract ``archive`` into the new folder ``dest`` within ``limits``; remove it on failure.

    ``progress(done, total)`` is called with bytes written so far and the header-declared total.
    """
    limits = limits or ExtractLimits()
    dest.mkdir(parents=True)
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, dest, limits, progress)
        else:
            _extract_tar(archive, dest, limits, progress)
    except BaseException:
        shutil.rmtree(dest)
        raise
