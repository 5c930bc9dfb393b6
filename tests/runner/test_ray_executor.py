"""The Ray executor: same per-image rows as the local executor, lost workers and killed drivers.

A local Ray instance (2 CPUs, no dashboard) is started once for the module; each run starts its own
worker actors on it. The reference rows come from the local executor on the same images.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from harness.ray_executor import RayExecutor, RayOptions, plan_shards, shard_size
from harness.runner import RunConfig, run
from tests.runner import fakes

ROW_FIELDS = (
    "status",
    "reason",
    "metrics_json",
    "input_sha256",
    "target_sha256",
    "verified",
    "height",
    "width",
    "input_path",
    "target_path",
)
BENCH_FIELDS = ("task", "protocol", "protocol_signature", "data_digest", "verified", "in_setting")


def _rows(store: Path) -> dict[tuple[str, str], tuple]:
    """Every stored row, as stored (metrics as their JSON text), keyed by benchmark and image."""
    with sqlite3.connect(store) as db:
        cols = ", ".join(ROW_FIELDS)
        return {
            (b, i): tuple(rest)
            for b, i, *rest in db.execute(f"SELECT benchmark, image_id, {cols} FROM results")
        }


def _benchmarks(store: Path) -> dict[str, tuple]:
    with sqlite3.connect(store) as db:
        cols = ", ".join(BENCH_FIELDS)
        return {
            b: tuple(rest)
            for b, *rest in db.execute(f"SELECT benchmark, {cols} FROM run_benchmarks")
        }


def _config(store: Path, **kw) -> RunConfig:
    return RunConfig(suite="mini", device="cpu", data_root=store.parent, store_path=store, **kw)


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def diffuir_reference(tmp_path_factory) -> Path:
    """DiffUIR-T (the shipped weights) on the first image of every mini benchmark, locally."""
    root = tmp_path_factory.mktemp("diffuir-local")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(root / "cache"))
        run(_config(root / "local.sqlite", method="diffuir", limit=1, flops=False, workers=0))
    return root / "local.sqlite"


def _ray(**kw) -> dict:
    return {"executor": "ray", "ray": RayOptions(**kw)}


def test_classical_rows_and_saved_images_equal_the_local_executors(tmp_path, ray_instance):
    common = {"method": "median", "batch_size": 2, "save_images": True}
    local = run(_config(tmp_path / "local.sqlite", images_dir=tmp_path / "li", **common))
    remote = run(
        _config(
            tmp_path / "ray.sqlite",
            images_dir=tmp_path / "ri",
            **common,
            **_ray(workers=2, shard_images=3),
        )
    )
    expected = _rows(tmp_path / "local.sqlite")
    assert len(expected) == 33 and all(r[0] == "ok" for r in expected.values())
    assert _rows(tmp_path / "ray.sqlite") == expected
    assert _benchmarks(tmp_path / "ray.sqlite") == _benchmarks(tmp_path / "local.sqlite")
    local_png = sorted((tmp_path / "li" / f"run-{local.run_id}").rglob("*.png"))
    ray_png = sorted((tmp_path / "ri" / f"run-{remote.run_id}").rglob("*.png"))
    assert len(local_png) == len(ray_png) == 33
    for a, b in zip(local_png, ray_png, strict=True):
        assert a.name == b.name and a.read_bytes() == b.read_bytes()
    assert [o.scored for o in remote.benchmarks] == [o.scored for o in local.benchmarks]


def test_diffuir_rows_equal_the_local_executors_and_provenance_names_the_executor(
    tmp_path, ray_instance, diffuir_reference
):
    store = tmp_path / "ray.sqlite"
    run(_config(store, method="diffuir", limit=1, flops=False, **_ray(workers=2)))
    assert _rows(store) == _rows(diffuir_reference)
    with sqlite3.connect(store) as db:
        (provenance,) = db.execute("SELECT provenance_json FROM runs").fetchone()
        (local_key,) = (
            sqlite3.connect(diffuir_reference).execute("SELECT config_key FROM runs").fetchone()
        )
        (ray_key,) = db.execute("SELECT config_key FROM runs").fetchone()
    executor = json.loads(provenance)["executor"]
    assert executor["name"] == "ray" and executor["workers"] == 2
    assert executor["cluster_resources"]["CPU"] == 2.0
    assert executor["cpus_per_worker"] == 1.0 and executor["gpus_per_worker"] == 0.0
    assert ray_key == local_key  # the same run: either executor resumes the other's


class _Display:
    """A progress factory that also records the workers-alive line."""

    def __init__(self) -> None:
        self.alive: list[tuple[int, int]] = []
        self.done: dict[str, int] = {}

    def __call__(self, name: str, total: int):
        display = self

        class Bar:
            def advance(self, n: int = 1) -> None:
                display.done[name] = display.done.get(name, 0) + n

            def close(self) -> None:
                pass

        return Bar()

    def workers(self, alive: int, total: int) -> None:
        self.alive.append((alive, total))


def test_a_worker_killed_while_it_holds_a_shard_loses_nothing(
    tmp_path, ray_instance, diffuir_reference, monkeypatch, caplog
):
    killed: list[int] = []

    def kill_first(worker: dict, shard) -> None:
        if not killed:
            killed.append(worker["pid"])
            os.kill(worker["pid"], signal.SIGKILL)

    monkeypatch.setattr(RayExecutor, "on_dispatch", staticmethod(kill_first))
    display = _Display()
    store = tmp_path / "ray.sqlite"
    caplog.set_level(logging.WARNING, logger="harness.ray_executor")
    summary = run(
        _config(store, method="diffuir", limit=1, flops=False, **_ray(workers=2, shard_images=1)),
        progress=display,
    )
    assert killed, "no shard was dispatched"
    assert "Ray worker" in caplog.text and "lost" in caplog.text
    assert _rows(store) == _rows(diffuir_reference)  # nothing lost, nothing failed
    assert sum(o.scored for o in summary.benchmarks) == 7
    assert sum(o.failed for o in summary.benchmarks) == 0
    assert display.done == {name: 1 for name, _ in _rows(store)}  # each image counted once
    assert display.alive[0] == (2, 2) and (1, 2) in display.alive and display.alive[-1] == (2, 2)


def test_a_shard_that_keeps_failing_becomes_failed_items_and_the_run_goes_on(
    tmp_path, ray_instance, diffuir_reference, monkeypatch
):
    doomed = "mini-derain"

    def kill_holder(worker: dict, shard) -> None:
        if shard.bench.name == doomed:
            os.kill(worker["pid"], signal.SIGKILL)

    monkeypatch.setattr(RayExecutor, "on_dispatch", staticmethod(kill_holder))
    store = tmp_path / "ray.sqlite"
    run(_config(store, method="diffuir", limit=1, flops=False, **_ray(workers=2, shard_images=1)))
    rows, reference = _rows(store), _rows(diffuir_reference)
    assert rows.keys() == reference.keys()
    ((key, failed),) = [(k, r) for k, r in rows.items() if k[0] == doomed]
    assert failed[0] == "failed" and failed[1].startswith("shard failed 3 times; last: worker lost")
    assert failed[8] == reference[key][8]  # the row still names its input file
    assert {k: r for k, r in rows.items() if k[0] != doomed} == {
        k: r for k, r in reference.items() if k[0] != doomed
    }


def test_a_killed_driver_resumes_and_ends_with_the_local_numbers(
    tmp_path, diffuir_reference, _isolated_cache
):
    store = tmp_path / "driver.sqlite"
    args = [
        *("-q", "--device", "cpu", "run", "--method", "diffuir", "--suite", "mini"),
        *("--limit", "1", "--no-flops", "--no-report", "--store", str(store)),
        *("--executor", "ray", "--workers", "2"),
    ]
    cmd = [sys.executable, "-m", "harness", *args]
    env = {**os.environ, "HARNESS_CACHE": str(_isolated_cache)}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 600  # a bound for a loaded machine, not a speed check
    try:
        while fakes.ok_count(store) < 1 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # the driver only: as a crash would
        proc.wait()
    finally:
        time.sleep(1)
        try:  # then what it started (Ray's agents), so the test leaves nothing behind
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed_at = fakes.ok_count(store)
    assert 1 <= killed_at < 7, killed_at

    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "(resumed)" in out.stdout and "already scored, skipped" in out.stdout
    assert _rows(store) == _rows(diffuir_reference)


def test_without_ray_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    with pytest.raises(HarnessError) as err:
        run(_config(tmp_path / "s.sqlite", method="identity", executor="ray"))
    assert "uir-harness[ray]" in str(err.value.hint)
    result = CliRunner().invoke(
        app, ["run", "-m", "identity", "--executor", "ray", "--store", str(tmp_path / "t.sqlite")]
    )
    assert isinstance(result.exception, HarnessError)
    assert "pip install 'uir-harness[ray]'" in str(result.exception.hint)
    assert not (tmp_path / "t.sqlite").exists()


def test_ray_flags_without_the_ray_executor_are_refused(tmp_path):
    result = CliRunner().invoke(
        app, ["run", "-m", "identity", "--address", "auto", "--store", str(tmp_path / "s")]
    )
    assert isinstance(result.exception, HarnessError)
    assert "--address only apply to --executor ray" in str(result.exception)


@pytest.mark.parametrize(
    ("sizes", "batch", "per_shard", "expected"),
    [
        ([(4, 4)] * 5, 2, 3, [[[0, 1], [2, 3]], [[4]]]),
        ([(4, 4), (8, 8), (4, 4), (8, 8)], 2, 1, [[[0, 2]], [[1, 3]]]),
        ([(4, 4), None, (4, 4)], 1, 2, [[[0], [1]], [[2]]]),
        ([], 1, 4, []),
    ],
)
def test_shards_are_whole_local_batches_in_order(sizes, batch, per_shard, expected):
    assert plan_shards(sizes, batch, per_shard) == expected


def test_shard_size_keeps_workers_busy_and_losses_small():
    assert shard_size(33, 2, 1) == 5  # four shards per worker
    assert shard_size(10_000, 8, 1) == 32  # a lost shard costs at most 32 images
    assert shard_size(3, 4, 1) == 1
    assert shard_size(3, 4, 8) == 8  # never less than one batch


def test_reproduce_runs_every_method_on_one_ray_session(tmp_path, ray_instance, monkeypatch):
    started: list[str] = []
    real_init = ray.init
    monkeypatch.setattr(ray, "init", lambda *a, **k: started.append("init") or real_init(*a, **k))
    store = tmp_path / "s.sqlite"
    result = CliRunner().invoke(
        app,
        [
            *("-q", "--device", "cpu", "reproduce", "-m", "identity", "-m", "median"),
            *("--limit", "1", "--store", str(store), "-o", str(tmp_path / "rep")),
            *("--executor", "ray", "--workers", "2"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert started == []  # the session's Ray was used, not a new one per run
    with sqlite3.connect(store) as db:
        runs = db.execute("SELECT method, provenance_json FROM runs ORDER BY run_id").fetchall()
        n_rows = db.execute("SELECT COUNT(*) FROM results WHERE status = 'ok'").fetchone()[0]
    assert [m for m, _ in runs] == ["identity", "median"]
    assert all(json.loads(p)["executor"]["name"] == "ray" for _, p in runs)
    assert n_rows == 2 * 7  # one image of each mini benchmark, per method
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "2 worker(s) of 1.0 CPU / 0.0 GPU" in html  # the provenance names the executor
