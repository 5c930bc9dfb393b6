"""InstructIR 7-task image model and text head: checkpoint layouts, parameter counts, equality with
the official modules (data/instructir_reference.npz), per-image conditioning."""

from __future__ import annotations

import pytest
import torch

from baselines.instructir.network import (
    DEGRADATIONS,
    IMAGE_PARAMS,
    LM_HEAD_PARAMS,
    InstructIR,
    LMHead,
)
from tests.baselines.keyfiles import read_key_file
from tests.baselines.synthetic_weights import (
    as_described,
    describe,
    load_synthetic,
    parameter_count,
    reference,
    synthetic_state_dict,
    weights_sum,
)

TOL = 1e-5
GAIN = 0.5


@pytest.fixture(scope="module")
def ref() -> dict[str, torch.Tensor]:
    return reference("instructir")


@pytest.fixture(scope="module")
def image_state() -> dict[str, torch.Tensor]:
    return synthetic_state_dict(read_key_file("instructir_7d_image").entries, seed=401, gain=GAIN)


@pytest.fixture(scope="module")
def head_state() -> dict[str, torch.Tensor]:
    return synthetic_state_dict(read_key_file("instructir_7d_lmhead").entries, seed=402, gain=GAIN)


@pytest.fixture(scope="module")
def model(image_state) -> InstructIR:
    return load_synthetic(InstructIR, image_state)


def test_image_model_state_dict_equals_key_file() -> None:
    with torch.device("meta"):
        model = InstructIR()
    entries = read_key_file("instructir_7d_image").entries
    assert describe(model.state_dict()) == as_described(entries)
    params = sum(p.numel() for p in model.parameters())
    assert params == parameter_count(entries) == IMAGE_PARAMS == 15_843_363


def test_lm_head_state_dict_equals_key_file() -> None:
    head = LMHead()
    entries = read_key_file("instructir_7d_lmhead").entries
    assert describe(head.state_dict()) == as_described(entries)
    params = sum(p.numel() for p in head.parameters())
    assert params == parameter_count(entries) == LM_HEAD_PARAMS == 100_359
    assert head.fc2.out_features == len(DEGRADATIONS) == 7


def test_synthetic_weights_are_those_of_the_references(ref, image_state, head_state) -> None:
    assert weights_sum(image_state) == pytest.approx(ref["weights_sum_image"].item(), rel=1e-12)
    assert weights_sum(head_state) == pytest.approx(ref["weights_sum_head"].item(), rel=1e-12)


def test_lm_head_matches_official(head_state, ref) -> None:
    head = load_synthetic(LMHead, head_state)
    with torch.inference_mode():
        instruction, logits = head(ref["sentence"])
    assert (instruction - ref["instruction"]).abs().max().item() < 1e-6
    assert (logits - ref["logits"]).abs().max().item() < 1e-6
    assert torch.allclose(instruction.norm(dim=1), torch.ones(2), atol=1e-6)


def test_image_model_matches_official(model, ref) -> None:
    with torch.inference_mode():
        got_a = model(ref["x_a"], ref["instruction"][:1])
        got_b = model(ref["x_b"], ref["instruction"])  # 13x21: zero-padded inside
    assert got_b.shape == ref["out_b"].shape
    assert (got_a - ref["out_a"]).abs().max().item() < TOL
    assert (got_b - ref["out_b"]).abs().max().item() < TOL


def test_each_image_follows_its_own_instruction(model, ref) -> None:
    x, instruction = ref["x_b"], ref["instruction"]
    with torch.inference_mode():
        first = model(x[:1], instruction[:1])
        second = model(x[1:], instruction[1:])
        swapped = model(x[:1], instruction[1:])
    assert (torch.cat([first, second]) - ref["out_b"]).abs().max().item() < TOL
    assert (swapped - first).abs().max().item() > 1e-3
