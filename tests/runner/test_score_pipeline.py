"""The local executor scores batch i on a scoring thread while the model restores batch i+1,
and the stored rows are those of scoring every batch in turn."""

from __future__ import annotations

import threading

import harness.runner as runner
from harness.runner import RunConfig, run
from harness.store import Store
from tests.runner import fakes


def _config(tmp_path, store: str) -> RunConfig:
    return RunConfig(
        method="jitter",
        suite=fakes.SUITE,
        device="cpu",
        workers=0,
        batch_size=2,
        store_path=tmp_path / store,
        images_dir=tmp_path / "out",
        save_images=True,
    )


def _rows(path) -> dict:
    with Store(path) as s:
        return {
            (r["benchmark"], r["image_id"]): (r["status"], r["reason"], r["metrics"])
            for r in s.results([s.latest_run_id()])
        }


def test_the_first_batch_is_scored_while_the_model_restores_the_next(
    tmp_path, fixture_benchmarks, monkeypatch
):
    second_restore_started = threading.Event()
    restores: list[int] = []
    scored_during_restore: list[bool] = []
    real_restore, real_score = runner.restore_batch, fakes.FakeMetrics.score

    def restore(*args, **kwargs):
        restores.append(1)
        if len(restores) == 2:
            second_restore_started.set()
        return real_restore(*args, **kwargs)

    def score(self, *args):
        if not scored_during_restore:  # the first batch: wait until the model is on the next
            scored_during_restore.append(second_restore_started.wait(timeout=60))
        return real_score(self, *args)

    monkeypatch.setattr(runner, "restore_batch", restore)
    monkeypatch.setattr(fakes.FakeMetrics, "score", score)
    run(_config(tmp_path, "p.sqlite"))
    assert scored_during_restore == [True]  # in turn, the wait would have timed out


def test_rows_equal_those_of_scoring_each_batch_in_turn(tmp_path, fixture_benchmarks, monkeypatch):
    run(_config(tmp_path, "pipelined.sqlite"))
    pipelined = _rows(tmp_path / "pipelined.sqlite")
    monkeypatch.setattr(runner, "SCORE_AHEAD", 0)  # wait for each batch's scores
    run(_config(tmp_path, "in-turn.sqlite"))
    in_turn = _rows(tmp_path / "in-turn.sqlite")
    assert pipelined == in_turn
    assert sum(st == "ok" for st, _, _ in pipelined.values()) == 12
    assert sum(st == "failed" for st, _, _ in pipelined.values()) == 1
