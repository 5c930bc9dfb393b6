"""Overhead of the Ray executor against the local one on the mini suite, same worker count.

Run with ``nox -s bench -- benchmarks/test_bench_ray.py``. One local Ray instance (2 CPUs) is
started for the module and its start-up time printed apart; each run then starts its one worker
actor (2 CPUs, so it gets the local run's two threads), sends the shards and commits the rows. The
local executor restores in the run process with ``--workers 0``. Printed per method: local wall
time, Ray wall time, and the difference per image.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import ray

from harness.ray_executor import RayOptions
from harness.runner import RunConfig, run

CASES = {
    "identity": {"method": "identity"},
    "diffuir-t (1 image per benchmark)": {"method": "diffuir", "limit": 1},
}


@pytest.fixture(scope="module")
def ray_started():
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    print(f"\nray.init (local instance, 2 CPUs): {time.perf_counter() - t0:.2f} s")
    yield
    ray.shutdown()


def _wall(tmp_path: Path, name: str, **kw) -> tuple[float, int]:
    config = RunConfig(
        suite="mini",
        device="cpu",
        flops=False,
        data_root=tmp_path,
        store_path=tmp_path / f"{name}.sqlite",
        **kw,
    )
    t0 = time.perf_counter()
    summary = run(config)
    return time.perf_counter() - t0, sum(o.scored for o in summary.benchmarks)


@pytest.mark.parametrize("case", list(CASES))
def test_bench_ray_overhead(benchmark, tmp_path, ray_started, case):
    kw = CASES[case]
    results: dict[str, tuple[float, int]] = {}

    def both():
        results["local"] = _wall(tmp_path, f"local{len(results)}", workers=0, **kw)
        results["ray"] = _wall(
            tmp_path,
            f"ray{len(results)}",
            executor="ray",
            ray=RayOptions(workers=1, cpus_per_worker=2),
            **kw,
        )

    benchmark.pedantic(both, rounds=1, iterations=1)
    (local, n), (remote, m) = results["local"], results["ray"]
    assert n == m
    print(
        f"\n{case}: {n} images; local {local:.2f} s, ray (1 worker) {remote:.2f} s, "
        f"overhead {remote - local:+.2f} s ({(remote - local) / n * 1000:+.0f} ms/image, "
        f"{(remote / local - 1) * 100:+.0f}%)"
    )
