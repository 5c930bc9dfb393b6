"""The decode thread used when there are no decode worker processes."""

from __future__ import annotations

import threading
import time

import pytest

from harness import loading
from harness.loading import prefetched


def test_items_arrive_in_order_from_another_thread() -> None:
    seen: list[str] = []

    def source():
        for i in range(7):
            seen.append(threading.current_thread().name)
            yield i

    assert list(prefetched(source())) == list(range(7))
    assert set(seen) == {"harness-decode"}


def test_it_runs_ahead_while_the_consumer_works() -> None:
    made: list[int] = []

    def source():
        for i in range(5):
            made.append(i)
            yield i

    stream = prefetched(source(), depth=2)
    assert next(stream) == 0
    deadline = time.monotonic() + 10
    while len(made) < 4 and time.monotonic() < deadline:  # 1 and 2 queued, 3 waiting to be
        time.sleep(0.01)
    assert made == [0, 1, 2, 3]  # queued and no further: the queue holds two
    assert list(stream) == [1, 2, 3, 4]


def test_an_error_in_the_source_is_raised_to_the_consumer() -> None:
    def source():
        yield 1
        raise ValueError("bad file")

    stream = prefetched(source())
    assert next(stream) == 1
    with pytest.raises(ValueError, match="bad file"):
        next(stream)


def test_leaving_early_stops_the_thread() -> None:
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    stream = prefetched(endless(), depth=1)
    assert next(stream) == 0
    stream.close()
    assert not any(t.name == "harness-decode" and t.is_alive() for t in threading.enumerate())


def test_two_cores_decode_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading.os, "cpu_count", lambda: 2)
    assert loading.default_workers() == 0
    monkeypatch.setattr(loading.os, "cpu_count", lambda: 8)
    assert loading.default_workers() == 4
