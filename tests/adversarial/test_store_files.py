"""Adversarial result-store files: damaged, read-only, absent, or under a regular file.

Every case goes through the console entry point (``harness.cli.main``): a clean message on stderr
and exit code 1, never a traceback, and the file is left as it was.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import ImageResult, Store
from tests.store.test_schema_migration import V1_SCHEMA


def _harness(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, *args: str):
    """(exit code, stdout + stderr) of ``harness ARGS`` run in this process."""
    monkeypatch.setattr(sys, "argv", ["harness", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out + out.err


def _store_with_a_run(path: Path, images: int = 300) -> None:
    """A real store (written by the harness's Store) holding one finished run on one benchmark."""
    with Store(path) as store:
        fields = {"method": "identity", "suite": "mini", "seed": 0, "device": "cpu"}
        run_id, _ = store.start_run("key", {**fields, "batch_size": 1}, {}, {})
        info = {"protocol": "p", "protocol_signature": "p-sig", "metrics": ["psnr", "ssim"]}
        store.upsert_benchmark(run_id, "mini-derain", info)
        for i in range(images):
            metrics = {"psnr": 20.0 + i / 100, "ssim": 0.5}
            store.add_result(
                run_id,
                ImageResult("mini-derain", f"img-{i:04d}", "ok", metrics, input_sha256="ab" * 32),
            )
        store.finish_benchmark(run_id, "mini-derain")
        store.finish_run(run_id)


RUN = ["-q", "--device", "cpu", "run", "-m", "identity", "-s", "mini-derain", "--limit", "1"]
READERS = {
    "report --list": ["report", "--list"],
    "report": ["report", "--latest", "-f", "json", "-o", "{tmp}/out"],
    "gate": ["gate", "--baseline", "{tmp}/baseline.json"],
}


def _args(args: list[str], tmp_path: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp_path)) for a in args]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
@pytest.mark.parametrize("verb", ["run", *READERS])
def test_a_damaged_store_is_named_with_what_to_do(tmp_path, capsys, monkeypatch, verb, damage):
    store = tmp_path / "results.sqlite"
    if damage == "garbage":
        store.write_bytes(b"this is not an SQLite database, just text\n" * 100)
    else:
        _store_with_a_run(store)
        with open(store, "r+b") as fh:  # a copy cut short: half of the pages are gone
            fh.truncate(store.stat().st_size // 2)
    before = store.read_bytes()
    args = [*RUN, "--no-report"] if verb == "run" else _args(READERS[verb], tmp_path)
    code, output = _harness(capsys, monkeypatch, *args, "--store", str(store))
    assert code == 1, output
    assert "Traceback" not in output
    assert f"the result store {store} is damaged" in output
    assert f"mv {store} {store}.damaged" in output and "another --store" in output
    assert store.read_bytes() == before


def test_a_store_in_rollback_journal_mode_is_read_without_being_changed(
    tmp_path, capsys, monkeypatch
):
    """Readers open the store read-only: no switch to WAL, no migration, not one byte written."""
    store = tmp_path / "results.sqlite"
    _store_with_a_run(store)
    with sqlite3.connect(store) as db:  # as a copy made with the sqlite3 shell would be
        assert db.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    before = store.read_bytes()
    code, output = _harness(capsys, monkeypatch, "report", "--list", "--store", str(store))
    assert code == 0, output
    assert "identity" in output and "images=300" in output
    baseline = tmp_path / "baseline.json"
    args = ["gate", "--update", "--baseline", str(baseline), "--store", str(store)]
    code, output = _harness(capsys, monkeypatch, *args)
    assert code == 0 and baseline.is_file(), output
    code, output = _harness(capsys, monkeypatch, *args[:1], *args[2:])
    assert code == 0 and "gate passed" in output, output
    assert store.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json", "results.sqlite"]
    with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


@pytest.mark.parametrize("verb", list(READERS))
def test_readers_refuse_a_store_that_does_not_exist_and_do_not_create_it(
    tmp_path, capsys, monkeypatch, verb
):
    store = tmp_path / "new" / "results.sqlite"
    args = _args(READERS[verb], tmp_path)
    code, output = _harness(capsys, monkeypatch, *args, "--store", str(store))
    assert code == 1 and f"no result store at {store}" in output, output
    assert "Traceback" not in output
    assert not store.exists() and not store.parent.exists()


@pytest.mark.parametrize("verb", ["run", *READERS])
def test_a_store_below_a_regular_file_is_a_clear_error(tmp_path, capsys, monkeypatch, verb):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = blocker / "results.sqlite"
    args = [*RUN, "--no-report"] if verb == "run" else _args(READERS[verb], tmp_path)
    code, output = _harness(capsys, monkeypatch, *args, "--store", str(store))
    assert code == 1 and "Traceback" not in output, output
    if verb == "run":
        assert f"{blocker} exists and is not a folder" in output
    else:
        assert f"no result store at {store}" in output
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("option", ["--data-root", "--cache-dir"])
def test_run_with_a_data_root_or_cache_below_a_regular_file_is_a_clear_error(
    tmp_path, capsys, monkeypatch, option
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = [option, str(blocker / "sub"), *RUN, "--no-report", "--save-images"]
    code, output = _harness(capsys, monkeypatch, *args)
    assert code == 1 and "Traceback" not in output, output
    assert f"{option}: {blocker} exists and is not a folder" in output
    assert blocker.read_text() == "not a folder"


def test_a_version_one_store_is_read_only_readable(tmp_path):
    """A read-only open does not migrate; the version-2 columns read as empty."""
    store = tmp_path / "old.sqlite"
    with sqlite3.connect(store) as db:
        db.executescript(V1_SCHEMA)
    before = store.read_bytes()
    with Store(store, readonly=True) as s:
        (row,) = s.results([1])
        (bench,) = s.benchmarks([1])
    assert row["metrics"] == {"psnr": 30.5} and row["target_sha256"] is None
    assert row["verified"] is None and bench["setting"] is None and bench["verified"] is None
    assert store.read_bytes() == before
