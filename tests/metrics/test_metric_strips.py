"""Metrics in row strips on several threads: the strip plan, the thread pool, and scores equal to
whole-image references whatever the thread count."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from harness.metrics import parallel
from harness.metrics.compute import score_image
from harness.metrics.protocols import PROTOCOLS, get_protocol
from harness.metrics.psnr import mean_squared_error, squared_error_sum
from harness.metrics.ssim import ssim
from tests.metrics.reference import (
    degrade,
    psnr_ref,
    ssim_3d,
    ssim_replicate_full,
    ssim_valid,
    structured_images,
    y_bt601,
)

# odd sizes, tall enough for several strips: 301 rows -> strips of 128 and 173 rows
IMAGE = structured_images(301, 203, seed=3)[0]
DEGRADED = degrade(IMAGE, 1)
FULL_REFERENCE = [p for p in PROTOCOLS.values() if {"psnr", "ssim"} & set(p.metrics)]


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch):
    """Set the metric thread count for one test."""

    def use(count: int) -> None:
        monkeypatch.setenv("OMP_NUM_THREADS", str(count))

    return use


@pytest.mark.parametrize("height", [1, 63, 64, 127, 128, 191, 192, 301, 512, 2000])
def test_row_strips_cover_every_row_once(height: int) -> None:
    strips = parallel.row_strips(height)
    assert strips[0][0] == 0 and strips[-1][1] == height
    assert all(a[1] == b[0] for a, b in zip(strips, strips[1:], strict=False))
    sizes = [b - a for a, b in strips]
    if height >= parallel.STRIP_ROWS:
        assert min(sizes) >= parallel.STRIP_ROWS // 2
        assert max(sizes) < parallel.STRIP_ROWS * 3 // 2
    assert len(strips) == max(1, round(height / parallel.STRIP_ROWS + 1e-9))


def test_map_strips_keeps_strip_order_and_runs_strips_at_once(threads) -> None:
    threads(3)
    strips = parallel.row_strips(2000)
    firsts = {start for start, _ in strips[:3]}  # each thread's first strip
    together = threading.Barrier(3, timeout=30)  # passes only when three strips run at once
    seen: set[int] = set()

    def work(start: int, stop: int) -> tuple[int, int]:
        seen.add(threading.get_ident())
        if start in firsts:
            together.wait()
        return start, stop

    assert parallel.map_strips(work, 2000) == strips
    assert len(seen) == 3


def test_metric_threads_follow_omp_num_threads_and_the_thread_cap(threads) -> None:
    threads(5)
    assert parallel.metric_threads() == 5
    seen: list[int] = []

    def capped() -> None:
        parallel.limit_threads(1)
        seen.append(parallel.metric_threads())

    worker = threading.Thread(target=capped)
    worker.start()
    worker.join()
    assert seen == [1] and parallel.metric_threads() == 5


def test_scratch_is_reused_per_thread_and_name() -> None:
    a = parallel.scratch("test-a", (4, 5))
    b = parallel.scratch("test-a", (2, 3))
    assert a.shape == (4, 5) and b.shape == (2, 3)
    assert np.shares_memory(a, b)
    assert not np.shares_memory(a, parallel.scratch("test-b", (4, 5)))
    other: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: other.append(parallel.scratch("test-a", (4, 5))))
    worker.start()
    worker.join()
    assert not np.shares_memory(a, other[0])


@pytest.mark.parametrize("count", [1, 2, 3])
def test_strip_scores_equal_whole_image_references(threads, count: int) -> None:
    threads(count)
    ya, yb = y_bt601(DEGRADED), y_bt601(IMAGE)
    assert abs(ssim(ya, yb, "gauss11-replicate-full") - ssim_replicate_full(ya, yb)) < 1e-9
    assert abs(ssim(ya, yb, "gauss11-valid") - ssim_valid(ya, yb)) < 1e-9
    a, b = DEGRADED.astype(np.float64), IMAGE.astype(np.float64)
    assert abs(ssim(a, b, "gauss3d-replicate-full") - ssim_3d(a, b)) < 1e-9
    sk = structural_similarity(a / 255, b / 255, data_range=1.0, channel_axis=2)
    assert abs(ssim(a / 255, b / 255, "uniform7-sample-valid", 1.0) - sk) < 1e-9
    assert abs(mean_squared_error(a, b) - np.mean((a - b) ** 2)) < 1e-9
    online = score_image(get_protocol("diffuir-online"), DEGRADED, IMAGE)
    assert abs(online["psnr"] - psnr_ref(ya, yb)) < 1e-9
    assert abs(online["ssim"] - ssim_replicate_full(ya, yb)) < 1e-9


@pytest.mark.parametrize("protocol", FULL_REFERENCE, ids=lambda p: p.name)
def test_scores_do_not_depend_on_the_thread_count(threads, protocol) -> None:
    restored = DEGRADED[:208, :192]  # multiples of 16 for the crop protocols
    target = IMAGE[:208, :192]
    threads(1)
    one = score_image(protocol, restored, target, target)
    threads(3)
    three = score_image(protocol, restored, target, target)
    assert one.keys() == three.keys() and one
    assert three == one  # the same strips whatever the thread count: equal to the last bit


@pytest.mark.parametrize(
    "shape, dtype, view",
    [
        ((37, 29), np.float64, False),  # OpenCV's one-pass norm
        ((37, 29, 3), np.float64, False),
        ((37, 29, 6), np.float64, False),  # more channels than OpenCV reads: numpy
        ((37, 29, 3), np.float64, True),  # a strided view: numpy
        ((37, 29, 3), np.uint8, False),
        ((37, 29, 3), np.float32, False),
    ],
)
def test_squared_error_sum_is_exact_for_every_layout(shape, dtype, view: bool) -> None:
    rng = np.random.default_rng(7)
    # multiples of 1/8 in [0, 255]: every difference, square and partial sum is exact in float64
    values = [rng.integers(0, 255 * 8, (shape[0], shape[1] + 4, *shape[2:])) / 8 for _ in range(2)]
    a, b = (v.astype(dtype) for v in values)
    a, b = (x[:, 2:-2] for x in (a, b)) if view else (x[:, :-4] for x in (a, b))
    if not view:
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    expected = sum(
        (float(p) - float(q)) ** 2
        for p, q in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)
    )
    assert squared_error_sum(a, b) == expected
