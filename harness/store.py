"""The result store: one SQLite file (WAL) holding runs, per-benchmark provenance and per-image results.

Every per-image result is committed on its own, so a run killed at any moment (even SIGKILL) keeps
everything it scored. A run is identified by a *config key* (a hash of everything that can change a
number); running the same configuration again resumes that run and skips images already scored.

Schema (``PRAGMA user_version`` = ``SCHEMA_VERSION``):

- ``runs``: one row per configuration: method, variant, weights and their sha256, suite, protocol
  override, seed, steps, device, batch size, whether the method is blind (1: restored without the
  task label; 0: given it, "task-routed"), versions (package, torch, CUDA, python), git commit,
  host, start/end times, status, the full config and the restorer's provenance as JSON.
- ``run_benchmarks``: per (run, benchmark): task, setting (universal or zero-shot), protocol name
  and signature, data digest, whether the data was pinned and whether every stored row's bytes
  matched the lock (``verified``: 1, 0, or NULL when not pinned), whether the checkpoint's
  training setting covers the benchmark (``in_setting``: 1, 0, or NULL when the restorer declares
  no training setting; ``harness.tasks.within_setting``), number of pairs, complexity figures as
  JSON.
- ``results``: per (run, benchmark, image id): input and target sha256 of the bytes read, whether
  they matched the lock (``verified``: 1, 0, or NULL when not pinned or not readable), status
  ``ok|failed``, failure reason, metric values as JSON, latency (ms, the image's share of its
  batch), size, paths of input, target and saved output.

``data_digest`` and ``verified`` of a benchmark are set when it finishes, from its stored rows
(NULL until then): the lock's Merkle root with ``verified`` = 1 only when the benchmark is pinned
and every row's bytes matched the lock; otherwise the *scored digest*, the sha256 of the sorted
lines ``image_id<TAB>input_sha256<TAB>target_sha256`` (``-`` without a target, each line ending
in a newline) of its ``ok`` rows, with ``verified`` = 0 (NULL when not pinned). A resume reuses
a row only when its input and target sha256 equal the bytes now on disk.

Older stores are migrated in place on open by adding the columns they lack (NULL for old rows):
version 1 lacks setting / target sha256 / verified (old rows a resume of a pinned benchmark never
reuses), version 2 lacks ``runs.blind`` and ``run_benchmarks.in_setting`` (unknown for old runs:
reports mark nothing for them). A store opened read-only (``harness report``, ``harness gate``) is
never changed: not migrated (missing columns read as NULL) and not switched to WAL.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from harness.errors import HarnessError
from harness.provenance import RUN_COLUMNS
from harness.settings import require_folder

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    config_key TEXT NOT NULL UNIQUE,
    method TEXT NOT NULL,
    variant TEXT,
    weights TEXT,
    weights_sha256 TEXT,
    suite TEXT NOT NULL,
    protocol TEXT,
    seed INTEGER NOT NULL,
    steps INTEGER,
    device TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    blind INTEGER,
    package_version TEXT,
    torch_version TEXT,
    cuda_version TEXT,
    python_version TEXT,
    git_commit TEXT,
    host TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL DEFAULT 'running',
    config_json TEXT NOT NULL,
    provenance_json TEXT
);
CREATE TABLE IF NOT EXISTS run_benchmarks (
    run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    benchmark TEXT NOT NULL,
    task TEXT,
    setting TEXT,
    protocol TEXT NOT NULL,
    protocol_signature TEXT NOT NULL,
    metrics TEXT NOT NULL,
    data_digest TEXT,
    pinned INTEGER,
    verified INTEGER,
    in_setting INTEGER,
    n_pairs INTEGER,
    complexity_json TEXT,
    started_at REAL,
    finished_at REAL,
    PRIMARY KEY (run_id, benchmark)
);
CREATE TABLE IF NOT EXISTS results (
    run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    benchmark TEXT NOT NULL,
    image_id TEXT NOT NULL,
    input_sha256 TEXT,
    target_sha256 TEXT,
    verified INTEGER,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    reason TEXT,
    metrics_json TEXT,
    latency_ms REAL,
    height INTEGER,
    width INTEGER,
    input_path TEXT,
    target_path TEXT,
    output_path TEXT,
    scored_at REAL NOT NULL,
    PRIMARY KEY (run_id, benchmark, image_id)
);
"""

