"""Test doubles for the runner: fixture benchmarks on disk, a scoring protocol, test restorers.

The runner reaches the data layer, metrics and registry through ``harness.runner.Collaborators``;
``collaborators`` builds fake ones, ``install`` makes them the runner's defaults. The fixture
protocol scores RGB PSNR and SSIM of the uint8 (round-half-even) output with scikit-image, so tests
can recompute expected values independently. For subprocess tests, ``python -m tests.runner.fakes
<harness args>`` runs the real CLI with the fakes installed (fixtures under $HARNESS_TEST_FIXTURES,
per-batch sleep $HARNESS_TEST_SLEEP).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from harness.errors import HarnessError
from harness.hashing import sha256_file
from harness.restorer import ImageBatch, Option, Restorer
from harness.runner import Collaborators, MethodFactory

SUITE = "fx"
BENCHMARKS = {
    # name: (task, sizes of the images in order, index of a corrupt input or None)
    "fx-derain": ("derain", [(16, 16)] * 4 + [(16, 24)] * 3, None),
    "fx-dehaze": ("dehaze", [(16, 16), (24, 16), (16, 16), (24, 16), (16, 16), (16, 16)], 2),
}
ABSENT = "fx-absent"
DEGRADATIONS = {"fx-derain": ("rain",), "fx-dehaze": ()}
"""What each fixture manifest lists: fx-derain is judged by its degradation, fx-dehaze by its task."""


@dataclass(frozen=True)
class Pair:
    id: str
    input: Path
    target: Path | None
    input_sha256: str | None = None
    target_sha256: str | None = None


@dataclass
class FakeBenchmark:
    """A ``harness.runner.BenchmarkData`` over fixture files."""

    name: str
    task: str
    pairs: list[Pair]
    protocol: str = "fx-rgb"
    setting: str | None = "universal"
    degradations: tuple[str, ...] = ()
    preprocess: frozenset[str] = field(default_factory=frozenset)
    lock_digest: str | None = "fixture-digest"
    pinned: bool = True


class FakeMissingError(HarnessError):
    pass


@dataclass(frozen=True)
class FakeProtocol:
    name: str = "fx-rgb"
    signature: str = (
        "fx-rgb: RGB uint8 (clamp, round-half-even); PSNR peak 255; SSIM skimage gaussian sigma 1.5"
    )
    metrics: tuple[str, ...] = ("psnr", "ssim")
    input_crop: int = 0


def ok_count(store: Path) -> int:
    """Rows scored ``ok`` in a store that a killed run may have left half-written (0 if none)."""
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM results WHERE status='ok'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def write_fixtures(root: Path) -> dict[str, FakeBenchmark]:
    """Write every fixture benchmark under ``root`` (deterministic content) and return them.

    Each benchmark is pinned: its pairs carry the sha256 of the files as written (a lock)."""
    out = {}
    for b_index, (name, (task, sizes, corrupt)) in enumerate(BENCHMARKS.items()):
        rng = np.random.default_rng(100 + b_index)
        pairs = []
        for i, (h, w) in enumerate(sizes):
            gt = rng.integers(40, 216, size=(h, w, 3), dtype=np.uint8)
            noise = rng.integers(-25, 26, size=(h, w, 3))
            degraded = np.clip(gt.astype(int) + noise, 0, 255).astype(np.uint8)
            d = root / name
            d.mkdir(parents=True, exist_ok=True)
            inp, tgt = d / f"{i:03d}_in.png", d / f"{i:03d}_gt.png"
            if not inp.exists():
                if i == corrupt:
                    inp.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
                else:
                    Image.fromarray(degraded).save(inp)
                Image.fromarray(gt).save(tgt)
            pairs.append(Pair(f"{i:03d}", inp, tgt, sha256_file(inp), sha256_file(tgt)))
        out[name] = FakeBenchmark(name, task, pairs, degradations=DEGRADATIONS[name])
    return out


def score(restored: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """RGB PSNR/SSIM of one uint8-quantised image against its target (scikit-image)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from harness.images import to_uint8

    out, gt = to_uint8(restored), to_uint8(target)
    return {
        "psnr": float(peak_signal_noise_ratio(gt, out, data_range=255)),
        "ssim": float(
            structural_similarity(
                gt,
                out,
                channel_axis=2,
                data_range=255,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
        ),
    }


class SlowIdentity(Restorer):
    """Identity that sleeps $HARNESS_TEST_SLEEP seconds per batch (for kill-mid-run tests)."""

    name = "slow-identity"
    tasks = ("derain", "dehaze")

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        time.sleep(float(os.environ.get("HARNESS_TEST_SLEEP", "0")))
        return batch.images.clone()


class BoxBlur(Restorer):
    """A 3x3 box blur: makes outputs clearly worse than identity on noisy-textured fixtures."""

    name = "box-blur"
    tasks = ("derain", "dehaze")

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        x = torch.nn.functional.pad(batch.images, (1, 1, 1, 1), mode="replicate")
        return torch.nn.functional.avg_pool2d(x, 3, stride=1)


class Jitter(Restorer):
    """Identity plus a tiny seeded change (one grey level on 1% of pixels): noise-level change."""

    name = "jitter"
    tasks = ("derain", "dehaze")
    loads_weights = False
    option_specs: ClassVar[dict[str, Option]] = {  # accepted and recorded, not used
        "foo": Option(int, 0, "a test option"),
        "scale": Option(float, 1.0, "a test option"),
        "flag": Option(bool, False, "a test option"),
        "label": Option(str, "", "a test option"),
    }

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        out = batch.images.clone()
        for k, image_id in enumerate(batch.ids):
            g = torch.Generator().manual_seed(batch.seed * 1000 + int(image_id))
            mask = torch.rand(out[k].shape, generator=g) < 0.01
            sign = torch.where(torch.rand(out[k].shape, generator=g) < 0.5, -1.0, 1.0)
            out[k] = (out[k] + mask * sign / 255.0).clamp(0, 1)
        return out


class Broken(Restorer):
    """Raises on every batch whose first id is 001 (a method crash recorded per image)."""

    name = "broken"

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        if "001" in batch.ids:
            raise RuntimeError("boom on 001")
        return batch.images.clone()


class Trained(Restorer):
    """Identity whose "checkpoint" declares the training setting given by option ``tasks``
    (comma-separated; empty: no setting declared), as LearnedRestorer does from a weights entry."""

    name = "trained"
    loads_weights = False
    option_specs: ClassVar[dict[str, Option]] = {"tasks": Option(str, "", "trained tasks")}

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        tasks = [t for t in str(options.get("tasks", "")).split(",") if t]
        self.training_setting = {"tasks": tasks, "datasets": [], "label": ""} if tasks else None

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        return batch.images.clone()


class TaskRouted(Restorer):
    """A non-blind method (given the task label); a batch without the label fails."""

    name = "task-routed"
    blind = False
    tasks = ("derain", "dehaze")

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        if batch.task not in self.tasks:
            raise RuntimeError(f"task-routed got task {batch.task!r}")
        return batch.images.clone()


TEST_METHODS: dict[str, type[Restorer]] = {
    c.name: c for c in (SlowIdentity, BoxBlur, Jitter, Broken, Trained, TaskRouted)
}


class FakeBenchmarks:
    """A ``harness.runner.BenchmarkSource`` over the fixture benchmarks (plus one absent)."""

    def __init__(
        self, benches: dict[str, FakeBenchmark], suites: dict[str, list[str]] | None = None
    ) -> None:
        self.benches = benches
        self.suites = suites or {SUITE: [*benches, ABSENT]}

    def resolve_suite(self, name: str) -> list[str]:
        if name in self.suites:
            return self.suites[name]
        if name in self.benches or name == ABSENT:
            return [name]
        raise HarnessError(f"unknown suite {name!r}")

    def open(self, name: str, data_root: Path, *, allow_unverified: bool) -> FakeBenchmark:
        if name == ABSENT:
            raise FakeMissingError(
                f"benchmark {ABSENT} is not present", hint="harness data get fx-absent"
            )
        return self.benches[name]

    def is_missing(self, exc: HarnessError) -> bool:
        return isinstance(exc, FakeMissingError)


class FakeMetrics:
    """A ``harness.runner.Scorer``: the fixture protocol, scored with scikit-image."""

    def protocol(self, name: str) -> FakeProtocol:
        return FakeProtocol()

    def score(
        self,
        protocol: Any,
        restored: torch.Tensor,
        target: torch.Tensor | None,
        degraded: torch.Tensor | None,
    ) -> list[dict[str, float]]:
        assert target is not None
        return [score(r, t) for r, t in zip(restored, target, strict=True)]


def create_method(name: str, **kwargs: Any) -> Restorer:
    """The test methods by name, else the registry's."""
    from harness.registry import create_method as registered

    return TEST_METHODS[name](**kwargs) if name in TEST_METHODS else registered(name, **kwargs)


def collaborators(
    benches: dict[str, FakeBenchmark],
    *,
    suites: dict[str, list[str]] | None = None,
    methods: MethodFactory = create_method,
) -> Collaborators:
    """Fake data layer and metrics over ``benches``, with ``methods`` as the registry."""
    return Collaborators(FakeBenchmarks(benches, suites), FakeMetrics(), methods)


def install(setattr_: Callable[[Any, str, Any], None], root: Path) -> dict[str, FakeBenchmark]:
    """Write the fixtures under ``root`` and make fakes over them the runner's defaults."""
    import harness.runner as runner

    benches = write_fixtures(root)
    setattr_(runner, "default_collaborators", lambda: collaborators(benches))
    return benches


def main() -> None:
    """Run the harness CLI with the fakes installed (fixtures under $HARNESS_TEST_FIXTURES)."""
    install(setattr, Path(os.environ["HARNESS_TEST_FIXTURES"]))
    from harness.cli import main as cli_main

    sys.argv[0] = "harness"
    cli_main()


if __name__ == "__main__":
    main()
