"""Restormer, PromptIR and AdaIR: checkpoint layout, exact outputs against the official modules.

Expected values are independent of the code under test: key names, shapes, dtypes and element counts
come from the key files computed from the official architectures (``data/{restormer,promptir,
adair}.txt``); the outputs come from the official modules run on the same synthetic weights
(``data/restormer_family_reference.npz``, provenance in ``data/restormer_family_reference.md``).
Tolerance: 1e-5 max abs (the outputs are of order 1-10; the clean-room modules in fact reproduce
them bit for bit on the CPU they were recorded on).
"""

from __future__ import annotations

from functools import cache

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from baselines.adair import network as adair
from baselines.promptir import network as promptir
from baselines.restormer import network as restormer
from harness.padding import run_padded
from tests.baselines.keyfiles import read_key_file
from tests.baselines.restormer_family import (
    TOL,
    fixed_images,
    load_reference,
    synthetic_state_dict,
    weight_fingerprint,
)

NETWORKS = {
    "restormer": (restormer.Restormer, restormer.PARAMETERS),
    "promptir": (promptir.PromptIR, promptir.PARAMETERS),
    "adair": (adair.AdaIR, adair.PARAMETERS),
}
NAMES = list(NETWORKS)


@cache
def _loaded(name: str) -> nn.Module:
    """The full-size network with the synthetic weights of its key file, strictly loaded."""
    net = NETWORKS[name][0]().eval()
    entries = [(e.key, e.shape) for e in read_key_file(name).entries]
    net.load_state_dict(synthetic_state_dict(entries), strict=True)
    return net


@pytest.fixture(scope="module")
def reference() -> dict:
    return load_reference()


def _max_diff(a: torch.Tensor, b) -> float:
    return (a - torch.as_tensor(b)).abs().max().item()


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_equals_the_key_file(name: str) -> None:
    key_file = read_key_file(name)
    got = [(k, tuple(v.shape), v.dtype) for k, v in NETWORKS[name][0]().state_dict().items()]
    want = [(e.key, e.shape, e.dtype) for e in key_file.entries]
    assert len(want) == key_file.declared_entries
    assert got == want  # names, shapes, dtypes and state_dict order


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_is_exact(name: str) -> None:
    cls, published = NETWORKS[name]
    net = cls()
    # the key files count state_dict elements; these networks have no buffers, so it is all parameters
    assert list(net.buffers()) == []
    assert sum(p.numel() for p in net.parameters()) == read_key_file(name).declared_elements
    assert published == read_key_file(name).declared_elements


@pytest.mark.parametrize("name", NAMES)
def test_synthetic_weights_load_strictly_and_are_the_reference_runs(name: str, reference: dict):
    entries = [(e.key, e.shape) for e in read_key_file(name).entries]
    state = synthetic_state_dict(entries)
    assert weight_fingerprint(state) == float(reference[f"{name}_fingerprint"])
    net = _loaded(name)  # loaded with strict=True from the same entries
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())


@pytest.mark.parametrize("name", NAMES)
def test_output_equals_the_official_module(name: str, reference: dict) -> None:
    want = reference[f"{name}_32x48"]
    with torch.inference_mode():
        got = _loaded(name)(fixed_images(1, 32, 48, seed=1))
    assert abs(want).max() > 1  # the comparison is not trivially satisfied
    assert _max_diff(got, want) < TOL


@pytest.mark.parametrize("name", NAMES)
def test_padded_output_equals_the_official_test_script(name: str, reference: dict) -> None:
    # reference: the official module behind Restormer's test-script padding (reflect to x8, crop)
    with torch.inference_mode():
        got = run_padded(_loaded(name), fixed_images(1, 27, 37, seed=3), 8)
    assert got.shape == (1, 3, 27, 37)
    assert _max_diff(got, reference[f"{name}_27x37_padded"]) < TOL


@pytest.mark.parametrize("name", NAMES)
def test_output_does_not_depend_on_batch_composition(name: str) -> None:
    net = _loaded(name)
    pair = fixed_images(2, 32, 48, seed=2)
    with torch.inference_mode():
        together = net(pair)
        alone = torch.cat([net(pair[:1]), net(pair[1:])])
    assert _max_diff(together[0], together[1]) > 0.1  # two different images
    assert _max_diff(together, alone) < TOL


def test_harness_padding_equals_padding_by_hand() -> None:
    # what the harness does (pad, run, crop) against the same steps written out
    net = _loaded("restormer")
    x = fixed_images(1, 21, 30, seed=5)
    with torch.inference_mode():
        by_hand = net(F.pad(x, (0, 2, 0, 3), mode="reflect"))[..., :21, :30]
        got = run_padded(net, x, 8)
    assert _max_diff(got, by_hand) == 0


@pytest.mark.parametrize(
    ("cls", "extra"),
    [
        (restormer.Restormer, {}),
        (
            promptir.PromptIR,
            {"prompt_dims": (8, 16, 24), "prompt_sizes": (8, 4, 4), "prompt_len": 3},
        ),
        (adair.AdaIR, {}),
    ],
)
def test_architecture_hyperparameters_make_other_sizes(cls: type, extra: dict) -> None:
    small = dict(
        dim=8,
        num_blocks=(1, 1, 2, 2),
        num_refinement_blocks=1,
        heads=(1, 2, 4, 4),
        ffn_expansion_factor=2.0,
        bias=True,
        layernorm_type="BiasFree",
    )
    net = cls(**small, **extra).eval()
    assert sum(p.numel() for p in net.parameters()) < 1_000_000  # DiffUIR-T scale is reachable
    # bias=True reaches the transformer blocks, BiasFree drops the LayerNorm biases
    keys = net.state_dict().keys()
    assert "encoder_level1.0.attn.qkv.bias" in keys
    assert not any(k.endswith("norm1.body.bias") for k in keys)
    assert len(net.latent) == 2
    x = fixed_images(1, 16, 24, seed=6)
    with torch.inference_mode():
        assert net(x).shape == x.shape
