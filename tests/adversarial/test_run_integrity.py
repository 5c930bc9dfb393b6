"""Adversarial run integrity: scores only on the bytes the lock pins, bad files as failed items.

Each test writes its own benchmark (manifest, images, lock) under tmp_path and points the harness
at it with HARNESS_MANIFESTS; expected digests and hashes are recomputed here with hashlib.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from harness.data.benchmark import DataVerificationError, open_benchmark
from harness.data.lock import read_lock, write_lock_for_dir
from harness.images import ImageDecodeError, read_image
from harness.runner import RunConfig, run
from tests.runner import fakes


# --- a benchmark the test makes itself ----------------------------------------------------------
def _manifest(name: str, n: int) -> dict:
    return {
        "name": name,
        "summary": "adversarial test fixture",
        "task": "derain",
        "setting": "universal",
        "has_gt": True,
        "protocol": "diffuir-online",
        "sources": [{"kind": "manual", "url": "https://example.org/fixture"}],
        "license": "test data",
        "citation": "none",
        "counts": {"inputs": n, "targets": n, "confirmed": True},
        "layout": {"root": name, "input": "input", "target": "target"},
    }


class Fixture:
    """Manifests, data root and store of one test; ``add`` writes a pinned benchmark."""

    def __init__(self, tmp_path: Path) -> None:
        self.manifests = tmp_path / "manifests"
        self.data = tmp_path / "data"
        self.store = tmp_path / "results.sqlite"
        (self.manifests / "locks").mkdir(parents=True)
        (self.manifests / "suites").mkdir()

    def add(
        self, name: str, n: int = 4, size: tuple[int, int] = (24, 32), ext: str = ".png"
    ) -> Path:
        """Write ``n`` noisy pairs of ``size`` (h, w) for benchmark ``name`` and lock them."""
        rng = np.random.default_rng(len(name) + n)
        root = self.data / name
        for side in ("input", "target"):
            (root / side).mkdir(parents=True)
        for i in range(n):
            gt = rng.integers(30, 226, size=(*size, 3), dtype=np.uint8)
            noisy = np.clip(gt + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(root / "input" / f"im{i}{ext}", compress_level=1)
            Image.fromarray(gt).save(root / "target" / f"im{i}{ext}", compress_level=1)
        (self.manifests / f"{name}.yaml").write_text(yaml.safe_dump(_manifest(name, n)))
        self.lock(name)
        return root

    def lock(self, name: str) -> None:
        """(Re)write the lock of ``name`` from the files now on disk."""
        write_lock_for_dir(name, self.data / name, self.manifests / "locks" / f"{name}.lock")

    def lock_root(self, name: str) -> str:
        return read_lock(self.manifests / "locks" / f"{name}.lock").root

    def suite(self, name: str, benchmarks: list[str]) -> None:
        doc = {"name": name, "summary": "adversarial suite", "benchmarks": benchmarks}
        (self.manifests / "suites" / f"{name}.yaml").write_text(yaml.safe_dump(doc))

    def run(self, suite: str, **kw) -> int:
        options = {"method": "identity", "device": "cpu", "workers": 0, "flops": False, **kw}
        config = RunConfig(suite=suite, data_root=self.data, store_path=self.store, **options)
        return run(config).run_id

    def _query(self, sql: str, *args: object) -> list[dict]:
        with sqlite3.connect(f"{self.store.as_uri()}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(sql, args)]

    def rows(self, run_id: int, name: str) -> dict[str, dict]:
        """image id -> result row (metrics parsed) of one run and benchmark."""
        sql = "SELECT * FROM results WHERE run_id = ? AND benchmark = ?"
        rows = self._query(sql, run_id, name)
        return {
            r["image_id"]: {**r, "metrics": json.loads(r["metrics_json"] or "{}")} for r in rows
        }

    def bench_row(self, run_id: int, name: str) -> dict:
        sql = "SELECT * FROM run_benchmarks WHERE run_id = ? AND benchmark = ?"
        (row,) = self._query(sql, run_id, name)
        return row


@pytest.fixture
def fx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fixture:
    fixture = Fixture(tmp_path)
    monkeypatch.setenv("HARNESS_MANIFESTS", str(fixture.manifests))
    return fixture


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scored_digest(root: Path, ids: list[str], ext: str = ".png") -> str:
    """The store's documented scored digest, recomputed from the files on disk."""
    lines = sorted(
        f"{i}\t{_sha(root / 'input' / f'{i}{ext}')}\t{_sha(root / 'target' / f'{i}{ext}')}\n"
        for i in ids
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _swap(a: Path, b: Path) -> None:
    tmp = a.with_suffix(".swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def _psnr(input_path: Path, target_path: Path) -> float:
    """Y (BT.601, float, unrounded) PSNR of identity's output, as diffuir-online defines it."""

    def y(path: Path) -> np.ndarray:
        rgb = np.asarray(Image.open(path), dtype=np.float64) / 255.0
        return 16.0 / 255.0 + (rgb @ np.array([65.481, 128.553, 24.966])) / 255.0

    mse = np.mean((y(input_path) - y(target_path)) ** 2)
    return float(10 * np.log10(1.0 / mse))


# --- 4. resume only reuses rows scored on the bytes now on disk -----------------------------------
def test_resume_rescores_rows_scored_on_other_bytes_and_never_claims_the_lock(fx: Fixture):
    root = fx.add("adv-swap")
    gt = root / "target"
    _swap(gt / "im0.png", gt / "im1.png")
    swapped = fx.run("adv-swap", allow_unverified=True)
    rows = fx.rows(swapped, "adv-swap")
    assert {i: rows[i]["verified"] for i in rows} == {"im0": 0, "im1": 0, "im2": 1, "im3": 1}
    assert rows["im0"]["target_sha256"] == _sha(gt / "im0.png")  # the swapped bytes, as scored
    assert rows["im0"]["metrics"]["psnr"] == pytest.approx(
        _psnr(root / "input" / "im0.png", gt / "im0.png"), abs=1e-6
    )
    bench = fx.bench_row(swapped, "adv-swap")
    ids = ["im0", "im1", "im2", "im3"]
    assert bench["verified"] == 0 and bench["data_digest"] != fx.lock_root("adv-swap")
    assert bench["data_digest"] == _scored_digest(root, ids)

    _swap(gt / "im0.png", gt / "im1.png")  # restore the pinned files
    resumed = fx.run("adv-swap")
    assert resumed == swapped
    rows = fx.rows(resumed, "adv-swap")
    for i in ids:
        assert rows[i]["status"] == "ok" and rows[i]["verified"] == 1
        assert rows[i]["target_sha256"] == _sha(gt / f"{i}.png")
        expected = _psnr(root / "input" / f"{i}.png", gt / f"{i}.png")
        assert rows[i]["metrics"]["psnr"] == pytest.approx(expected, abs=1e-6)
    bench = fx.bench_row(resumed, "adv-swap")
    assert bench["verified"] == 1 and bench["data_digest"] == fx.lock_root("adv-swap")


# --- 5. a file changed in place with the same size and mtime is not verified -------------------
def test_in_place_change_keeping_size_and_mtime_is_a_failed_item_not_verified(fx: Fixture):
    root = fx.add("adv-rot", ext=".bmp")  # BMP: a changed pixel keeps the file size
    open_benchmark("adv-rot", fx.data)  # hashes every file (and fills the hash cache)
    first = fx.run("adv-rot")
    assert fx.bench_row(first, "adv-rot")["verified"] == 1
    gt = root / "target" / "im2.bmp"
    before = gt.stat()
    with open(gt, "r+b") as fh:  # bit rot: one byte flipped in place
        fh.seek(before.st_size - 7)
        byte = fh.read(1)
        fh.seek(before.st_size - 7)
        fh.write(bytes([byte[0] ^ 0x10]))
    os.utime(gt, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = gt.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    second = fx.run("adv-rot")
    assert second == first
    rows = fx.rows(second, "adv-rot")
    assert rows["im2"]["status"] == "failed" and rows["im2"]["verified"] == 0
    assert str(gt) in rows["im2"]["reason"] and "differ from the lock" in rows["im2"]["reason"]
    assert rows["im2"]["target_sha256"] == _sha(gt)
    assert all(
        rows[i]["status"] == "ok" and rows[i]["verified"] == 1 for i in ("im0", "im1", "im3")
    )
    bench = fx.bench_row(second, "adv-rot")
    assert bench["verified"] == 0 and bench["data_digest"] != fx.lock_root("adv-rot")
    assert bench["data_digest"] == _scored_digest(root, ["im0", "im1", "im3"], ".bmp")


# --- 6./7. bad files are failed items with their reason; the benchmark and the suite go on -------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(width: int = 50000, height: int = 50000) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` 8-bit RGB pixels, with no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def _rgb16(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (height, width, 3), dtype=np.uint16)


def test_bomb_empty_truncated_and_16bit_files_are_failed_items_and_the_suite_goes_on(fx: Fixture):
    root = fx.add("adv-bad", n=5)
    (root / "input" / "im1.png").write_bytes(_bomb_png())
    (root / "input" / "im2.png").write_bytes(b"")
    truncated = root / "target" / "im3.png"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    wide = root / "target" / "im4.png"
    assert cv2.imwrite(str(wide), _rgb16(24, 32))  # 16-bit RGB PNG of the right size
    fx.lock("adv-bad")  # pinned as shipped: the bytes match, the images are bad
    fx.add("adv-good")
    fx.suite("adv", ["adv-bad", "adv-good"])

    run_id = fx.run("adv", workers=2)
    bad = fx.rows(run_id, "adv-bad")
    assert bad["im0"]["status"] == "ok"
    expected = {
        "im1": (root / "input" / "im1.png", "refused to decode"),
        "im2": (root / "input" / "im2.png", "empty file (0 bytes)"),
        "im3": (truncated, "cannot decode image"),
        "im4": (wide, "16-bit RGB image"),
    }
    for image_id, (path, why) in expected.items():
        assert bad[image_id]["status"] == "failed", image_id
        assert bad[image_id]["reason"].startswith(f"{path}: {why}"), bad[image_id]["reason"]
    good = fx.rows(run_id, "adv-good")
    assert len(good) == 4 and all(r["status"] == "ok" for r in good.values())
    bench = fx.bench_row(run_id, "adv-bad")
    assert bench["verified"] == 1 and bench["data_digest"] == fx.lock_root("adv-bad")


def test_a_resized_ground_truth_under_allow_unverified_is_one_failed_item(fx: Fixture):
    root = fx.add("adv-size")
    gt = root / "target" / "im1.png"
    Image.fromarray(np.full((20, 32, 3), 90, np.uint8)).save(gt)
    with pytest.raises(DataVerificationError, match="im1.png"):
        fx.run("adv-size")
    with pytest.warns(UserWarning, match="im1.png"):
        run_id = fx.run("adv-size", allow_unverified=True)
    rows = fx.rows(run_id, "adv-size")
    assert rows["im1"]["status"] == "failed" and rows["im1"]["verified"] == 0
    assert rows["im1"]["reason"] == f"{gt}: ground truth is 32x20 but the input is 32x24"
    assert all(
        rows[i]["status"] == "ok" and rows[i]["verified"] == 1 for i in ("im0", "im2", "im3")
    )


def _ppm16(array: np.ndarray) -> bytes:
    h, w, _ = array.shape
    return f"P6 {w} {h} 65535\n".encode() + array.astype(">u2").tobytes()


@pytest.mark.parametrize(
    ("suffix", "channels", "convert"),
    [(".png", 3, False), (".png", 4, True), (".tif", 3, False), (".ppm", 3, False)],
)
def test_images_with_16_bit_colour_samples_are_refused_by_name(
    tmp_path: Path, suffix: str, channels: int, convert: bool
):
    path = tmp_path / f"wide{suffix}"
    pixels = _rgb16(8, 10)
    if suffix == ".ppm":
        path.write_bytes(_ppm16(pixels))
    else:
        extra = [pixels[..., :1]] if channels == 4 else []
        assert cv2.imwrite(str(path), np.dstack([pixels, *extra]))
    with pytest.raises(ImageDecodeError, match=r"16-bit RGBA? image; the harness scores 8-bit"):
        read_image(path, convert=convert)
    # the same picture at 8 bits decodes exactly
    narrow = (pixels >> 8).astype(np.uint8)
    Image.fromarray(narrow).save(tmp_path / "narrow.png")
    assert np.array_equal(read_image(tmp_path / "narrow.png"), narrow)


# --- 10. SIGKILL of a run takes its data-loader workers with it -----------------------------------
def _forked_children(pid: int) -> set[int]:
    """Live children of ``pid`` running the same command line (DataLoader workers are forks)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return set()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(int(entry.name)) == pid:
            try:
                if (entry / "cmdline").read_bytes() == command:
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # state, ppid, ...


def _parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def _running(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; workers die via PR_SET_PDEATHSIG")
def test_sigkill_of_a_run_takes_its_loader_workers_with_it(fx: Fixture):
    fx.add("adv-big", n=32, size=(160, 160))  # items larger than a pipe buffer
    env = {**os.environ, "HARNESS_MANIFESTS": str(fx.manifests)}
    args = ["-q", "--device", "cpu", "--data-root", str(fx.data), "run", "-m", "identity"]
    args += ["-s", "adv-big", "--workers", "2", "--no-report", "--no-flops"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args, "--store", str(fx.store)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            workers |= _forked_children(proc.pid)
            if len(workers) >= 2 and fakes.ok_count(fx.store) >= 1:
                break
            time.sleep(0.02)
        assert proc.poll() is None and len(workers) >= 2, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 60  # a generous bound for the kernel and torch to act
        while time.monotonic() < deadline and any(_running(w) for w in workers):
            time.sleep(0.1)
        orphans = {w: _parent(w) for w in workers if _running(w)}
        assert not orphans, f"workers outlived the killed run (pid: parent): {orphans}"
    finally:
        for pid in workers:
            if _running(pid) and _parent(pid) != proc.pid:
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
