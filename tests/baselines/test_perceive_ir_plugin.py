"""The perceive-ir plugin: official files load strictly, DINOv2 from a local folder (tiny random
encoders built here, never downloaded), the official test's padding, refusals by name, counts.

Independent expectations: the parameter count and keys from the key file of the released
architecture (``data/perceive_ir.txt``, generated from upstream ``PerceiveIR()`` at c7f79d4); the
restored pixels from the upstream modules and the official evaluator's steps run on the same
synthetic weights and tiny DINOv2 (``data/perceive_ir_reference.npz``); file names, folder and
container from the release's README, ``weight/manifest.json`` and ``evaluate_stage2_adair.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.adair.restorer import AdaIRRestorer
from baselines.perceive_ir.restorer import PerceiveIRRestorer
from harness.checkpoints import CheckpointMismatchError, ChecksumMismatchError
from harness.complexity import measure
from harness.errors import HarnessError, MissingFileError
from harness.restorer import ImageBatch
from harness.weights import add_weights, manifest_entries, resolve_weights
from tests.baselines.keyfiles import DATA
from tests.baselines.lightning_plugins import harness, write_lightning_checkpoint, zeros_state
from tests.baselines.perceive_ir_fixtures import (
    KEYS,
    RELEASED,
    RELEASED_WIDTH,
    TINY_WIDTH,
    official_checkpoint,
    tiny_dinov2,
)
from tests.baselines.restormer_family import (
    TOL,
    fixed_images,
    key_shapes,
    synthetic_state_dict,
    weight_fingerprint,
)

BAIDU = "https://pan.baidu.com/s/1r04w7uSwXZ6V8bE1X9BbMQ?pwd=k4uc"
FIVE = ["denoise", "dehaze", "derain", "deblur", "lowlight"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny 32-wide encoder, a 768-wide one and a synthetic 5-task checkpoint."""
    root = tmp_path_factory.mktemp("perceive-ir")
    state = synthetic_state_dict([(e.key, e.shape) for e in KEYS.entries])
    return {
        "tiny": tiny_dinov2(root / "dinov2-tiny"),
        "wide": tiny_dinov2(root / "dinov2-wide", width=RELEASED_WIDTH, seed=5),
        "ckpt": official_checkpoint(root / "perceiveIR_5task.pth", state, FIVE),
    }


@pytest.fixture(scope="module")
def loaded(files: dict[str, Path]) -> PerceiveIRRestorer:
    return PerceiveIRRestorer(weights=str(files["ckpt"]), dinov2=str(files["wide"]))


def _restore(method: PerceiveIRRestorer, images: torch.Tensor) -> torch.Tensor:
    ids = tuple(f"img-{i}" for i in range(images.shape[0]))
    return method.restore(ImageBatch(images=images, ids=ids))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_official_file_loads_strictly_with_provenance_and_counts(loaded, files) -> None:
    state = loaded.module().state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == [
        (e.key, e.shape) for e in KEYS.entries
    ]
    saved = torch.load(files["ckpt"], weights_only=True)["model"]
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    info = loaded.provenance()
    assert info["weights_sha256"] == _sha256(files["ckpt"])
    assert info["params_stored"] == RELEASED
    assert info["pad"] == "replicate to a multiple of 8, cropped back"
    encoder = info["semantic_encoder"]
    assert encoder["folder"] == str(files["wide"]) and encoder["width"] == RELEASED_WIDTH
    assert encoder["weights_sha256"] == _sha256(files["wide"] / "model.safetensors")
    assert encoder["class_token_layers"] == [1, 4, 8, 12]
    dino = sum(p.numel() for p in loaded.semantics.encoder.parameters())
    assert loaded.params_detail() == {
        "restoration network": RELEASED,
        "stored in the checkpoint": RELEASED,
        "DINOv2 encoder (frozen)": dino,
        "used at inference": RELEASED + dino,
    }


