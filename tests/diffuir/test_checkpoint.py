"""Checkpoint safety: strict keys, wrong variant or method named, tampered files refused."""

from __future__ import annotations

import pytest
import torch

from harness.checkpoints import ChecksumMismatchError
from harness.errors import HarnessError
from harness.registry import create_method
from tests.diffuir.reference import random_unet_weights, write_upstream_checkpoint


def test_wrong_variant_is_named(tmp_path, keys_file) -> None:
    ema = random_unet_weights("s", keys_file, seed=1)
    path = write_upstream_checkpoint(tmp_path / "model-300.pt", ema, ema)
    with pytest.raises(HarnessError) as info:
        create_method("diffuir", variant="t", weights=str(path))
    assert "DiffUIR-S checkpoint" in str(info.value)
    assert info.value.hint == "use --variant s"


def test_large_checkpoint_named_from_shapes_alone(tmp_path, keys_file) -> None:
    # only the tensors the detector needs, with L shapes: the error must still name L
    shapes = {"init_conv.weight": (64, 6, 7, 7)}
    shapes |= {f"downs.{i}.3.weight": (64 * m, 1, 1, 1) for i, m in enumerate((1, 2, 4, 8))}
    torch.save({k: torch.zeros(s) for k, s in shapes.items()}, tmp_path / "l.pt")
    with pytest.raises(HarnessError, match="DiffUIR-L checkpoint") as info:
        create_method("diffuir", variant="b", weights=str(tmp_path / "l.pt"))
    assert info.value.hint == "use --variant l"


def test_missing_and_unexpected_keys_are_listed(tmp_path, t_checkpoint) -> None:
    _, ema, _ = t_checkpoint
    state = dict(ema)
    del state["final_conv.bias"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(HarnessError) as info:
        create_method("diffuir", weights=str(tmp_path / "bad.pt"))
    text = str(info.value)
    assert "1 missing key(s) [final_conv.bias]" in text
    assert "1 unexpected key(s) [extra.weight]" in text


@pytest.mark.parametrize(
    ("keys", "name"),
    [
        (["prompt", "init_conv.weight", "text_mlp.0.weight", "prompt_mlp.weight"], "DA-CLIP"),
        (["net.patch_embed.proj.weight", "net.prompt1.prompt_param", "net.latent.0.x"], "PromptIR"),
        (["patch_embed.proj.weight", "latent.0.attn.qkv.weight"], "Restormer"),
        (["intro.weight", "ending.weight", "middle_blks.0.conv1.weight"], "NAFNet"),
        (["temb.dense.0.weight", "conv_in.weight"], "WeatherDiff"),
    ],
)
def test_other_methods_checkpoints_are_named(tmp_path, keys, name: str) -> None:
    torch.save({"state_dict": {k: torch.zeros(2) for k in keys}}, tmp_path / "other.pt")
    with pytest.raises(HarnessError, match=f"{name}.* weights, not DiffUIR weights"):
        create_method("diffuir", weights=str(tmp_path / "other.pt"))


def test_training_checkpoint_without_ema(tmp_path, t_checkpoint) -> None:
    _, ema, _ = t_checkpoint
    torch.save(
        {"step": 1, "model": {f"model.unet0.{k}": v for k, v in ema.items()}}, tmp_path / "m.pt"
    )
    with pytest.raises(HarnessError, match="no 'ema' entry"):
        create_method("diffuir", weights=str(tmp_path / "m.pt"))
    assert create_method("diffuir", weights=str(tmp_path / "m.pt"), ema=False).module() is not None


def test_tampered_checkpoint_is_refused(tmp_path, t_checkpoint) -> None:
    from harness.weights import add_weights

    path, _, _ = t_checkpoint
    added = add_weights("diffuir", path, variant="t", name="my-t")
    entry, stored = added.entry, added.path
    assert entry.sha256 is not None
    method = create_method("diffuir", weights="my-t")
    assert method.provenance()["weights_sha256"] == entry.sha256
    with open(stored, "r+b") as fh:  # flip one byte in the stored copy
        fh.seek(-100, 2)
        byte = fh.read(1)
        fh.seek(-100, 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ChecksumMismatchError):
        create_method("diffuir", weights="my-t")


def test_missing_default_weights_name_the_file() -> None:
    from harness.errors import MissingFileError

    with pytest.raises(MissingFileError, match="model-300.pt"):
        create_method("diffuir", variant="l")


def test_default_t_weights_are_the_shipped_mini_weights() -> None:
    method = create_method("diffuir")
    prov = method.provenance()
    assert prov["weights_sha256"] and "diffuir-t-mini" in str(prov.get("weights"))
