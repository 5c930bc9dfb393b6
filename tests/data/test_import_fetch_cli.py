"""Import, fetch and the ``harness data`` CLI, with malicious archives and bad folders."""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.data.archives import safe_extract
from harness.data.benchmark import PairingError, build_pairs, embedded_dir, open_benchmark
from harness.data.catalog import load_manifest
from harness.data.fetch import DownloadError, download
from harness.data.hf_export import build_records
from harness.data.importer import import_benchmark
from harness.data.safety import UnsafePathError
from harness.errors import HarnessError

SOURCE = embedded_dir() / "mini-derain"


@pytest.fixture
def manifests(tmp_path, monkeypatch):
    """A manifests copy where mini-derain is an ordinary (importable), unpinned benchmark."""
    dest = tmp_path / "manifests"
    shutil.copytree("manifests", dest, ignore=shutil.ignore_patterns("embedded"))
    raw = yaml.safe_load((dest / "mini-derain.yaml").read_text())
    raw.update(embedded=False, sources=[{"kind": "manual", "url": "https://example.org/x"}])
    (dest / "mini-derain.yaml").write_text(yaml.safe_dump(raw))
    (dest / "locks" / "mini-derain.lock").unlink()
    monkeypatch.setenv("HARNESS_MANIFESTS", str(dest))
    return dest


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "download" / "Rain" / "mini-derain"
    shutil.copytree(SOURCE, folder, ignore=shutil.ignore_patterns("meta.json"))
    return folder


def test_import_folder_and_zip_then_open_verified(manifests, tmp_path):
    folder = _folder(tmp_path)
    data = tmp_path / "data"
    dest, count = import_benchmark(load_manifest("mini-derain"), tmp_path / "download", data)
    assert count == 5 and dest == data / "mini-derain"
    zpath = tmp_path / "pack.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for file in sorted(folder.rglob("*.png")):
            zf.write(file, "pack/" + file.relative_to(folder).as_posix())
    shutil.rmtree(dest)
    dest, count = import_benchmark(load_manifest("mini-derain"), zpath, data)
    assert count == 5
    bench = open_benchmark("mini-derain", data)
    assert not bench.pinned
    assert [p.id for p in bench.pairs] == sorted(p.stem for p in (folder / "input").glob("*.png"))


def test_import_refuses_what_the_lock_does_not_pin(manifests, tmp_path):
    shutil.copy("manifests/locks/mini-derain.lock", manifests / "locks")
    folder = _folder(tmp_path)  # the lock also pins meta.json, which the import cannot carry
    data = tmp_path / "data"
    with pytest.raises(HarnessError, match="missing: meta.json") as err:
        import_benchmark(load_manifest("mini-derain"), folder, data)
    assert str(folder) in str(err.value) and not (data / "mini-derain").exists()


def test_import_refuses_wrong_confirmed_count(manifests, tmp_path):
    folder = _folder(tmp_path)
    (folder / "input" / "rocket-00.png").unlink()
    (folder / "target" / "rocket-00.png").unlink()
    with pytest.raises(PairingError, match="expects 5"):
        import_benchmark(load_manifest("mini-derain"), folder, tmp_path / "data")


def test_import_refuses_corrupt_image_naming_it(manifests, tmp_path):
    folder = _folder(tmp_path)
    png = folder / "target" / "coffee-00.png"
    png.write_bytes(png.read_bytes()[:2000])  # truncated
    with pytest.raises(HarnessError, match="coffee-00.png"):
        import_benchmark(load_manifest("mini-derain"), folder, tmp_path / "data")


def test_pairing_errors_name_the_files(manifests, tmp_path):
    folder = _folder(tmp_path)
    manifest = load_manifest("mini-derain")
    shutil.copy(folder / "input" / "coffee-00.png", folder / "input" / "coffee-00.jpg")
    with pytest.raises(PairingError, match="coffee-00"):
        build_pairs(manifest, folder)
    (folder / "input" / "coffee-00.jpg").unlink()
    (folder / "target" / "rocket-00.png").rename(folder / "target" / "rocket-01.png")
    with pytest.raises(PairingError, match="rocket-00.png"):
        build_pairs(manifest, folder)


def test_size_mismatched_pair_is_refused(manifests, tmp_path):
    from PIL import Image

    folder = _folder(tmp_path)
    with Image.open(folder / "target" / "chelsea-00.png") as im:
        im.crop((0, 0, 200, 256)).save(folder / "target" / "chelsea-00.png")
    data = tmp_path / "data"
    shutil.copytree(folder, data / "mini-derain")
    with pytest.raises(PairingError, match="chelsea-00"):
        open_benchmark("mini-derain", data)  # unpinned (the fixture drops the lock)
    # --allow-unverified leaves the pair to the runner, which records it as a failed item
    assert len(open_benchmark("mini-derain", data, allow_unverified=True).pairs) == 5


def _zip_with(tmp_path: Path, name: str, symlink: bool = False) -> Path:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd" if symlink else "boom")
    return path


