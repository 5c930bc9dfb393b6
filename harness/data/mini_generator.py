"""Regenerate (and document) the embedded mini suite under ``manifests/embedded/``.

Run ``python3 -m harness.data.mini_generator [--out DIR]``. The committed PNGs and their locks are the
truth; this script documents how they were made and can rebuild them, but library versions (numpy,
scipy, scikit-image) may change the last bit, so CI verifies the committed files against the locks
rather than regenerating them.

Clean content comes only from photographs bundled inside scikit-image (no network). Test and training
data are kept apart in two ways, both recorded per image in ``meta.json`` (source photo and crop box):

* the five "shared" natural photos are split by columns: test crops lie in ``x < 256``, training crops
  in ``x >= 256`` of the same photo, so no test pixel is ever in a training crop;
* two further photos (``camera``, ``immunohistochemistry``) feed only the training split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data import degradations as deg
from harness.images import write_image

BASE_SEED = 20240314
TEST_BAND = 256  # test crops of the shared photos lie in columns [0, TEST_BAND)
TEST_SIZE = 256
TRAIN_SIZE = 128
TRAIN_CROPS_PER_PHOTO = 6  # keeps the whole suite near 15 MB
GENERATOR = "harness.data.mini_generator"


@dataclass(frozen=True)
class Crop:
    """One clean crop: which bundled photo it comes from and where (y, x, size)."""

    source: str
    y: int
    x: int
    size: int

    @property
    def box(self) -> list[int]:
        """``[y0, x0, y1, x1)`` in source pixel coordinates."""
        return [self.y, self.x, self.y + self.size, self.x + self.size]


def _load_sources() -> dict[str, np.ndarray]:
    """The bundled photos as uint8 RGB (greyscale ones replicated to three channels)."""
    import skimage.data as data

    rgb = {
        "astronaut": data.astronaut(),
        "coffee": data.coffee(),
        "chelsea": data.chelsea(),
        "rocket": data.rocket(),
        "motorcycle": data.stereo_motorcycle()[0],
        "immunohistochemistry": data.immunohistochemistry(),
    }
    grey = {"camera": data.camera()}
    for name, image in grey.items():
        rgb[name] = np.repeat(image[..., None], 3, axis=2)
    return {k: np.ascontiguousarray(v[..., :3]).astype(np.uint8) for k, v in rgb.items()}


SHARED_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")
TRAIN_ONLY_CROPS = (
    Crop("camera", 64, 192, TRAIN_SIZE),
    Crop("camera", 384, 0, TRAIN_SIZE),
    Crop("immunohistochemistry", 0, 0, TRAIN_SIZE),
    Crop("immunohistochemistry", 384, 384, TRAIN_SIZE),
)

# Test crops (all inside the test band x < 256 of the shared photos).
TASK_TEST_CROPS = (
    Crop("astronaut", 0, 0, TEST_SIZE),
    Crop("coffee", 100, 0, TEST_SIZE),
    Crop("chelsea", 30, 0, TEST_SIZE),
    Crop("rocket", 120, 0, TEST_SIZE),
    Crop("motorcycle", 200, 0, TEST_SIZE),
)
ZEROSHOT_CROPS = (
    Crop("astronaut", 256, 0, TEST_SIZE),
    Crop("coffee", 0, 0, TEST_SIZE),
    Crop("rocket", 0, 0, TEST_SIZE),
    Crop("motorcycle", 0, 0, TEST_SIZE),
)
REAL_CROPS = (
    Crop("astronaut", 128, 0, TEST_SIZE),
    Crop("coffee", 144, 0, TEST_SIZE),
    Crop("rocket", 171, 0, TEST_SIZE),
    Crop("motorcycle", 100, 0, TEST_SIZE),
)


def training_crops(sources: dict[str, np.ndarray]) -> list[Crop]:
    """128x128 grid crops right of the test band of the shared photos, plus the train-only crops."""
    crops: list[Crop] = []
    for name in SHARED_PHOTOS:
        h, w = sources[name].shape[:2]
        grid = [
            Crop(name, y, x, TRAIN_SIZE)
            for y in range(0, h - TRAIN_SIZE + 1, TRAIN_SIZE)
            for x in range(TEST_BAND, w - TRAIN_SIZE + 1, TRAIN_SIZE)
        ]
        crops += grid[:TRAIN_CROPS_PER_PHOTO]
    return crops + list(TRAIN_ONLY_CROPS)


def _seed(benchmark: str, item: str) -> list[int]:
    digest = hashlib.sha256(f"{benchmark}/{item}".encode()).hexdigest()
    return [BASE_SEED, int(digest[:8], 16)]


def _crop(sources: dict[str, np.ndarray], crop: Crop) -> np.ndarray:
    image = sources[crop.source][crop.y : crop.y + crop.size, crop.x : crop.x + crop.size]
    if image.shape[:2] != (crop.size, crop.size):
        raise ValueError(f"crop {crop} falls outside {crop.source} {sources[crop.source].shape}")
    return image


def _write_benchmark(
    out: Path,
    benchmark: str,
    items: list[tuple[str, Crop]],
    degrade: Callable,
    degradation: str,
    sources: dict[str, np.ndarray],
    *,
    with_target: bool = True,
) -> None:
    root = out / benchmark
    if root.exists():
        shutil.rmtree(root)
    meta: dict[str, object] = {}
    for item_id, crop in items:
        clean = _crop(sources, crop)
        seed = _seed(benchmark, item_id)
        rng = np.random.default_rng(seed)
        degraded, params = degrade(clean.astype(np.float64) / 255.0, rng)
        write_image(root / "input" / f"{item_id}.png", deg.quantize(degraded))
        if with_target:
            write_image(root / "target" / f"{item_id}.png", clean)
        meta[item_id] = {
            "source": f"skimage.data.{crop.source}",
            "box_y0x0y1x1": crop.box,
            "degradation": degradation,
            "seed": seed,
            "params": params,
        }
    document = {"generator": GENERATOR, "benchmark": benchmark, "items": meta}
    (root / "meta.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


def _named(crops: tuple[Crop, ...] | list[Crop]) -> list[tuple[str, Crop]]:
    counts: dict[str, int] = {}
    named = []
    for crop in crops:
        k = counts.get(crop.source, 0)
        counts[crop.source] = k + 1
        named.append((f"{crop.source}-{k:02d}", crop))
    return named


def generate(out: Path) -> list[str]:
    """Write every mini benchmark under ``out``; return their names."""
    sources = _load_sources()
    written = []
    for task, degrade in deg.DEGRADATIONS.items():
        name = f"mini-{task}"
        _write_benchmark(out, name, _named(TASK_TEST_CROPS), degrade, task, sources)
        written.append(name)
    _write_benchmark(
        out, "mini-zeroshot", _named(ZEROSHOT_CROPS), deg.add_haze_and_rain, "haze+rain", sources
    )
    _write_benchmark(
        out,
        "mini-real",
        _named(REAL_CROPS),
        deg.add_real_like_low_light,
        "real-like low light (no GT)",
        sources,
        with_target=False,
    )
    written += ["mini-zeroshot", "mini-real"]
    train = _named(training_crops(sources))
    for task, degrade in deg.DEGRADATIONS.items():
        name = f"mini-train-{task}"
        _write_benchmark(out, name, train, degrade, task, sources)
        written.append(name)
    return written


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: regenerate the images, then (for the repo copy) rewrite the locks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="default: manifests/embedded")
    parser.add_argument("--no-lock", action="store_true", help="do not rewrite manifests/locks")
    args = parser.parse_args(argv)
    from harness.paths import manifests_dir

    out = args.out or manifests_dir() / "embedded"
    names = generate(out)
    if args.out is None and not args.no_lock:
        from harness.data.lock import write_lock_for_dir

        for name in names:
            write_lock_for_dir(name, out / name, manifests_dir() / "locks" / f"{name}.lock")
    print(f"wrote {len(names)} benchmarks under {out}")


if __name__ == "__main__":
    main()
