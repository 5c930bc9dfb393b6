"""Data import under attack: roots that swallow the data root, refused imports, bombs, bad archives.

Every test builds its own manifests (``HARNESS_MANIFESTS``), images and archives under tmp_path.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import hashlib
import http.server
import io
import lzma
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from harness.cli import app
from harness.data.archives import ExtractLimits, safe_extract
from harness.data.catalog import load_manifest
from harness.data.fetch import DownloadError, download
from harness.data.importer import import_benchmark
from harness.data.lock import write_lock_for_dir
from harness.data.manifest import ManifestError, parse_manifest
from harness.errors import HarnessError

IDS = ["a01", "b02", "c03", "d04", "e05"]


def _manifest_dict(name: str, root: str, **changes: object) -> dict:
    raw = {
        "name": name,
        "summary": "test benchmark",
        "task": "derain",
        "setting": "universal",
        "has_gt": True,
        "protocol": "diffuir-online",
        "sources": [{"kind": "manual", "url": "https://example.org/x"}],
        "license": "test",
        "citation": "test",
        "counts": {"inputs": len(IDS), "targets": len(IDS), "confirmed": True},
        "layout": {"root": root, "input": "input", "target": "target"},
    }
    raw.update(changes)
    return raw


def _write_manifest(folder: Path, name: str, root: str, **changes: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(_manifest_dict(name, root, **changes)))
    return path


@pytest.fixture
def manifests(tmp_path, monkeypatch):
    """An empty manifests folder the catalogue reads instead of the shipped one."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    monkeypatch.setenv("HARNESS_MANIFESTS", str(folder))
    return folder


def _image(path: Path, seed: int, side: int = 8, ext: str = ".png") -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"lossless": True} if ext == ".webp" else {}
    Image.fromarray(pixels).save(path.with_suffix(ext), **options)