def _tar_with(tmp_path: Path, name: str, link: str | None = None) -> Path:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo(name)
        if link:
            info.type, info.linkname = tarfile.SYMTYPE, link
            tf.addfile(info)
        else:
            info.size = 4
            tf.addfile(info, io.BytesIO(b"boom"))
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda t: _zip_with(t, "../../escape.png"),
        lambda t: _zip_with(t, "/abs/escape.png"),
        lambda t: _zip_with(t, "ok/link.png", symlink=True),
        lambda t: _tar_with(t, "../escape.png"),
        lambda t: _tar_with(t, "/tmp/escape.png"),
        lambda t: _tar_with(t, "input/x.png", link="../../../etc/passwd"),
    ],
)
def test_malicious_archives_are_refused(tmp_path, make):
    archive = make(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(UnsafePathError, match="refusing"):
        safe_extract(archive, out)
    assert not (tmp_path / "escape.png").exists() and not list(out.rglob("*"))


def test_symlink_out_of_the_folder_is_refused(manifests, tmp_path):
    folder = _folder(tmp_path)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"x")
    (folder / "input" / "leak.png").symlink_to(secret)
    with pytest.raises(UnsafePathError, match="outside"):
        import_benchmark(load_manifest("mini-derain"), folder, tmp_path / "data")


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *args):
            pass

        def send_head(self):  # minimal Range support for the resume test
            rng = self.headers.get("Range")
            path = Path(self.translate_path(self.path))
            if not rng or not path.is_file():
                return super().send_head()
            start = int(rng.split("=")[1].split("-")[0])
            body = path.read_bytes()[start:]
            self.send_response(206)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_verifies_and_resumes(http_root, tmp_path):
    root, url = http_root
    payload = bytes(range(256)) * 4000
    (root / "blob.bin").write_bytes(payload)
    sha = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "dl" / "blob.bin"
    part = dest.with_name("blob.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(payload[:1000])  # an interrupted earlier attempt
    assert download(f"{url}/blob.bin", dest, sha256=sha, size=len(payload), timeout=10) == dest
    assert dest.read_bytes() == payload and not part.exists()
    with pytest.raises(DownloadError, match="does not match"):
        download(f"{url}/blob.bin", tmp_path / "other.bin", sha256="0" * 64, timeout=10)
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{url}/nope.bin", tmp_path / "nope.bin", timeout=10)
    with pytest.raises(DownloadError, match="only http"):
        download("file:///etc/passwd", tmp_path / "x", timeout=10)


def _url_source(manifests: Path, **source: object) -> None:
    raw = yaml.safe_load((manifests / "mini-derain.yaml").read_text())
    raw["sources"] = [{"kind": "url", **source}]
    (manifests / "mini-derain.yaml").write_text(yaml.safe_dump(raw))


def test_cli_fetch_downloads_checks_and_imports(manifests, http_root, tmp_path):
    root, url = http_root
    folder = _folder(tmp_path)
    archive = root / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(folder.rglob("*.png")):
            zf.write(file, "pack/" + file.relative_to(folder).as_posix())
    payload = archive.read_bytes()
    sha = hashlib.sha256(payload).hexdigest()
    data = tmp_path / "data"
    args = ["--data-root", str(data), "data", "fetch", "mini-derain"]
    _url_source(
        manifests, url=f"{url}/pack.zip", size=len(payload) - 1, sha256=sha, sha256_from="t"
    )
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "more than the declared size" in str(result.exception)
    assert not list((data / "_downloads").iterdir()) and not (data / "mini-derain").exists()
    _url_source(manifests, url=f"{url}/pack.zip", size=len(payload), sha256=sha, sha256_from="t")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "5 pairs" in result.output
    assert (data / "_downloads" / "pack.zip").read_bytes() == payload


def test_cli_ls_verify_lock_import_and_fetch_steps(manifests, tmp_path):
    runner = CliRunner()
    data = tmp_path / "data"
    folder = _folder(tmp_path)
    args = ["--data-root", str(data), "data"]
    result = runner.invoke(app, [*args, "import", "mini-derain", str(folder)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*args, "verify", "mini-derain"])
    assert result.exit_code == 1 and "not pinned" in result.output
    result = runner.invoke(app, [*args, "lock", "mini-derain"])
    assert result.exit_code == 0 and "locked 10 files" in result.output
    result = runner.invoke(app, [*args, "verify", "--suite", "mini-derain"])
    assert result.exit_code == 0 and "10 files verified" in result.output
    result = runner.invoke(app, [*args, "ls", "--json"])
    rows = {r["name"]: r for r in __import__("json").loads(result.output)}
    assert rows["mini-derain"]["status"] == "verified" and rows["gopro"]["status"] == "missing"
    result = runner.invoke(app, [*args, "fetch", "gopro"])
    assert "1k6DTSHu4saUgrGTYkkZXTptILyG9RRll" in result.output
    assert "harness data import gopro" in result.output


def test_hf_records_carry_ids_bytes_and_digest():
    bench = open_benchmark("mini-real", Path("."))
    records = build_records(bench)
    assert [r["id"] for r in records] == [p.id for p in bench.pairs]
    assert all(r["digest"] == bench.digest and r["target"] is None for r in records)
    assert records[0]["input"]["bytes"] == bench.pairs[0].input.read_bytes()


def test_hf_export_without_datasets_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)
    from harness.data.hf_export import export_to_hf

    with pytest.raises(HarnessError, match=r"uir-harness\[hf\]"):
        export_to_hf(open_benchmark("mini-real", Path(".")), tmp_path / "hf")
