"""The run identity has one owner (harness.provenance): the store's columns and the config key."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from harness.provenance import KEY_FIELDS, RUN_COLUMNS, config_key
from harness.store import Store

FIELDS = {
    "method": "diffuir",
    "variant": "t",
    "weights": "/w/model.pt",
    "weights_sha256": "ab" * 32,
    "suite": "mini",
    "protocol": None,
    "seed": 0,
    "steps": None,
    "device": "cpu",
    "batch_size": 1,
    "blind": True,
    "options": {"steps": 3},
    "package_version": "0.1.0",
    "torch_version": "2.0",
    "cuda_version": None,
    "python_version": "3.11.7",
    "git_commit": "c0ffee",
    "host": "lab-1",
}


def test_the_runs_table_has_exactly_the_identity_columns_plus_bookkeeping(tmp_path: Path):
    Store(tmp_path / "s.sqlite").close()
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    bookkeeping = ["run_id", "config_key", "started_at", "finished_at", "status"]
    assert sorted(columns) == sorted([*RUN_COLUMNS, *bookkeeping, "config_json", "provenance_json"])


def test_the_config_key_hashes_what_can_change_a_number_and_nothing_else():
    # the documented definition, written out: sha256 of the sorted JSON of the key fields
    wanted = ("method", "variant", "weights_sha256", "suite", "protocol", "seed", "steps")
    wanted += ("device", "batch_size", "package_version", "options")
    blob = json.dumps({k: FIELDS[k] for k in wanted}, sort_keys=True)
    assert set(KEY_FIELDS) == set(wanted)
    assert config_key(FIELDS) == hashlib.sha256(blob.encode()).hexdigest()
    for environment in ("host", "git_commit", "torch_version", "weights"):
        assert config_key({**FIELDS, environment: "elsewhere"}) == config_key(FIELDS)
    for number_changing in ("seed", "options", "device", "weights_sha256"):
        assert config_key({**FIELDS, number_changing: "other"}) != config_key(FIELDS)


def test_a_stored_run_keeps_its_identity_columns(tmp_path: Path):
    with Store(tmp_path / "s.sqlite") as store:
        run_id, resumed = store.start_run(config_key(FIELDS), FIELDS, {"seed": 0}, {})
        again, resumed_again = store.start_run(config_key(FIELDS), FIELDS, {"seed": 0}, {})
        (row,) = store.runs([run_id])
    assert (resumed, again, resumed_again) == (False, run_id, True)
    assert {k: row[k] for k in RUN_COLUMNS} == {k: FIELDS[k] for k in RUN_COLUMNS}
