"""End to end: run -> store, failures recorded, missing benchmarks listed, determinism, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio
from typer.testing import CliRunner

from harness.cli import app
from harness.cli.progress import RichProgress
from harness.loading import size_batches
from harness.runner import RunConfig, run
from harness.store import Store
from tests.runner import fakes

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, store: str = "s.sqlite", **kw) -> RunConfig:
    base = dict(method="identity", suite=fakes.SUITE, device="cpu", workers=0)
    base.update(kw)
    return RunConfig(store_path=tmp_path / store, images_dir=tmp_path / "out", **base)


def _metrics(store_path: Path, run_id: int) -> dict[tuple[str, str], tuple[str, dict]]:
    with Store(store_path) as s:
        return {
            (r["benchmark"], r["image_id"]): (r["status"], r["metrics"])
            for r in s.results([run_id])
        }


def test_run_scores_every_image_and_records_failures(tmp_path, fixture_benchmarks):
    summary = run(_config(tmp_path, batch_size=3))
    assert summary.missing.keys() == {fakes.ABSENT}
    assert "harness data get" in summary.missing[fakes.ABSENT]
    rows = _metrics(tmp_path / "s.sqlite", summary.run_id)
    total = sum(len(b.pairs) for b in fixture_benchmarks.values())
    assert len(rows) == total
    for name, bench in fixture_benchmarks.items():
        corrupt = fakes.BENCHMARKS[name][2]
        for i, pair in enumerate(bench.pairs):
            status, values = rows[(name, pair.id)]
            if i == corrupt:
                assert status == "failed"
                continue
            assert status == "ok"
            expected = peak_signal_noise_ratio(
                np.asarray(Image.open(pair.target)),
                np.asarray(Image.open(pair.input)),
                data_range=255,
            )
            assert values["psnr"] == pytest.approx(expected, abs=1e-9)
    with Store(tmp_path / "s.sqlite") as s:
        failed = [r for r in s.results([summary.run_id]) if r["status"] == "failed"]
        (bench_row,) = [b for b in s.benchmarks([summary.run_id]) if b["benchmark"] == "fx-dehaze"]
        (run_row,) = s.runs([summary.run_id])
    assert len(failed) == 1 and "cannot decode" in failed[0]["reason"]
    assert failed[0]["image_id"] == "002"
    assert bench_row["data_digest"] == "fixture-digest"
    assert bench_row["protocol_signature"] == fakes.FakeProtocol().signature
    assert run_row["status"] == "finished" and run_row["torch_version"]


def test_saved_images_are_the_restored_output(tmp_path, fixture_benchmarks):
    summary = run(_config(tmp_path, suite="fx-derain", save_images=True, limit=2))
    with Store(tmp_path / "s.sqlite") as s:
        rows = s.results([summary.run_id])
    assert len(rows) == 2
    for r in rows:
        saved = np.asarray(Image.open(r["output_path"]))
        assert np.array_equal(saved, np.asarray(Image.open(r["input_path"])))  # identity


def test_method_crash_is_recorded_per_image_and_the_run_goes_on(tmp_path, fixture_benchmarks):
    summary = run(_config(tmp_path, method="broken", suite="fx-derain"))
    rows = _metrics(tmp_path / "s.sqlite", summary.run_id)
    assert rows[("fx-derain", "001")][0] == "failed"
    assert sum(status == "ok" for status, _ in rows.values()) == 6
    with Store(tmp_path / "s.sqlite") as s:
        reason = [r["reason"] for r in s.results([summary.run_id]) if r["image_id"] == "001"][0]
    assert reason == "RuntimeError: boom on 001"


def test_same_run_twice_gives_identical_numbers(tmp_path, fixture_benchmarks):
    a = run(_config(tmp_path, "a.sqlite", method="jitter", batch_size=2))
    b = run(_config(tmp_path, "b.sqlite", method="jitter", batch_size=2))
    ma, mb = _metrics(tmp_path / "a.sqlite", a.run_id), _metrics(tmp_path / "b.sqlite", b.run_id)
    assert ma == mb
    assert any(v.get("psnr") for _, v in ma.values())


def test_same_config_resumes_and_overwrite_recomputes(tmp_path, fixture_benchmarks):
    first = run(_config(tmp_path, suite="fx-derain", limit=3))
    second = run(_config(tmp_path, suite="fx-derain"))
    assert second.run_id == first.run_id and second.resumed
    assert (second.benchmarks[0].skipped, second.benchmarks[0].scored) == (3, 4)
    third = run(_config(tmp_path, suite="fx-derain", overwrite=True))
    assert not third.resumed and third.benchmarks[0].skipped == 0
    with Store(tmp_path / "s.sqlite") as s:
        assert [r["run_id"] for r in s.runs()] == [third.run_id]
    other_seed = run(_config(tmp_path, suite="fx-derain", seed=1))
    assert other_seed.run_id != third.run_id


@pytest.mark.parametrize(
    ("sizes", "batch", "expected"),
    [
        ([(2, 2), (3, 3), (2, 2), (2, 2)], 2, [[0, 2], [1], [3]]),
        ([(2, 2), None, (2, 2)], 4, [[0, 2], [1]]),
        ([(1, 1)] * 3, 1, [[0], [1], [2]]),
    ],
)
def test_size_batches_group_equal_sizes(sizes, batch, expected):
    assert size_batches(sizes, batch) == expected


def _cli(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.runner.fakes", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def test_sigkill_mid_run_then_rerun_ends_with_the_uninterrupted_numbers(
    tmp_path, fixture_benchmarks
):
    store = tmp_path / "killed.sqlite"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HARNESS_TEST_FIXTURES": str(tmp_path / "fixtures"),
        "HARNESS_TEST_SLEEP": "0.4",
    }
    args = [
        "-q",
        "--device",
        "cpu",
        "run",
        "--method",
        "slow-identity",
        "--suite",
        fakes.SUITE,
        "--store",
        str(store),
        "--workers",
        "0",
        "--no-report",
    ]
    proc = _cli(args, env)
    deadline = time.monotonic() + 300  # a bound for a loaded machine, not a speed check
    while fakes.ok_count(store) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = fakes.ok_count(store)
    total_ok = 12  # 7 + 6 fixture images, one of them corrupt
    assert 3 <= killed_at < total_ok, killed_at

    env["HARNESS_TEST_SLEEP"] = "0"
    report_dir = tmp_path / "report"
    proc = _cli([*args[:-1], "--report-dir", str(report_dir)], env)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "(resumed)" in out and "already scored, skipped" in out
    assert f"report: {(report_dir / 'index.html').resolve()}" in out
    assert "fx-absent" in out and "harness data get fx-absent" in out

    with Store(store) as s:
        (run_row,) = s.runs()
        resumed = _metrics(store, run_row["run_id"])
    clean = run(_config(tmp_path, "clean.sqlite", method="slow-identity"))
    assert resumed == _metrics(tmp_path / "clean.sqlite", clean.run_id)
    assert sum(st == "ok" for st, _ in resumed.values()) == total_ok


def _count_restored_images(monkeypatch, cls: type) -> list[int]:
    """The size of every batch ``cls.restore`` is given from now on (appended as it runs)."""
    sizes: list[int] = []
    original = cls.restore

    def counting(self, batch):
        sizes.append(len(batch.ids))
        return original(self, batch)

    monkeypatch.setattr(cls, "restore", counting)
    return sizes


def test_no_flops_skips_the_extra_restore_but_keeps_params(
    tmp_path, fixture_benchmarks, monkeypatch
):
    calls = _count_restored_images(monkeypatch, fakes.BoxBlur)
    images = len(fixture_benchmarks["fx-derain"].pairs)
    rows = {}
    for flops in (True, False):
        calls.clear()
        summary = run(
            _config(tmp_path, f"{flops}.sqlite", method="box-blur", suite="fx-derain", flops=flops)
        )
        with Store(tmp_path / f"{flops}.sqlite") as s:
            (rows[flops],) = s.benchmarks([summary.run_id])
        assert sum(calls) == images + (1 if flops else 0)
    assert "flops_per_image" in rows[True]["complexity"]
    assert "flops_per_image" not in rows[False]["complexity"]
    assert rows[False]["complexity"]["params"] == rows[True]["complexity"]["params"]


@pytest.mark.parametrize(("method", "counts"), [("box-blur", 1), ("task-routed", 2)])
def test_flops_are_counted_once_per_size_and_task_label(
    tmp_path, fixture_benchmarks, monkeypatch, method, counts
):
    """Both fixture benchmarks are mostly 16x16: a blind method's count is made once and reused;
    a task-routed method restores as each benchmark's task, so it is counted once per task."""
    images = _count_restored_images(monkeypatch, fakes.TEST_METHODS[method])
    restored = {}
    for flops in (True, False):
        images.clear()
        summary = run(_config(tmp_path, f"{flops}.sqlite", method=method, flops=flops))
        restored[flops] = sum(images)
        if flops:
            with Store(tmp_path / f"{flops}.sqlite") as s:
                rows = s.benchmarks([summary.run_id])
    assert restored[True] - restored[False] == counts
    assert len(rows) == 2
    assert all(row["complexity"]["flops_size"] == [16, 16] for row in rows)
    assert len({row["complexity"]["flops_per_image"] for row in rows}) == 1


