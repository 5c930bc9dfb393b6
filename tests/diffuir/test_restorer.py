"""DiffUIR plugin: seeded noise, batch invariance, preprocessing flags, provenance, train hook."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from baselines.diffuir.preprocess import apply_preprocess, equalize_channel, width_tiles
from baselines.diffuir.restorer import DiffUIR
from baselines.diffuir.sampler import batch_noise, image_noise, noise_seed, sample
from harness.images import to_tensor, to_uint8
from harness.registry import create_method
from harness.restorer import ImageBatch


@pytest.fixture(scope="module")
def method() -> DiffUIR:
    return DiffUIR(random_init=True, steps=1)


def test_class_metadata() -> None:
    assert DiffUIR.name == "diffuir" and DiffUIR.blind is True
    assert DiffUIR.variants == ("t", "s", "b", "l") and DiffUIR.default_variant == "t"
    assert set(DiffUIR.tasks) == {"derain", "desnow", "dehaze", "deblur", "lowlight", "udc"}
    assert DiffUIR.params == {"t": 886_435, "s": 3_268_643, "b": 12_406_851, "l": 36_261_187}
    assert DiffUIR(random_init=True).calls_per_image() == 3
    assert DiffUIR(random_init=True, steps="5").calls_per_image() == 5


def test_noise_seed_is_sha256_of_seed_and_id() -> None:
    digest = hashlib.sha256(b"7:rain/001.png").digest()
    assert noise_seed(7, "rain/001.png") == int.from_bytes(digest[:8], "big") & (2**63 - 1)
    a = image_noise(7, "rain/001.png", (3, 5, 6))
    b = torch.randn(
        (3, 5, 6), generator=torch.Generator().manual_seed(noise_seed(7, "rain/001.png"))
    )
    assert torch.equal(a, b)
    assert not torch.equal(a, image_noise(8, "rain/001.png", (3, 5, 6)))
    stacked = batch_noise(7, ["x", "rain/001.png"], (3, 5, 6))
    assert torch.equal(stacked[1], a)


def test_deterministic_and_batch_invariant(method: DiffUIR) -> None:
    images = torch.rand(3, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    batch = ImageBatch(images=images, ids=("a", "b", "c"), seed=3)
    first = method.restore(batch)
    assert torch.equal(first, method.restore(batch))
    assert first.dtype == torch.float32 and first.shape == images.shape
    assert 0 <= first.min().item() and first.max().item() <= 1
    reordered = method.restore(ImageBatch(images=images[[2, 0]], ids=("c", "a"), seed=3))
    assert (reordered[0] - first[2]).abs().max().item() < 1e-5
    assert (reordered[1] - first[0]).abs().max().item() < 1e-5
    other_seed = method.restore(ImageBatch(images=images[:1], ids=("a",), seed=4))
    assert (other_seed[0] - first[0]).abs().max().item() > 1e-4


def test_tiny_images_come_back_the_same_size(method: DiffUIR) -> None:
    out = method.restore(ImageBatch(images=torch.rand(1, 3, 5, 9), ids=("tiny",)))
    assert out.shape == (1, 3, 5, 9) and torch.isfinite(out).all()


def test_histeq_matches_opencv_per_channel() -> None:
    rng = np.random.default_rng(0)
    cases = [rng.integers(0, 256, (13, 17), dtype=np.uint8)]
    cases.append((rng.beta(0.5, 4, (31, 9)) * 255).astype(np.uint8))  # skewed, like dark images
    cases.append(rng.integers(40, 60, (8, 8), dtype=np.uint8))
    cases.append(np.full((4, 5), 77, np.uint8))  # constant channel
    cases.append(np.array([[0, 255]], np.uint8))
    for channel in cases:
        assert np.array_equal(equalize_channel(channel), cv2.equalizeHist(channel))
    image = rng.integers(0, 120, (10, 12, 3), dtype=np.uint8)
    want = np.stack([cv2.equalizeHist(np.ascontiguousarray(image[..., c])) for c in range(3)], -1)
    assert np.array_equal(apply_preprocess(image, frozenset({"lol-histeq"})), want)
    assert apply_preprocess(image, frozenset({"other"})) is image


def test_restore_honours_lol_histeq(method: DiffUIR) -> None:
    rng = np.random.default_rng(1)
    dark = rng.integers(0, 50, (24, 20, 3), dtype=np.uint8)
    equalized = np.stack(
        [cv2.equalizeHist(np.ascontiguousarray(dark[..., c])) for c in range(3)], -1
    )
    flagged = ImageBatch(
        images=to_tensor(dark)[None], ids=("lol",), preprocess=frozenset({"lol-histeq"})
    )
    by_hand = ImageBatch(images=to_tensor(equalized)[None], ids=("lol",))
    assert torch.equal(method.restore(flagged), method.restore(by_hand))
    plain = method.restore(ImageBatch(images=to_tensor(dark)[None], ids=("lol",)))
    assert (plain - method.restore(flagged)).abs().max().item() > 1e-3
    assert np.array_equal(to_uint8(to_tensor(dark)), dark)


def test_width_tiles() -> None:
    assert width_tiles(2048) == [(0, 1024), (1024, 2048)]
    assert width_tiles(1000) == [(0, 1000)]
    assert width_tiles(2500) == [(0, 1024), (1024, 2048), (2048, 2500)]


def test_udc_split_restores_halves_independently() -> None:
    method = DiffUIR(random_init=True, steps=1)
    images = torch.rand(1, 3, 16, 1040, generator=torch.Generator().manual_seed(2))
    batch = ImageBatch(images=images, ids=("poled-1",), preprocess=frozenset({"udc-half-split"}))
    out = method.restore(batch)
    noise = image_noise(0, "poled-1", (3, 16, 1040))[None]
    with torch.inference_mode():
        left = sample(method.module(), method.schedule, images[..., :1024], noise[..., :1024], 1)
        right = sample(method.module(), method.schedule, images[..., 1024:], noise[..., 1024:], 1)
    assert torch.equal(out, torch.cat([left, right], -1))
    whole = method.restore(ImageBatch(images=images, ids=("poled-1",)))
    assert (whole - out).abs().max().item() > 1e-4  # the split really changes the computation


def test_udc_uses_four_steps_unless_told() -> None:
    default = DiffUIR(random_init=True)
    assert default.steps_for(frozenset({"udc-half-split"})) == 4
    assert default.steps_for(frozenset()) == 3
    assert DiffUIR(random_init=True, steps=2).steps_for(frozenset({"udc-half-split"})) == 2


def test_provenance_marks_random_init_and_noise_rule() -> None:
    info = create_method("diffuir", random_init=True).provenance()
    assert info["method"] == "diffuir" and info["variant"] == "t"
    assert info["random_init"] is True and "NOT trained" in info["weights_origin"]
    assert info["weights_sha256"] is None
    assert "sha256" in info["noise"] and "Q9" in info["deviation"]


def test_bad_options_are_refused() -> None:
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="unknown diffuir option"):
        DiffUIR(random_init=True, stepz=3)
    with pytest.raises(HarnessError, match="steps"):
        DiffUIR(random_init=True, steps=0)


def test_train_delegates_to_training_module(monkeypatch, tmp_path) -> None:
    calls = []
    fake = types.ModuleType("baselines.diffuir.training")

    def train_diffuir(config, out, data_root, *, resume, progress, init_weights):
        calls.append((config, out, data_root, resume, progress, init_weights))
        return tmp_path / "w.safetensors"

    fake.train_diffuir = train_diffuir
    monkeypatch.setitem(sys.modules, "baselines.diffuir.training", fake)
    got = DiffUIR.train({"steps": 1}, tmp_path, "/data", resume=False, progress=False)
    assert got == tmp_path / "w.safetensors"
    assert calls == [({"steps": 1}, tmp_path, Path("/data"), False, False, None)]
