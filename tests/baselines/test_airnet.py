"""AirNet (All.pth): checkpoint layout without the training-only keys, parameter counts, the
deformable convolution against a direct implementation, equality with the official modules
(data/airnet_reference.npz, made with that direct implementation standing in for mmcv) and
batch independence."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import deform_conv2d

from baselines.airnet.network import (
    ENCODER_PARAMS,
    PARAMS_STORED,
    PARAMS_USED,
    RESTORER_PARAMS,
    TRAIN_ONLY_PREFIXES,
    AirNet,
    DeformableConv,
)
from tests.baselines.direct_deform_conv import direct_modulated_deform_conv
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
# BASELINES.md section 1: total 8,930,313; used at test: restorer 6,290,441 + encoder_q 1,319,936
BASELINES_STORED, BASELINES_RESTORER, BASELINES_ENCODER = 8_930_313, 6_290_441, 1_319_936


@pytest.fixture(scope="module")
def ref() -> dict[str, torch.Tensor]:
    return reference("airnet")


@pytest.fixture(scope="module")
def entries():
    return read_key_file("airnet_all").entries


@pytest.fixture(scope="module")
def state(entries) -> dict[str, torch.Tensor]:
    return synthetic_state_dict(entries, seed=101, gain=GAIN)


@pytest.fixture(scope="module")
def model(state) -> AirNet:
    used = {k: v for k, v in state.items() if not k.startswith(TRAIN_ONLY_PREFIXES)}
    return load_synthetic(AirNet, used)


def test_state_dict_equals_key_file_without_training_only_keys(entries) -> None:
    with torch.device("meta"):
        model = AirNet()
    kept = [e for e in entries if not e.key.startswith(TRAIN_ONLY_PREFIXES)]
    dropped = [e for e in entries if e.key.startswith(TRAIN_ONLY_PREFIXES)]
    assert describe(model.state_dict()) == as_described(kept)
    # dropped: the queue, its pointer and a key encoder laid out exactly like the query encoder
    assert [e.key for e in dropped[:2]] == ["E.E.queue", "E.E.queue_ptr"]
    key_encoder = [(e.key.replace("encoder_k", "encoder_q"), e.shape) for e in dropped[2:]]
    query_encoder = [(e.key, e.shape) for e in kept if e.key.startswith("E.E.encoder_q.")]
    assert key_encoder == query_encoder


def test_parameter_counts(entries) -> None:
    with torch.device("meta"):
        model = AirNet()
    restorer = sum(p.numel() for p in model.R.parameters())
    encoder = sum(p.numel() for p in model.E.parameters())
    assert restorer == RESTORER_PARAMS == BASELINES_RESTORER
    assert encoder == ENCODER_PARAMS == BASELINES_ENCODER
    assert sum(p.numel() for p in model.parameters()) == PARAMS_USED == 7_610_377
    assert parameter_count(entries) == PARAMS_STORED == BASELINES_STORED


def _dcn_inputs(seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4, 6, 9, generator=gen)
    offset = 3 * torch.randn(2, 18, 6, 9, generator=gen)  # reaches outside the image
    mask = torch.rand(2, 9, 6, 9, generator=gen)
    weight = torch.randn(5, 4, 3, 3, generator=gen)
    return x, offset, mask, weight


def test_torchvision_deform_conv_matches_direct_implementation() -> None:
    for seed in range(3):
        x, offset, mask, weight = _dcn_inputs(seed)
        want = direct_modulated_deform_conv(x, offset, mask, weight, None, padding=1)
        got = deform_conv2d(x, offset, weight, padding=(1, 1), mask=mask)
        assert want.abs().max().item() > 1
        assert (got - want).abs().max().item() < TOL


def test_the_check_tells_offset_layouts_apart() -> None:
    """Interleaved (dy, dx) per tap is the layout; (dx, dy) pairs or all-dy-then-all-dx differ."""
    x, offset, mask, weight = _dcn_inputs(7)
    got = deform_conv2d(x, offset, weight, padding=(1, 1), mask=mask)
    pairs = offset.reshape(2, 9, 2, 6, 9)
    swapped = pairs.flip(2).reshape(2, 18, 6, 9)
    planar = pairs.transpose(1, 2).reshape(2, 18, 6, 9)
    for layout in (swapped, planar):
        other = direct_modulated_deform_conv(x, layout, mask, weight, None, padding=1)
        assert (got - other).abs().max().item() > 0.1


def test_deformable_conv_module_uses_airnets_offset_and_mask_split() -> None:
    """Official split: chunk the offset conv output in 3; offset = cat(o1, o2); mask = sigmoid(m)."""
    gen = torch.Generator().manual_seed(3)
    dcn = DeformableConv(8)
    with torch.no_grad():
        dcn.weight.normal_(generator=gen)
        dcn.conv_offset_mask.weight.normal_(0, 0.2, generator=gen)
        dcn.conv_offset_mask.bias.normal_(generator=gen)
    x, inter = torch.randn(2, 1, 8, 7, 10, generator=gen)
    with torch.inference_mode():
        o1, o2, m = dcn.conv_offset_mask(torch.cat([x, inter], 1)).chunk(3, dim=1)
        want = direct_modulated_deform_conv(
            x, torch.cat([o1, o2], 1), torch.sigmoid(m), dcn.weight, None, padding=1
        )
        got = dcn(x, inter)
    assert o1.abs().max().item() > 1  # offsets of more than a pixel
    assert (got - want).abs().max().item() < TOL


def test_synthetic_weights_are_those_of_the_reference(ref, state) -> None:
    assert weights_sum(state) == pytest.approx(ref["weights_sum"].item(), rel=1e-12)


def test_matches_official(model, ref) -> None:
    with torch.inference_mode():
        got_a = model(ref["x_a"])
        got_b = model(ref["x_b"])  # 9x13, two images
    assert got_b.shape == ref["out_b"].shape
    assert (got_a - ref["out_a"]).abs().max().item() < TOL
    assert (got_b - ref["out_b"]).abs().max().item() < TOL


def test_query_encoder_matches_official(model, ref) -> None:
    with torch.inference_mode():
        representation, projection, _ = model.E.E.encoder_q(ref["x_b"])
    assert (representation - ref["repr_b"]).abs().max().item() < TOL
    assert (projection - ref["proj_b"]).abs().max().item() < TOL


def test_batch_gives_each_image_its_own_output(model, ref) -> None:
    x = ref["x_b"]
    with torch.inference_mode():
        batch = model(x)
        alone = torch.cat([model(x[:1]), model(x[1:])])
    assert (batch - alone).abs().max().item() < TOL