def _pairs(folder: Path, ids: list[str] = IDS, seed: int = 0, **kw: object) -> Path:
    """``folder/input/<id>.png`` and ``folder/target/<id>.png``, random pixels from ``seed``."""
    for i, item in enumerate(ids):
        _image(folder / "input" / item, seed * 1000 + 2 * i, **kw)  # type: ignore[arg-type]
        _image(folder / "target" / item, seed * 1000 + 2 * i + 1, **kw)  # type: ignore[arg-type]
    return folder


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` (hidden ones too): path -> sha256 (or 'dir')."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in dirnames:
            found[(here / d).relative_to(root).as_posix()] = "dir"
        for f in filenames:
            found[(here / f).relative_to(root).as_posix()] = hashlib.sha256(
                (here / f).read_bytes()
            ).hexdigest()
    return found


def _zip_folder(folder: Path, archive: Path, prefix: str = "pack") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zf.write(file, f"{prefix}/{file.relative_to(folder).as_posix()}")
    return archive


# --- 1. roots that are (or overlap) the data root or another benchmark -------------------------


@pytest.mark.parametrize(
    "root", [".", "./", "./.", ".//.", "", "  ", "a/..", ".import-x", "Rain/.hidden", "_downloads"]
)
def test_manifest_refuses_roots_that_are_not_a_folder_of_their_own(tmp_path, root):
    path = _write_manifest(tmp_path, "bench", root)
    with pytest.raises(ManifestError) as err:
        parse_manifest(path)
    assert str(path) in str(err.value) and "layout.root" in str(err.value)


def test_manifest_root_is_normalised(tmp_path):
    manifest = parse_manifest(_write_manifest(tmp_path, "bench", "./Rain//test/./"))
    assert manifest.layout.root == "Rain/test"


@pytest.mark.parametrize(
    ("root_a", "root_b"),
    [
        ("Rain", "Rain"),
        ("Rain", "Rain/test"),
        ("Rain/test/x", "Rain/test"),
        ("rain/Test", "Rain/test"),
    ],
)
def test_catalogue_refuses_overlapping_roots_naming_both_manifests(manifests, root_a, root_b):
    first = _write_manifest(manifests, "first", root_a)
    second = _write_manifest(manifests, "second", root_b)
    with pytest.raises(ManifestError) as err:
        load_manifest("first")
    assert str(first) in str(err.value) and str(second) in str(err.value)


def test_sibling_roots_are_fine(manifests):
    _write_manifest(manifests, "first", "Rain/a")
    _write_manifest(manifests, "second", "Rain/ab")
    assert load_manifest("first").layout.root == "Rain/a"


def test_import_with_dot_root_deletes_nothing(manifests, tmp_path):
    data = tmp_path / "data"
    _pairs(data / "other-benchmark", seed=7)
    (data / "notes.txt").write_text("unrelated, keep me")
    before = _snapshot(data)
    _write_manifest(manifests, "bench", ".")
    source = _pairs(tmp_path / "download", seed=1)
    result = CliRunner().invoke(
        app, ["--data-root", str(data), "data", "import", "bench", str(source)]
    )
    assert result.exit_code != 0
    assert _snapshot(data) == before


def test_import_only_ever_replaces_its_own_root(manifests, tmp_path):
    data = tmp_path / "data"
    _pairs(data / "Rain" / "b", seed=7)
    (data / "Rain" / "notes.txt").write_text("keep")
    (data / "unrelated.bin").write_bytes(b"\x00" * 10)
    _write_manifest(manifests, "bench-a", "Rain/a")
    _write_manifest(manifests, "bench-b", "Rain/b")
    manifest = load_manifest("bench-a")
    import_benchmark(manifest, _pairs(tmp_path / "one", seed=1), data)
    others = {k: v for k, v in _snapshot(data).items() if not k.startswith("Rain/a")}
    dest, count = import_benchmark(manifest, _pairs(tmp_path / "two", seed=2), data)
    after = _snapshot(data)
    assert {k: v for k, v in after.items() if not k.startswith("Rain/a")} == others
    assert count == len(IDS) and dest == data / "Rain" / "a"
    assert {k: v for k, v in after.items() if k.startswith("Rain/a/")} == {
        f"Rain/a/{k}": v for k, v in _snapshot(tmp_path / "two").items()
    }


# --- 2. a refused import keeps the previous copy byte-identical --------------------------------


def _partial(tmp_path: Path) -> Path:
    return _pairs(tmp_path / "partial", IDS[:4], seed=2)


def _corrupt(tmp_path: Path) -> Path:
    folder = _pairs(tmp_path / "corrupt", seed=2, side=64)
    png = folder / "target" / "c03.png"
    png.write_bytes(png.read_bytes()[:200])
    return folder


def _orphan(tmp_path: Path) -> Path:
    folder = _pairs(tmp_path / "orphan", seed=2)
    (folder / "input" / "e05.png").rename(folder / "input" / "zz9.png")
    return folder


def _partial_zip(tmp_path: Path) -> Path:
    return _zip_folder(_partial(tmp_path), tmp_path / "partial.zip")


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (_partial, "expects 5"),
        (_corrupt, "c03.png"),
        (_orphan, "zz9.png"),
        (_partial_zip, "expects 5"),
    ],
)
def test_refused_import_keeps_the_previous_copy(manifests, tmp_path, make, needle):
    _write_manifest(manifests, "bench", "Bench/test")
    manifest = load_manifest("bench")
    data = tmp_path / "data"
    import_benchmark(manifest, _pairs(tmp_path / "good", seed=1), data)
    before = _snapshot(data)
    source = make(tmp_path)
    with pytest.raises(HarnessError) as err:
        import_benchmark(manifest, source, data)
    assert _snapshot(data) == before  # also: no staging folder left behind
    message = str(err.value)
    assert needle in message and str(source) in message and ".import-" not in message


def test_refused_first_import_leaves_no_trace(manifests, tmp_path):
    _write_manifest(manifests, "bench", "Deep/er/bench")
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(HarnessError, match="expects 5"):
        import_benchmark(load_manifest("bench"), _partial(tmp_path), data)
    assert _snapshot(data) == {}


def test_import_must_match_the_lock_when_one_exists(manifests, tmp_path):
    _write_manifest(manifests, "bench", "bench")
    manifest = load_manifest("bench")
    data = tmp_path / "data"
    good = _pairs(tmp_path / "good", seed=1)
    import_benchmark(manifest, good, data)
    write_lock_for_dir("bench", data / "bench", manifests / "locks" / "bench.lock")
    before = _snapshot(data)
    other = _pairs(tmp_path / "other", seed=1)
    _image(other / "target" / "b02", seed=99)  # same names and count, one different image
    with pytest.raises(HarnessError) as err:
        import_benchmark(manifest, other, data)
    assert "target/b02.png" in str(err.value) and str(other) in str(err.value)
    assert _snapshot(data) == before
    _, count = import_benchmark(manifest, good, data)  # the pinned bytes import fine
    assert count == len(IDS) and _snapshot(data) == before


def test_interrupted_import_keeps_the_previous_copy(manifests, tmp_path, monkeypatch):
    import harness.data.importer as importer

    _write_manifest(manifests, "bench", "bench")
    manifest = load_manifest("bench")
    data = tmp_path / "data"
    import_benchmark(manifest, _pairs(tmp_path / "good", seed=1), data)
    before = _snapshot(data)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(importer, "build_pairs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_benchmark(manifest, _pairs(tmp_path / "new", seed=2), data)
    assert _snapshot(data) == before


def test_failed_swap_rolls_back(manifests, tmp_path, monkeypatch):
    _write_manifest(manifests, "bench", "bench")
    manifest = load_manifest("bench")
    data = tmp_path / "data"
    dest, _ = import_benchmark(manifest, _pairs(tmp_path / "good", seed=1), data)
    before = _snapshot(data)
    real_rename = os.rename
    failed: list[object] = []

    def failing_rename(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if Path(dst) == dest and not failed:  # moving the new copy in fails once (disk gone)
            failed.append(src)
            raise OSError(errno.EIO, "simulated I/O error")
        real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(HarnessError):
        import_benchmark(manifest, _pairs(tmp_path / "new", seed=2), data)
    monkeypatch.undo()
    assert failed and _snapshot(data) == before


# --- 3. archive limits and damaged archives ----------------------------------------------------


def test_zip_bomb_member_is_refused_and_nothing_is_left(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pack/input/a01.png", b"\x00" * (16 << 20))
    assert archive.stat().st_size < 100_000  # a tiny archive that claims 16 MiB
    out = tmp_path / "out"
    with pytest.raises(HarnessError, match="bomb.zip") as err:
        safe_extract(archive, out)
    assert "ratio" in str(err.value) and not out.exists()


def test_total_extracted_bytes_are_capped(tmp_path):
    archive = tmp_path / "big.zip"
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"pack/f{i}.bin", rng.bytes(512 << 10))
    out = tmp_path / "out"
    with pytest.raises(HarnessError, match="big.zip") as err:
        safe_extract(archive, out, limits=ExtractLimits(max_bytes=1 << 20))
    assert "--max-extract-bytes" in str(err.value) and not out.exists()
    safe_extract(archive, out, limits=ExtractLimits(max_bytes=2 << 20))
    assert sum(f.stat().st_size for f in out.rglob("*.bin")) == 3 * (512 << 10)


def test_tar_member_count_is_capped(tmp_path):
    archive = tmp_path / "many.tar"
    with tarfile.open(archive, "w") as tf:
        for i in range(11):
            info = tarfile.TarInfo(f"pack/f{i:02d}.txt")
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
    out = tmp_path / "out"
    with pytest.raises(HarnessError, match="many.tar") as err:
        safe_extract(archive, out, limits=ExtractLimits(max_members=10))
    assert "10" in str(err.value) and not out.exists()


def _skewed_bytes(n: int, seed: int = 0) -> bytes:
    """Bytes that deflate by roughly 10-50x: mostly zeros with random sparse values."""
    rng = np.random.default_rng(seed)
    data = np.where(rng.random(n) < 0.03, rng.integers(1, 256, n), 0).astype(np.uint8)
    return data.tobytes()


def test_declared_archive_size_caps_extraction(manifests, tmp_path):
    folder = _pairs(tmp_path / "src", seed=1)
    archive = _zip_folder(folder, tmp_path / "pack.zip")
    with zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pack/README.bin", _skewed_bytes(2 << 20))
    size = archive.stat().st_size
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("pack/README.bin")
        assert 10 < info.file_size / info.compress_size < 100  # under any per-member ratio cap
    assert sum(i.file_size for i in zipfile.ZipFile(archive).infolist()) > 8 * size
    source = {"kind": "manual", "url": "https://example.org/x", "archive": "pack.zip", "size": size}
    _write_manifest(manifests, "bench", "bench", sources=[source])
    data = tmp_path / "data"
    with pytest.raises(HarnessError, match="pack.zip") as err:
        import_benchmark(load_manifest("bench"), archive, data)
    assert str(size) in str(err.value) or "declared" in str(err.value)
    assert not [p for p in data.rglob("*") if p.is_file()]
    _write_manifest(manifests, "bench", "bench")  # no declared size: the default cap applies
    _, count = import_benchmark(load_manifest("bench"), archive, data)
    assert count == len(IDS)


def test_cli_flag_sets_the_extraction_cap(manifests, tmp_path):
    _write_manifest(manifests, "bench", "bench")
    archive = _zip_folder(_pairs(tmp_path / "src", seed=1, side=128), tmp_path / "pack.zip")
    assert archive.stat().st_size > 300_000  # 10 random 128x128 PNGs, ~49 KB each
    data = tmp_path / "data"
    args = ["--data-root", str(data), "data", "import", "bench", str(archive)]
    result = CliRunner().invoke(app, [*args, "--max-extract-bytes", "200K"])
    assert result.exit_code == 1 and "pack.zip" in str(result.exception)
    assert not (data / "bench").exists()
    result = CliRunner().invoke(app, [*args, "--max-extract-bytes", "1MiB"])
    assert result.exit_code == 0, result.output
    assert len(list((data / "bench" / "input").iterdir())) == len(IDS)


def _random_tree_tar(path: Path, mode: str) -> Path:
    rng = np.random.default_rng(3)
    with tarfile.open(path, mode) as tf:
        for i in range(3):
            payload = rng.bytes(64 << 10)
            info = tarfile.TarInfo(f"pack/input/f{i}.bin")
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    return path


def _random_tree_zip(path: Path) -> Path:
    rng = np.random.default_rng(3)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"pack/input/f{i}.bin", rng.bytes(64 << 10))
    return path


def _flip_middle(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))
    return path


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda t: _truncate(_random_tree_zip(t / "x.zip")),
        lambda t: _flip_middle(_random_tree_zip(t / "x.zip")),
        lambda t: _truncate(_random_tree_tar(t / "x.tar", "w")),
        lambda t: _truncate(_random_tree_tar(t / "x.tar.gz", "w:gz")),
        lambda t: _truncate(_random_tree_tar(t / "x.tgz", "w:gz")),
        lambda t: _truncate(_random_tree_tar(t / "x.tar.bz2", "w:bz2")),
        lambda t: _truncate(_random_tree_tar(t / "x.tar.xz", "w:xz")),
        lambda t: _flip_middle(_random_tree_tar(t / "x.tar.gz", "w:gz")),
        lambda t: _file(t / "x.tar.gz", gzip.compress(b"not a tar at all" * 100)),
        lambda t: _file(t / "x.tar.bz2", bz2.compress(b"\x00" * 10)[:-4]),
        lambda t: _file(t / "x.tar.xz", lzma.compress(b"junk")[:20]),
        lambda t: _file(t / "x.zip", b"PK\x03\x04 garbage"),
    ],
)
def test_damaged_archives_give_a_clear_error(tmp_path, make):
    archive = make(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(HarnessError) as err:
        safe_extract(archive, out)
    assert str(archive) in str(err.value)
    assert "truncated" in str(err.value) or "not a readable" in str(err.value)
    assert not out.exists()


def test_cli_truncated_tar_gz_is_an_error_not_aborted(manifests, tmp_path):
    _write_manifest(manifests, "bench", "bench")
    archive = _truncate(_random_tree_tar(tmp_path / "x.tar.gz", "w:gz"))
    data = tmp_path / "data"
    result = CliRunner().invoke(
        app, ["--data-root", str(data), "data", "import", "bench", str(archive)]
    )
    assert result.exit_code == 1 and "Aborted" not in result.output
    assert isinstance(result.exception, HarnessError) and str(archive) in str(result.exception)
    assert not [p for p in data.rglob("*") if p.is_file()]


# --- fetch stops at the declared size ----------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    """A loopback server: /sized/<n> sends n bytes with a length; /stream/<n> sends n without."""
    sent: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            kind, n = self.path.strip("/").split("/")
            self.send_response(200)
            if kind == "sized":
                self.send_header("Content-Length", n)
            self.end_headers()
            total = 0
            try:
                while total < int(n):
                    block = b"\xab" * min(64 << 10, int(n) - total)
                    self.wfile.write(block)
                    total += len(block)
            except (BrokenPipeError, ConnectionResetError):
                pass
            sent.append(total)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", sent
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("kind", ["sized", "stream"])
def test_download_stops_at_the_declared_size(server, tmp_path, kind):
    url, _ = server
    dest = tmp_path / "dl" / "blob.bin"
    seen: list[int] = []
    with pytest.raises(DownloadError, match="1000") as err:
        download(
            f"{url}/{kind}/{8 << 20}",
            dest,
            size=1000,
            timeout=10,
            progress=lambda done, total: seen.append(done),
        )
    assert max(seen, default=0) <= 1001  # stopped at the declared size, not after 8 MiB
    assert kind == "sized" or "deleted" in str(err.value)
    assert not dest.exists() and not dest.with_name("blob.bin.part").exists()


def test_download_without_declared_size_is_capped(server, tmp_path):
    url, _ = server
    dest = tmp_path / "blob.bin"
    with pytest.raises(DownloadError, match="1000"):
        download(f"{url}/stream/{1 << 20}", dest, max_bytes=1000, timeout=10)
    assert not dest.exists() and not dest.with_name("blob.bin.part").exists()
    assert download(f"{url}/stream/1000", dest, max_bytes=1000, timeout=10).stat().st_size == 1000


# --- one tuple of image extensions (issue 12) --------------------------------------------------


def test_webp_pairs_import(manifests, tmp_path):
    _write_manifest(manifests, "bench", "bench")
    source = _pairs(tmp_path / "webp", seed=1, ext=".webp")
    _, count = import_benchmark(load_manifest("bench"), source, tmp_path / "data")
    assert count == len(IDS)