# Columns added after version 1, as (version, table, column, type): added to older stores on open.
_ADDED_COLUMNS = (
    (2, "run_benchmarks", "setting", "TEXT"),
    (2, "run_benchmarks", "verified", "INTEGER"),
    (2, "results", "target_sha256", "TEXT"),
    (2, "results", "verified", "INTEGER"),
    (3, "runs", "blind", "INTEGER"),
    (3, "run_benchmarks", "in_setting", "INTEGER"),
)


class StoreError(HarnessError):
    """The result store cannot be used: absent, damaged, locked or not writable."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _sqlite_errors(
    method: Callable[Concatenate[Store, _P], _R],
) -> Callable[Concatenate[Store, _P], _R]:
    """Turn SQLite's errors about the file (damaged, locked, read-only...) into a StoreError."""

    @functools.wraps(method)
    def guarded(self: Store, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if type(exc) is sqlite3.DatabaseError:  # "file is not a database", "malformed"...
                raise StoreError(
                    f"the result store {self.path} is damaged or not a result store ({exc})",
                    hint=f"move it away (e.g. mv {self.path} {self.path}.damaged) and run "
                    "again, or pass another --store",
                ) from None
            if type(exc) is sqlite3.OperationalError:  # locked, read-only, disk I/O...
                raise StoreError(
                    f"cannot use the result store {self.path}: {exc}",
                    hint="check that the file is writable and no other process holds it, "
                    "or pass another --store",
                ) from None
            raise

    return guarded


@dataclass(frozen=True)
class ImageResult:
    """One image's outcome, as the runner writes it."""

    benchmark: str
    image_id: str
    status: str
    metrics: dict[str, float] | None = None
    reason: str | None = None
    input_sha256: str | None = None
    target_sha256: str | None = None
    verified: bool | None = None
    """True when input and target bytes equal the lock's, False when not, None when not pinned."""
    latency_ms: float | None = None
    height: int | None = None
    width: int | None = None
    input_path: str | None = None
    target_path: str | None = None
    output_path: str | None = None


@dataclass(frozen=True)
class ScoredBytes:
    """The bytes one stored ``ok`` row was scored on, as far as resuming needs them."""

    input_sha256: str | None
    target_sha256: str | None
    verified: bool | None


def scored_digest(rows: Iterable[Mapping[str, Any]]) -> str:
    """The digest of what ``ok`` result rows were scored on (see the module docstring)."""
    lines = sorted(
        f"{r['image_id']}\t{r['input_sha256']}\t{r['target_sha256'] or '-'}\n"
        for r in rows
        if r["status"] == "ok"
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest()


class Store:
    """A connection to the SQLite result store.

    Writable (``harness run``): created on first use, migrated, WAL. ``readonly=True`` (reports,
    gate): the file must exist and is opened with SQLite's ``mode=ro``, never changed.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            if not self.path.is_file():
                raise StoreError(
                    f"no result store at {self.path}",
                    hint="pass the --store that `harness run` wrote (default "
                    "<cache>/results.sqlite), or run `harness run` first",
                )
        else:
            _make_parent(self.path)
        self._db = self._connect()
        try:
            self._prepare()
        except StoreError:
            self._db.close()
            raise

    @_sqlite_errors
    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        else:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    @_sqlite_errors
    def _prepare(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in range(SCHEMA_VERSION + 1):
            raise StoreError(
                f"result store {self.path} has schema version {version}; this harness reads "
                f"version {SCHEMA_VERSION}",
                hint="use another --store path, or upgrade uir-harness",
            )
        if self.readonly:
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
            if "runs" not in tables:
                raise StoreError(
                    f"{self.path} is not a result store (it has no runs table)",
                    hint="pass the --store that `harness run` wrote",
                )
            return
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a committed row survives the process being killed (not a power cut).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        if 0 < version < SCHEMA_VERSION:
            self._migrate(version)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _migrate(self, version: int) -> None:
        """Add the columns of every version after ``version`` that the tables lack."""
        with self._transaction() as db:
            for added_in, table, column, kind in _ADDED_COLUMNS:
                present = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
                if added_in > version and column not in present:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # runs ------------------------------------------------------------------------------------
    @_sqlite_errors
    def start_run(
        self,
        config_key: str,
        fields: dict[str, Any],
        config: dict[str, Any],
        provenance: dict[str, Any],
        *,
        overwrite: bool = False,
    ) -> tuple[int, bool]:
        """Open (or resume) the run of ``config_key``; returns (run_id, resumed)."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT run_id FROM runs WHERE config_key = ?", (config_key,)
            ).fetchone()
            if row is not None and overwrite:
                db.execute("DELETE FROM runs WHERE run_id = ?", (row[0],))
                row = None
            values = {k: fields.get(k) for k in RUN_COLUMNS}
            if row is not None:
                run_id = int(row[0])
                sets = ", ".join(f"{k} = ?" for k in values)
                db.execute(
                    f"UPDATE runs SET {sets}, status = 'running', finished_at = NULL, "
                    "provenance_json = ? WHERE run_id = ?",
                    (*values.values(), json.dumps(provenance, default=str), run_id),
                )
                return run_id, True
            cols = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            cur = db.execute(
                f"INSERT INTO runs (config_key, {cols}, started_at, config_json, provenance_json) "
                f"VALUES (?, {marks}, ?, ?, ?)",
                (
                    config_key,
                    *values.values(),
                    time.time(),
                    json.dumps(config, sort_keys=True, default=str),
                    json.dumps(provenance, default=str),
                ),
            )
            return int(cur.lastrowid), False

    @_sqlite_errors
    def finish_run(self, run_id: int, status: str = "finished") -> None:
        """Mark a run finished (or ``interrupted``/``failed``) now."""
        self._db.execute(
            "UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?",
            (time.time(), status, run_id),
        )

    @_sqlite_errors
    def runs(self, run_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """Run rows (all, or the given ids, in id order) as dicts with parsed JSON fields."""
        ids = None if run_ids is None else list(run_ids)
        if ids is None:
            rows = self._db.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
        else:
            marks = ",".join("?" for _ in ids) or "NULL"
            rows = self._db.execute(
                f"SELECT * FROM runs WHERE run_id IN ({marks}) ORDER BY run_id", ids
            ).fetchall()
            missing = set(ids) - {int(r["run_id"]) for r in rows}
            if missing:
                raise HarnessError(
                    f"no run {', '.join(map(str, sorted(missing)))} in the store {self.path}",
                    hint="`harness report --list` shows the stored runs",
                )
        out = []
        for row in rows:
            d = _with_added_columns("runs", dict(row))
            d["config"] = json.loads(d.pop("config_json") or "{}")
            d["provenance"] = json.loads(d.pop("provenance_json") or "{}")
            out.append(d)
        return out

    @_sqlite_errors
    def latest_run_id(self) -> int:
        """The id of the most recently started run."""
        row = self._db.execute(
            "SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC"
        ).fetchone()
        if row is None:
            raise HarnessError(
                f"the result store {self.path} holds no run yet",
                hint="run `harness run --method identity --suite mini` first",
            )
        return int(row[0])

    # benchmarks ------------------------------------------------------------------------------
    @_sqlite_errors
    def upsert_benchmark(self, run_id: int, benchmark: str, info: dict[str, Any]) -> None:
        """Record (or refresh) what a run knows about one benchmark: protocol, data digest..."""
        self._db.execute(
            "INSERT INTO run_benchmarks (run_id, benchmark, task, setting, protocol, "
            "protocol_signature, metrics, data_digest, pinned, verified, in_setting, n_pairs, "
            "started_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(run_id, benchmark) DO UPDATE SET task=excluded.task, "
            "setting=excluded.setting, protocol=excluded.protocol, "
            "protocol_signature=excluded.protocol_signature, metrics=excluded.metrics, "
            "data_digest=excluded.data_digest, pinned=excluded.pinned, verified=excluded.verified, "
            "in_setting=excluded.in_setting, n_pairs=excluded.n_pairs, "
            "started_at=excluded.started_at, finished_at=NULL",
            (
                run_id,
                benchmark,
                info.get("task"),
                info.get("setting"),
                info["protocol"],
                info["protocol_signature"],
                json.dumps(list(info.get("metrics", ()))),
                info.get("data_digest"),
                None if info.get("pinned") is None else int(bool(info["pinned"])),
                None if info.get("verified") is None else int(bool(info["verified"])),
                None if info.get("in_setting") is None else int(bool(info["in_setting"])),
                info.get("n_pairs"),
                time.time(),
            ),
        )

    @_sqlite_errors
    def finish_benchmark(
        self,
        run_id: int,
        benchmark: str,
        complexity: dict[str, Any] | None = None,
        *,
        lock_digest: str | None = None,
    ) -> None:
        """Mark one benchmark of a run done: its data digest and verified flag from its stored
        rows (see the module docstring), and its complexity figures if measured."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT image_id, status, input_sha256, target_sha256, verified FROM results "
                "WHERE run_id = ? AND benchmark = ?",
                (run_id, benchmark),
            ).fetchall()
            verified = None if lock_digest is None else all(r["verified"] == 1 for r in rows)
            db.execute(
                "UPDATE run_benchmarks SET finished_at = ?, complexity_json = COALESCE(?, "
                "complexity_json), data_digest = ?, verified = ? "
                "WHERE run_id = ? AND benchmark = ?",
                (
                    time.time(),
                    None if complexity is None else json.dumps(complexity, default=str),
                    lock_digest if verified else scored_digest(rows),
                    None if verified is None else int(verified),
                    run_id,
                    benchmark,
                ),
            )

    @_sqlite_errors
    def benchmarks(self, run_ids: Iterable[int]) -> list[dict[str, Any]]:
        """run_benchmarks rows of the given runs, with parsed JSON fields."""
        ids = list(run_ids)
        marks = ",".join("?" for _ in ids) or "NULL"
        rows = self._db.execute(
            f"SELECT * FROM run_benchmarks WHERE run_id IN ({marks}) ORDER BY run_id, benchmark",
            ids,
        ).fetchall()
        out = []
        for row in rows:
            d = _with_added_columns("run_benchmarks", dict(row))
            d["metrics"] = json.loads(d["metrics"] or "[]")
            d["complexity"] = json.loads(d.pop("complexity_json") or "null")
            out.append(d)
        return out

    # results ---------------------------------------------------------------------------------
    @_sqlite_errors
    def scored_bytes(self, run_id: int, benchmark: str) -> dict[str, ScoredBytes]:
        """Per image id scored successfully in this run and benchmark: the bytes it was scored on."""
        rows = self._db.execute(
            "SELECT image_id, input_sha256, target_sha256, verified FROM results "
            "WHERE run_id = ? AND benchmark = ? AND status = 'ok'",
            (run_id, benchmark),
        ).fetchall()
        return {
            r["image_id"]: ScoredBytes(
                r["input_sha256"],
                r["target_sha256"],
                None if r["verified"] is None else bool(r["verified"]),
            )
            for r in rows
        }

    @_sqlite_errors
    def add_result(self, run_id: int, result: ImageResult) -> None:
        """Write one image's result and commit it at once."""
        self._db.execute(
            "INSERT OR REPLACE INTO results (run_id, benchmark, image_id, input_sha256, "
            "target_sha256, verified, status, reason, metrics_json, latency_ms, height, width, "
            "input_path, target_path, output_path, scored_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                result.benchmark,
                result.image_id,
                result.input_sha256,
                result.target_sha256,
                None if result.verified is None else int(result.verified),
                result.status,
                result.reason,
                None if result.metrics is None else json.dumps(result.metrics),
                result.latency_ms,
                result.height,
                result.width,
                result.input_path,
                result.target_path,
                result.output_path,
                time.time(),
            ),
        )

    @_sqlite_errors
    def results(self, run_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Per-image rows of the given runs, metrics parsed into a dict."""
        ids = list(run_ids)
        marks = ",".join("?" for _ in ids) or "NULL"
        rows = self._db.execute(
            f"SELECT * FROM results WHERE run_id IN ({marks}) ORDER BY run_id, benchmark, image_id",
            ids,
        ).fetchall()
        out = []
        for row in rows:
            d = _with_added_columns("results", dict(row))
            d["metrics"] = json.loads(d.pop("metrics_json") or "null") or {}
            out.append(d)
        return out


def _with_added_columns(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every added column of ``table`` (NULL when read from an older store)."""
    for _, name, column, _ in _ADDED_COLUMNS:
        if name == table:
            row.setdefault(column, None)
    return row


def _make_parent(path: Path) -> None:
    require_folder(path.parent, "--store")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the folder of the result store {path}: {exc.strerror or exc}",
            hint="pass another --store",
        ) from None


def default_store_path(cache_dir: Path) -> Path:
    """Where the result store lives when ``--store`` is not given."""
    return Path(cache_dir) / "results.sqlite"
