"""The Perceive-IR network and its semantic encoder against the release's code.

Independent expectations: keys, shapes, order and the parameter count come from the key file of
the released architecture (``data/perceive_ir.txt``: 1,156 entries, 33,901,111 elements, generated
from upstream ``PerceiveIR()`` at commit c7f79d4); outputs and class tokens from the upstream
modules run on the same synthetic weights and tiny DINOv2 (``data/perceive_ir_reference.npz``,
provenance in ``data/perceive_ir_reference.md``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.perceive_ir.network import PARAMETERS, PerceiveIR, release_key
from baselines.perceive_ir.semantics import DinoSemantics, fixed_semantics
from harness.errors import HarnessError
from harness.padding import pad_to_multiple
from tests.baselines.keyfiles import DATA
from tests.baselines.perceive_ir_fixtures import KEYS, RELEASED, TINY_WIDTH, tiny_dinov2
from tests.baselines.restormer_family import (
    TOL,
    fixed_images,
    key_shapes,
    synthetic_state_dict,
    weight_fingerprint,
)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(DATA / "perceive_ir_reference.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_dinov2(tmp_path_factory.mktemp("perceive") / "dinov2")


def test_keys_shapes_and_order_are_the_releases() -> None:
    with torch.device("meta"):
        net = PerceiveIR()
    assert key_shapes(net) == [(e.key, e.shape) for e in KEYS.entries]
    assert sum(p.numel() for p in net.parameters()) == PARAMETERS == RELEASED
    assert KEYS.declared_entries == 1156 and KEYS.declared_elements == RELEASED
    assert sum(math.prod(e.shape) for e in KEYS.entries) == RELEASED
    assert not list(net.buffers())


def test_release_names_round_trip_and_name_distinct_layers() -> None:
    with torch.device("meta"):
        net = PerceiveIR()
    own = [name for name, _ in net.named_parameters()]
    released = [release_key(name) for name in own]
    assert len(set(released)) == len(own)  # no two layers share a released name
    # the shared blocks' names become the release's, the release's own names stay
    assert release_key("encoder1.0.attn.qkv_dwconv.weight") == "encoder1.0.attention.qkv_dw.weight"
    assert release_key("encoder1.0.attn.project_out.bias") == "encoder1.0.attention.project.bias"
    assert release_key("latent.blocks.0.mdta.project_out.weight") == (
        "latent.blocks.0.mdta.project.weight"
    )
    assert (
        release_key("latent.blocks.0.ffn.dwconv.weight") == "latent.blocks.0.ffn.depthwise.weight"
    )
    assert release_key("latent.blocks.0.ffn.project_out.bias") == (
        "latent.blocks.0.ffn.project_out.bias"
    )
    assert release_key("latent.blocks.0.attention.project.weight") == (
        "latent.blocks.0.attention.project.weight"
    )


def test_a_released_state_dict_loads_strictly_and_comes_back_unchanged() -> None:
    state = synthetic_state_dict([(e.key, e.shape) for e in KEYS.entries])
    net = PerceiveIR()
    net.load_state_dict(state, strict=True)
    back = net.state_dict()
    assert list(back) == list(state)
    assert all(torch.equal(back[k], v) for k, v in state.items())
    # a parameter reached through the module's own name holds the released tensor
    assert torch.equal(
        net.encoder1[0].attn.qkv_dwconv.weight, state["encoder1.0.attention.qkv_dw.weight"]
    )


def test_a_missing_or_foreign_key_is_reported_in_the_releases_names() -> None:
    state = synthetic_state_dict([(e.key, e.shape) for e in KEYS.entries])
    del state["decoder2.blocks.1.mdta.qkv_dw.bias"]
    state["prompt1.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError) as info:
        PerceiveIR().load_state_dict(state, strict=True)
    text = str(info.value)
    assert "decoder2.blocks.1.mdta.qkv_dw.bias" in text and "prompt1.weight" in text


def test_released_network_equals_the_upstream_module(reference) -> None:
    net = PerceiveIR().eval()
    weights = synthetic_state_dict(key_shapes(net))
    assert weight_fingerprint(weights) == pytest.approx(float(reference["released_fingerprint"]))
    net.load_state_dict(weights, strict=True)
    x = fixed_images(2, 32, 48, seed=1)
    semantics = list(torch.from_numpy(reference["semantics_b"]))
    with torch.no_grad():
        out = net(x, semantics)
    want = torch.from_numpy(reference["network_b"])
    assert (want - x).abs().max() > 0.5  # the residual is not negligible
    assert (out - want).abs().max().item() < TOL
    with torch.no_grad():  # the semantic vectors matter
        other = net(x, [s.roll(1, dims=0) for s in semantics])
    assert (other - out).abs().max() > 1e-3


def test_class_tokens_are_the_upstream_encoders(tiny: Path, reference) -> None:
    encoder = DinoSemantics(tiny).eval()
    fingerprint = weight_fingerprint(encoder.encoder.state_dict())
    assert fingerprint == pytest.approx(float(reference["dino_fingerprint"]))
    image = F.pad(fixed_images(1, 27, 37, seed=3), (0, 3, 0, 5), mode="replicate")
    with torch.inference_mode():
        tokens = encoder(image)
    want = torch.from_numpy(reference["semantics_a"])
    assert len(tokens) == 4 and encoder.dim == TINY_WIDTH
    assert (torch.stack(tokens) - want).abs().max().item() < 1e-5
    assert (want[0] - want[3]).abs().max() > 0.1  # four different layers


def test_class_tokens_follow_the_recipe_written_out(tiny: Path) -> None:
    # restated from the release: bicubic 224x224, ImageNet normalisation, hidden_states[i][:, 0]
    from transformers import Dinov2Model

    model = Dinov2Model.from_pretrained(str(tiny), local_files_only=True).eval()
    x = fixed_images(2, 40, 24, seed=8)
    resized = F.interpolate(x, size=(224, 224), mode="bicubic", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        states = model(pixel_values=(resized - mean) / std, output_hidden_states=True).hidden_states
        got = DinoSemantics(tiny)(x)
    for token, layer in zip(got, (1, 4, 8, 12), strict=True):
        assert torch.equal(token, states[layer][:, 0])


def test_an_encoder_with_too_few_layers_is_refused(tmp_path: Path) -> None:
    from transformers import Dinov2Config, Dinov2Model

    Dinov2Model(
        Dinov2Config(hidden_size=16, num_hidden_layers=4, num_attention_heads=1, patch_size=56)
    ).save_pretrained(tmp_path, safe_serialization=True)
    with pytest.raises(
        HarnessError,
        match=r"4 layers; Perceive-IR takes the class tokens of layers \(1, 4, 8, 12\)",
    ):
        DinoSemantics(tmp_path)


def test_fixed_semantics_are_unit_vectors_shared_by_the_batch() -> None:
    vectors = fixed_semantics(3, 768, torch.device("cpu"))
    assert len(vectors) == 4 and all(v.shape == (3, 768) for v in vectors)
    assert all(torch.allclose(v.norm(dim=1), torch.ones(3)) for v in vectors)
    assert all(torch.equal(v[0], v[2]) for v in vectors)
    assert not torch.equal(vectors[0][0], vectors[1][0])


def test_replicate_padding_repeats_the_last_row_and_column_of_any_size() -> None:
    # the official evaluator pads by replication: possible even where reflection is not
    x = fixed_images(1, 3, 5, seed=2)
    padded = pad_to_multiple(x, 8, mode="replicate")
    assert padded.shape[-2:] == (8, 8)
    assert torch.equal(padded[..., :3, :5], x)
    assert torch.equal(padded[..., 3:, :5], x[..., 2:3, :].expand(1, 3, 5, 5))
    assert torch.equal(padded[..., :, 5:], padded[..., :, 4:5].expand(1, 3, 8, 3))
    with pytest.raises(HarnessError, match="too small to reflect-pad"):
        pad_to_multiple(x, 8)