def test_option_flags_reach_the_method_typed(tmp_path, fixture_benchmarks):
    store = tmp_path / "s.sqlite"
    args = ["-q", "--device", "cpu", "run", "-m", "jitter", "-s", "fx-derain", "--no-report"]
    args += ["--workers", "0", "--store", str(store), "--limit", "1"]
    options = ["--option", "foo=3", "--option", "scale=0.5", "--option", "flag=true"]
    result = CliRunner().invoke(app, [*args, *options, "--option", "label=abc"])
    assert result.exit_code == 0, result.output
    with Store(store, readonly=True) as s:
        (row,) = s.runs()
    assert row["provenance"]["options"] == {"foo": 3, "scale": 0.5, "flag": True, "label": "abc"}
    assert row["config"]["options"] == {"foo": 3, "scale": 0.5, "flag": True, "label": "abc"}
    for bad, why in (
        (["--option", "foo"], "expected KEY=VALUE"),
        (["--option", "device=cuda"], "--option device: reserved"),
        (["--option", "name=x"], "--option name: reserved"),
        (["--option", "a=1", "--option", "a=2"], "--option a is given twice"),
        (["--steps", "2", "--option", "steps=5"], "--option steps is given twice"),
    ):
        result = CliRunner().invoke(app, [*args, *bad])
        assert result.exit_code != 0 and why in str(result.exception), result.output