def test_restores_odd_sizes_in_range_and_depends_on_the_semantics(loaded) -> None:
    x = fixed_images(2, 27, 37, seed=4)
    out = _restore(loaded, x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1 and (out - x).abs().max() > 1e-2
    alone = torch.cat([_restore(loaded, x[:1]), _restore(loaded, x[1:])])
    assert (out - alone).abs().max() < TOL
    # the same pixels with fixed vectors instead of DINOv2's class tokens come out different
    encoder, loaded.semantics = loaded.semantics, None
    try:
        fixed = _restore(loaded, x)
    finally:
        loaded.semantics = encoder
    assert (fixed - out).abs().max() > 1e-3


def test_padding_and_semantics_are_the_official_evaluators(files) -> None:
    # reference: upstream DinoSemanticEncoder + PerceiveIR(semantic_dim=32) through the steps of
    # evaluate_stage2_adair.restore_direct (replicate-pad to x8, encoder on the padded image)
    with np.load(DATA / "perceive_ir_reference.npz") as data:
        want, unclamped = (
            torch.from_numpy(data["restored_a"]),
            torch.from_numpy(data["unclamped_a"]),
        )
        fingerprint = data["small_fingerprint"]
    method = PerceiveIRRestorer(random_init=True, dinov2=str(files["tiny"]))
    assert method.network.semantic_dim == TINY_WIDTH  # random_init follows the encoder's width
    weights = synthetic_state_dict(key_shapes(method.network))
    assert weight_fingerprint(weights) == pytest.approx(float(fingerprint))
    method.network.load_state_dict(weights, strict=True)
    got = _restore(method, fixed_images(1, 27, 37, seed=3))
    assert unclamped.max() > 1 or unclamped.min() < 0  # the clamp is part of what is compared
    assert (got - want).abs().max().item() < TOL


def test_check_cli_passes_with_an_official_file_and_a_tiny_random_dinov2(files) -> None:
    result = harness(
        "check", "perceive-ir", "--weights", files["ckpt"], "--option", f"dinov2={files['wide']}"
    )
    assert result.exit_code == 0, result.output
    assert "perceive-ir variant 5task" in result.output
    for name in ("batch-invariant", "blind", "odd-size", "deterministic", "range"):
        assert f"PASS  {name}" in result.output
    assert "contract passed" in result.output


def test_an_encoder_of_another_width_is_refused_after_the_checkpoint(files) -> None:
    with pytest.raises(HarnessError, match="gives 32-d class tokens; the Perceive-IR checkpoint"):
        PerceiveIRRestorer(weights=str(files["ckpt"]), dinov2=str(files["tiny"]))


def test_a_missing_dinov2_folder_says_what_to_get_and_where(files, tmp_path) -> None:
    folder = tmp_path / "nowhere"
    for options in ({"weights": str(files["ckpt"])}, {"random_init": True}):
        with pytest.raises(MissingFileError) as info:
            PerceiveIRRestorer(dinov2=str(folder), **options)
        text = str(info.value)
        assert str(folder) in text and "facebook/dinov2-base" in text
        assert "https://huggingface.co/facebook/dinov2-base" in text
        assert "config.json and model.safetensors" in text
    # the default folder, empty cache: the error names where it is looked for
    with pytest.raises(MissingFileError, match=r"weights/perceive-ir/dinov2-base"):
        PerceiveIRRestorer(weights=str(files["ckpt"]))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingFileError, match="model.safetensors"):
        PerceiveIRRestorer(random_init=True, dinov2=str(empty))


@pytest.mark.parametrize(("key_file", "signature"), [("adair", "AdaIR"), ("promptir", "PromptIR")])
def test_other_methods_checkpoints_are_refused_by_name(key_file, signature, tmp_path) -> None:
    path = tmp_path / "other.ckpt"
    write_lightning_checkpoint(path, zeros_state(key_file))
    with pytest.raises(
        CheckpointMismatchError, match=f"holds {signature} weights, not Perceive-IR"
    ):
        PerceiveIRRestorer(weights=str(path))


def test_other_methods_refuse_a_perceive_ir_file_by_name(files) -> None:
    with pytest.raises(CheckpointMismatchError, match="holds Perceive-IR weights, not AdaIR"):
        AdaIRRestorer(weights=str(files["ckpt"]))


def test_a_file_missing_a_key_is_refused_naming_it(tmp_path) -> None:
    state = zeros_state("perceive_ir")
    del state["pgm.2.affine.0.weight"]
    path = official_checkpoint(tmp_path / "cut.pth", state)
    with pytest.raises(CheckpointMismatchError, match=r"pgm\.2\.affine\.0\.weight"):
        PerceiveIRRestorer.inspect_weights(path)


