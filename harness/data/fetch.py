"""``harness data fetch``: download plain-URL sources (streamed, resumable, checksum-verified).

Sources behind Google Drive, Baidu or Box cannot be fetched reliably by a script; for those the
command prints exact manual steps and the import command to run afterwards.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from harness.data.manifest import Manifest, Source
from harness.data.safety import check_member_name
from harness.errors import HarnessError
from harness.hashing import sha256_file

CHUNK = 1 << 20
# Most bytes fetched from a source that declares no size (no benchmark archive comes close).
DEFAULT_MAX_DOWNLOAD_BYTES = 64 << 30


class DownloadError(HarnessError):
    """A download that failed or whose bytes do not match the published checksum."""


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    timeout: float = 30.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Stream ``url`` to ``dest`` via ``dest.part``, resuming a partial file with a Range request.

    Reading stops past the declared ``size`` (else past ``max_bytes``): the partial file is then
    deleted, since a server that sends more than it should cannot be resumed from.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise DownloadError(f"{url}: only http(s) URLs are fetched")
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    limit = size if size is not None else max_bytes
    what = "the declared size" if size is not None else "the download cap"
    have = part.stat().st_size if part.exists() else 0
    if have > limit:
        part.unlink()
        have = 0
    request = urllib.request.Request(url, headers={"User-Agent": "uir-harness"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https only)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # already complete
            response = None
        else:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(
            f"{url}: cannot connect ({exc})", hint="check the network, then run the same command"
        ) from None
    if response is not None:
        with response:
            resumed = have and response.status == 206
            done = have if resumed else 0
            offered = done + response.length if response.length is not None else None
            if offered is not None and offered > limit:
                part.unlink(missing_ok=True)
                raise DownloadError(
                    f"{url}: the server offers {offered} bytes, more than {what} ({limit}); "
                    f"not downloading it (deleted any partial file {part})",
                    hint="the server holds a different file; report it or import a copy you trust",
                )
            with open(part, "ab" if resumed else "wb") as out:
                while block := response.read(min(CHUNK, limit + 1 - done)):
                    done += len(block)
                    if done > limit:
                        break
                    out.write(block)
                    if progress:
                        progress(done, offered or size)
        if done > limit:
            part.unlink()
            raise DownloadError(
                f"{url}: the server sent more than {what} ({limit} bytes); stopped and "
                f"deleted {part}",
                hint="the server holds a different file; report it or import a copy you trust",
            )
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        raise DownloadError(
            f"{url}: got {actual_size} bytes, expected {size}; kept {part} to resume",
            hint="run the same command again to resume",
        )
    if sha256 is not None:
        actual = sha256_file(part)
        if actual != sha256:
            part.unlink()
            raise DownloadError(
                f"{url}: sha256 {actual} does not match the published {sha256}; deleted the file",
                hint="the mirror serves different bytes; report it or import a copy you trust",
            )
    os.replace(part, dest)
    return dest


def archive_name(source: Source) -> str:
    """The local file name for a source's archive (checked to be a plain name)."""
    name = source.archive or (source.url or "download").rstrip("/").rsplit("/", 1)[-1]
    check_member_name(name, "source archive name")
    if "/" in name:
        raise HarnessError(f"source archive name {name!r} must be a plain file name")
    return name


def manual_steps(manifest: Manifest, source: Source, downloads: Path) -> str:
    """Exact steps for a source that cannot be downloaded by script."""
    where = {
        "gdrive": "Open the Google Drive link in a browser and download",
        "baidu": "Open the Baidu Netdisk link in a browser, enter the extraction code, and download",
        "box": "Open the Box link in a browser and download",
        "hf": "Download the pinned Hub dataset revision",
        "manual": "Obtain",
    }.get(source.kind, "Download")
    lines = [f"{where}: {source.url or source.hf_repo or ''}"]
    if source.password:
        lines.append(f"  extraction code: {source.password}")
    if source.hf_revision:
        lines.append(f"  revision: {source.hf_revision}")
    if source.archive:
        lines.append(f"  save it as: {downloads / source.archive}")
    if source.sha256:
        lines.append(f"  check: sha256 {source.sha256} (published by {source.sha256_from})")
    if source.instructions:
        lines.append(f"  note: {source.instructions}")
    target = downloads / source.archive if source.archive else Path("PATH")
    lines.append(f"  then run: harness data import {manifest.name} {target}")
    return "\n".join(lines)