def test_the_rich_progress_bar_counts_every_image(tmp_path, fixture_benchmarks):
    counted: dict[str, list[int]] = {}

    class Counting(RichProgress):
        def __call__(self, name, total):
            bar = super().__call__(name, total)
            counted[name] = [total, 0]

            class Bar:
                def advance(self, n=1):
                    counted[name][1] += n
                    bar.advance(n)

                def close(self):
                    bar.close()

            return Bar()

    progress = Counting()
    try:
        run(_config(tmp_path, suite=fakes.SUITE), progress=progress)
    finally:
        progress.stop()
    assert counted == {"fx-derain": [7, 7], "fx-dehaze": [6, 6]}


class Hog(fakes.SlowIdentity):
    """Identity that holds 64 MiB on the device while restoring fx-derain only."""

    name = "hog"

    def restore(self, batch):
        if batch.benchmark == "fx-derain":
            hold = torch.empty(64 << 20, dtype=torch.uint8, device=batch.images.device)
            del hold
        return batch.images.clone()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_peak_memory_is_measured_per_benchmark(tmp_path, fixture_benchmarks, monkeypatch):
    monkeypatch.setitem(fakes.TEST_METHODS, "hog", Hog)
    summary = run(_config(tmp_path, method="hog", device="cuda", flops=False))
    with Store(tmp_path / "s.sqlite", readonly=True) as s:
        peaks = {
            b["benchmark"]: b["complexity"]["peak_memory_bytes"]
            for b in s.benchmarks([summary.run_id])
        }
    assert peaks["fx-derain"] >= 64 << 20 > peaks["fx-dehaze"]


def _in_setting_and_blind(store_path: Path, run_id: int) -> tuple[dict[str, int | None], object]:
    with Store(store_path) as s:
        benches = {b["benchmark"]: b["in_setting"] for b in s.benchmarks([run_id])}
        (row,) = s.runs([run_id])
    return benches, row["blind"]


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        # fx-derain lists degradation "rain" (covered by derain); fx-dehaze lists none: its task
        ("derain", {"fx-derain": 1, "fx-dehaze": 0}),
        ("dehaze", {"fx-derain": 0, "fx-dehaze": 1}),
        ("derain,dehaze", {"fx-derain": 1, "fx-dehaze": 1}),
        ("", {"fx-derain": None, "fx-dehaze": None}),  # no setting declared: NULL
    ],
)
def test_the_run_records_whether_the_training_setting_covers_each_benchmark(
    tmp_path, fixture_benchmarks, tasks, expected
):
    summary = run(_config(tmp_path, method="trained", options={"tasks": tasks}))
    benches, blind = _in_setting_and_blind(tmp_path / "s.sqlite", summary.run_id)
    assert benches == expected
    assert blind == 1


def test_a_method_without_a_training_setting_attribute_stores_null(tmp_path, fixture_benchmarks):
    summary = run(_config(tmp_path, method="box-blur", suite="fx-derain"))
    benches, blind = _in_setting_and_blind(tmp_path / "s.sqlite", summary.run_id)
    assert benches == {"fx-derain": None} and blind == 1


def test_a_non_blind_method_is_recorded_as_such_and_gets_the_task(tmp_path, fixture_benchmarks):
    summary = run(_config(tmp_path, method="task-routed", suite="fx-derain"))
    _, blind = _in_setting_and_blind(tmp_path / "s.sqlite", summary.run_id)
    assert blind == 0
    rows = _metrics(tmp_path / "s.sqlite", summary.run_id)
    assert {status for status, _ in rows.values()} == {"ok"}


@pytest.mark.parametrize(("bench", "expected"), [("mini-derain", 1), ("mini-zeroshot", 0)])
def test_real_manifests_judge_the_setting_by_their_degradations(tmp_path, bench, expected):
    # mini-zeroshot's task label is derain, but it lists haze + rain: a derain-only checkpoint
    # does not cover it (harness.tasks.within_setting)
    from dataclasses import replace

    from harness.runner import default_collaborators

    layers = replace(default_collaborators(), methods=fakes.create_method)
    cfg = _config(tmp_path, method="trained", suite=bench, limit=1, flops=False)
    cfg.options = {"tasks": "derain"}
    summary = run(cfg, collaborators=layers)
    benches, _ = _in_setting_and_blind(tmp_path / "s.sqlite", summary.run_id)
    assert benches == {bench: expected}
