"""MPRNet deraining and deblurring: checkpoint layout, parameter counts, the shared PReLU, equality
with the official modules (data/mprnet_reference.npz) and batch independence."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.mprnet.network import PARAMS, MPRNet
from tests.baselines.keyfiles import read_key_file
from tests.baselines.synthetic_weights import (
    as_described,
    describe,
    load_synthetic,
    reference,
    synthetic_state_dict,
    weights_sum,
)

TOL = 1e-5
GAIN = 0.5
KEY_FILES = {"derain": "mprnet_deraining", "deblur": "mprnet_deblurring"}
SEEDS = {"derain": 301, "deblur": 302}
BASELINES_PARAMS = {"derain": 3_637_249, "deblur": 20_127_073}  # BASELINES.md section 2
ALIASES = 55  # keys of the one shared PReLU weight


@pytest.fixture(scope="module")
def ref() -> dict[str, torch.Tensor]:
    return reference("mprnet")


@pytest.fixture(scope="module")
def derain_state() -> dict[str, torch.Tensor]:
    return synthetic_state_dict(read_key_file(KEY_FILES["derain"]).entries, SEEDS["derain"], GAIN)


@pytest.fixture(scope="module")
def deblur_state() -> dict[str, torch.Tensor]:
    return synthetic_state_dict(read_key_file(KEY_FILES["deblur"]).entries, SEEDS["deblur"], GAIN)


@pytest.fixture(scope="module")
def derain(derain_state):
    return load_synthetic(lambda: MPRNet("derain"), derain_state)


def prelu_keys(model: MPRNet) -> list[str]:
    return [k for k, v in model.state_dict().items() if tuple(v.shape) == (1,)]


@pytest.mark.parametrize("task", ["derain", "deblur"])
def test_state_dict_equals_key_file(task: str) -> None:
    with torch.device("meta"):
        model = MPRNet(task)
    assert describe(model.state_dict()) == as_described(read_key_file(KEY_FILES[task]).entries)


@pytest.mark.parametrize("task", ["derain", "deblur"])
def test_parameter_count_counts_the_shared_prelu_once(task: str) -> None:
    with torch.device("meta"):
        model = MPRNet(task)
    elements = sum(math.prod(e.shape) for e in read_key_file(KEY_FILES[task]).entries)
    count = sum(p.numel() for p in model.parameters())
    assert count == PARAMS[task] == BASELINES_PARAMS[task] == elements - (ALIASES - 1)


def test_unknown_task_is_rejected() -> None:
    with pytest.raises(ValueError, match="derain"):
        MPRNet("denoise")


def test_one_prelu_sits_under_55_keys() -> None:
    model = MPRNet("derain")
    keys = prelu_keys(model)
    state = model.state_dict()
    assert len(keys) == ALIASES
    assert all(k.endswith(".weight") for k in keys)
    assert len({state[k].data_ptr() for k in keys}) == 1


def test_loading_keeps_the_last_alias_like_the_official_module(ref, derain_state) -> None:
    """Each alias gets its own value; the official module kept the 55th (reference value)."""
    model = MPRNet("derain")
    keys = prelu_keys(model)
    distinct = dict(derain_state)
    for i, k in enumerate(keys):
        distinct[k] = torch.tensor([0.01 * (i + 1)])
    model.load_state_dict(distinct, strict=True)
    kept = model.shallow_feat1[1].body[1].weight
    assert int(ref["alias_count"]) == ALIASES
    assert torch.equal(kept, ref["alias_kept"])
    assert torch.equal(kept, distinct[keys[-1]])


def test_synthetic_weights_are_those_of_the_references(ref, derain_state, deblur_state) -> None:
    assert weights_sum(derain_state) == pytest.approx(ref["weights_sum_derain"].item(), rel=1e-12)
    assert weights_sum(deblur_state) == pytest.approx(ref["weights_sum_deblur"].item(), rel=1e-12)


def test_derain_matches_official(derain, ref) -> None:
    with torch.inference_mode():
        got = torch.stack(derain(ref["x_derain"]))
    assert got.shape == ref["derain"].shape  # (restored, stage 2, stage 1)
    assert (got - ref["derain"]).abs().max().item() < TOL


def test_deblur_matches_official(ref, deblur_state) -> None:
    model = load_synthetic(lambda: MPRNet("deblur"), deblur_state)
    with torch.inference_mode():
        got = torch.stack(model(ref["x_deblur"]))
    assert (got - ref["deblur"]).abs().max().item() < TOL


def test_batch_gives_each_image_its_own_output(derain, ref) -> None:
    x = ref["x_derain"]
    other = torch.rand(x.shape, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        batch = derain(torch.cat([other, x]))[0]
        alone = derain(x)[0]
    assert (batch[1:] - alone).abs().max().item() < TOL
    assert (batch[:1] - alone).abs().max().item() > 1e-3
