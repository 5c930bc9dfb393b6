"""Older result stores open and are migrated: version 1 (before setting / target sha256 /
verified) and version 2 (before runs.blind and run_benchmarks.in_setting); read-only they stay."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness.store import SCHEMA_VERSION, ImageResult, Store

# The version-1 tables as released (stop 9), written here by hand, not taken from harness.store.
V1_SCHEMA = """
CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, config_key TEXT NOT NULL UNIQUE,
  method TEXT NOT NULL, variant TEXT, weights TEXT, weights_sha256 TEXT, suite TEXT NOT NULL,
  protocol TEXT, seed INTEGER NOT NULL, steps INTEGER, device TEXT NOT NULL,
  batch_size INTEGER NOT NULL, package_version TEXT, torch_version TEXT, cuda_version TEXT,
  python_version TEXT, git_commit TEXT, host TEXT, started_at REAL NOT NULL, finished_at REAL,
  status TEXT NOT NULL DEFAULT 'running', config_json TEXT NOT NULL, provenance_json TEXT);
CREATE TABLE run_benchmarks (run_id INTEGER NOT NULL, benchmark TEXT NOT NULL, task TEXT,
  protocol TEXT NOT NULL, protocol_signature TEXT NOT NULL, metrics TEXT NOT NULL,
  data_digest TEXT, pinned INTEGER, n_pairs INTEGER, complexity_json TEXT, started_at REAL,
  finished_at REAL, PRIMARY KEY (run_id, benchmark));
CREATE TABLE results (run_id INTEGER NOT NULL, benchmark TEXT NOT NULL, image_id TEXT NOT NULL,
  input_sha256 TEXT, status TEXT NOT NULL, reason TEXT, metrics_json TEXT, latency_ms REAL,
  height INTEGER, width INTEGER, input_path TEXT, target_path TEXT, output_path TEXT,
  scored_at REAL NOT NULL, PRIMARY KEY (run_id, benchmark, image_id));
INSERT INTO runs (config_key, method, suite, seed, device, batch_size, started_at, config_json)
  VALUES ('k', 'identity', 'mini', 0, 'cpu', 1, 0, '{}');
INSERT INTO run_benchmarks VALUES (1, 'mini-derain', 'derain', 'diffuir-online', 'sig', '["psnr"]',
  'digest', 1, 5, NULL, 0, 0);
INSERT INTO results VALUES (1, 'mini-derain', 'a', 'abc', 'ok', NULL, '{"psnr": 30.5}', 1.0,
  4, 4, 'in', 'gt', NULL, 0);
PRAGMA user_version = 1;
"""


def test_version1_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
    with Store(path) as store:
        (row,) = store.results([1])
        assert row["metrics"] == {"psnr": 30.5}
        assert row["input_sha256"] == "abc"
        assert row["target_sha256"] is None and row["verified"] is None
        (bench,) = store.benchmarks([1])
        assert bench["data_digest"] == "digest" and bench["setting"] is None
        store.add_result(
            1,
            ImageResult("mini-derain", "b", "ok", {"psnr": 1.0}, target_sha256="t", verified=True),
        )
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        got = db.execute(
            "SELECT target_sha256, verified FROM results WHERE image_id='b'"
        ).fetchone()
        later = db.execute(
            "SELECT r.blind, b.in_setting FROM runs r JOIN run_benchmarks b"
        ).fetchone()
    assert got == ("t", 1)
    assert later == (None, None)


# The version-2 tables as released (before blind / in_setting), written here by hand.
V2_SCHEMA = """
CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, config_key TEXT NOT NULL UNIQUE,
  method TEXT NOT NULL, variant TEXT, weights TEXT, weights_sha256 TEXT, suite TEXT NOT NULL,
  protocol TEXT, seed INTEGER NOT NULL, steps INTEGER, device TEXT NOT NULL,
  batch_size INTEGER NOT NULL, package_version TEXT, torch_version TEXT, cuda_version TEXT,
  python_version TEXT, git_commit TEXT, host TEXT, started_at REAL NOT NULL, finished_at REAL,
  status TEXT NOT NULL DEFAULT 'running', config_json TEXT NOT NULL, provenance_json TEXT);
CREATE TABLE run_benchmarks (run_id INTEGER NOT NULL, benchmark TEXT NOT NULL, task TEXT,
  setting TEXT, protocol TEXT NOT NULL, protocol_signature TEXT NOT NULL, metrics TEXT NOT NULL,
  data_digest TEXT, pinned INTEGER, verified INTEGER, n_pairs INTEGER, complexity_json TEXT,
  started_at REAL, finished_at REAL, PRIMARY KEY (run_id, benchmark));
CREATE TABLE results (run_id INTEGER NOT NULL, benchmark TEXT NOT NULL, image_id TEXT NOT NULL,
  input_sha256 TEXT, target_sha256 TEXT, verified INTEGER, status TEXT NOT NULL, reason TEXT,
  metrics_json TEXT, latency_ms REAL, height INTEGER, width INTEGER, input_path TEXT,
  target_path TEXT, output_path TEXT, scored_at REAL NOT NULL,
  PRIMARY KEY (run_id, benchmark, image_id));
INSERT INTO runs (config_key, method, suite, seed, device, batch_size, started_at, config_json)
  VALUES ('k', 'promptir', 'mini', 0, 'cpu', 1, 0, '{}');
INSERT INTO run_benchmarks VALUES (1, 'mini-derain', 'derain', 'universal', 'diffuir-online',
  'sig', '["psnr"]', 'digest', 1, 1, 5, NULL, 0, 0);
PRAGMA user_version = 2;
"""


def _v2_store(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript(V2_SCHEMA)
    return path


def test_version2_store_read_only_reads_null_and_is_not_changed(tmp_path: Path) -> None:
    path = _v2_store(tmp_path / "v2.sqlite")
    before = path.read_bytes()
    with Store(path, readonly=True) as store:
        (run,) = store.runs([1])
        (bench,) = store.benchmarks([1])
    assert run["blind"] is None and bench["in_setting"] is None
    assert bench["setting"] == "universal" and bench["verified"] == 1
    assert path.read_bytes() == before


def test_version2_store_is_migrated_and_takes_the_new_columns(tmp_path: Path) -> None:
    path = _v2_store(tmp_path / "v2.sqlite")
    with Store(path) as store:
        (bench,) = store.benchmarks([1])
        assert bench["in_setting"] is None and bench["data_digest"] == "digest"
        info = {"protocol": "p", "protocol_signature": "s", "in_setting": False}
        store.upsert_benchmark(1, "mini-dehaze", {"task": "dehaze", **info})
        fields = {"method": "restormer", "suite": "mini", "seed": 0, "device": "cpu"}
        run_id, _ = store.start_run("k2", {**fields, "batch_size": 1, "blind": False}, {}, {})
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
        in_setting = dict(db.execute("SELECT benchmark, in_setting FROM run_benchmarks"))
        blind = dict(db.execute("SELECT method, blind FROM runs"))
    assert in_setting == {"mini-derain": None, "mini-dehaze": 0}
    assert blind == {"promptir": None, "restormer": 0} and run_id == 2