def test_the_embedded_configuration_tells_the_variant(tmp_path) -> None:
    state = zeros_state("perceive_ir")
    three = official_checkpoint(tmp_path / "a.pth", state, ["derain", "denoise", "dehaze"])
    bare = official_checkpoint(tmp_path / "b.pth", state)
    assert PerceiveIRRestorer.inspect_weights(three) == "3task"
    assert PerceiveIRRestorer.inspect_weights(bare) is None  # the 5-task file: the add test


def test_manifest_lists_both_names_of_each_file_without_checksums() -> None:
    entries = {e.name: e for e in manifest_entries("perceive-ir")}
    files = {name: (e.variant, e.file, e.default) for name, e in entries.items()}
    assert files == {
        "perceive-ir-5task": ("5task", "perceiveIR_5task.pth", True),
        "perceive-ir-5task-aio": ("5task", "AIO-5D.pth", False),
        "perceive-ir-3task": ("3task", "perceiveIR_3task.pth", True),
        "perceive-ir-3task-aio": ("3task", "AIO-3D.pth", False),
    }
    for entry in entries.values():
        assert entry.sha256 is None and entry.sha256_origin is None
        assert BAIDU in entry.source and "k4uc" in entry.source
        assert set(entry.setting.tasks) == set(FIVE if entry.variant == "5task" else FIVE[:3])


def test_missing_weights_name_the_baidu_folder() -> None:
    with pytest.raises(MissingFileError) as info:
        PerceiveIRRestorer(variant="3task")
    text = str(info.value)
    assert "weights/perceive-ir/perceiveIR_3task.pth" in text
    assert BAIDU in text and "none is published" in text


def test_adding_the_manifest_named_file_pins_its_sha256(files, tmp_path) -> None:
    copy = tmp_path / "AIO-5D.pth"
    copy.write_bytes(files["ckpt"].read_bytes())
    added = add_weights("perceive-ir", copy)
    assert added.outcome == "pinned" and added.entry.name == "perceive-ir-5task-aio"
    assert PerceiveIRRestorer.inspect_weights(copy) == "5task"  # from its configuration
    resolved = resolve_weights("perceive-ir", "5task", "perceive-ir-5task-aio")
    assert resolved.sha256 == _sha256(files["ckpt"])
    # the pin is checked at every load from now on: other bytes in its place are refused
    official_checkpoint(added.path, zeros_state("perceive_ir"), FIVE)
    with pytest.raises(ChecksumMismatchError, match=resolved.sha256):
        resolve_weights("perceive-ir", "5task", "perceive-ir-5task-aio")


def test_complexity_reports_the_encoder_apart() -> None:
    restorer = PerceiveIRRestorer(random_init=True)  # no encoder: fixed vectors stand in
    report = measure(restorer, [(16, 16)], repeats=0, memory=False).to_dict()
    assert report["params"] == RELEASED
    assert report["params_detail"] == {
        "restoration network": RELEASED,
        "used at inference": RELEASED,
    }
    assert "DINOv2" in report["flops_not_counted"][0]
    assert restorer.provenance()["semantic_encoder"].startswith("fixed seeded vectors")


def test_complexity_counts_the_released_network_with_a_tiny_encoder(files) -> None:
    result = harness(
        "complexity", "perceive-ir", "--size", "16x16", "--repeats", "0", "--warmup", "0",
        "--json", "--option", f"dinov2={files['wide']}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["params"] == RELEASED
    detail = report["params_detail"]
    assert detail["DINOv2 encoder (frozen)"] > 0
    assert detail["used at inference"] == RELEASED + detail["DINOv2 encoder (frozen)"]


def test_training_is_refused_with_the_reason(tmp_path) -> None:
    result = harness("train", "--method", "perceive-ir", "--out", tmp_path / "run")
    assert result.exit_code != 0
    assert "perceive-ir cannot be trained by the harness" in str(result.exception)


def test_ls_methods_lists_perceive_ir() -> None:
    rows = {r["name"]: r for r in json.loads(harness("ls", "methods", "--json").output)}
    row = rows["perceive-ir"]
    assert row["license"] == "Apache-2.0" and row["blind"] is True
    assert row["params"] == {"5task": RELEASED, "3task": RELEASED}
