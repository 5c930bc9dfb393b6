"""NAFNet GoPro (width 64 and 32, plain and local-statistics): checkpoint layout, parameter counts,
equality with the official modules (data/nafnet_reference.npz), order and batch independence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from baselines.nafnet.network import (
    GOPRO_PARAMS,
    LocalAvgPool2d,
    NAFNet,
    nafnet_gopro,
    tlc_kernels,
)
from tests.baselines.keyfiles import read_key_file
from tests.baselines.synthetic_weights import (
    as_described,
    derive_width,
    describe,
    load_synthetic,
    parameter_count,
    reference,
    synthetic_state_dict,
    weights_sum,
)

TOL = 1e-5
GAIN = 0.75
W32_PARAMS_FROM_BASELINES = 17_111_907  # BASELINES.md section 2, counted on the official module


@pytest.fixture(scope="module")
def ref() -> dict[str, torch.Tensor]:
    return reference("nafnet")


@pytest.fixture(scope="module")
def entries64():
    return read_key_file("nafnet_gopro_width64").entries


@pytest.fixture(scope="module")
def state64(entries64):
    return synthetic_state_dict(entries64, seed=201, gain=GAIN)


@pytest.fixture(scope="module")
def state32(entries64):
    return synthetic_state_dict(derive_width(entries64, 64, 32), seed=202, gain=GAIN)


@pytest.fixture(scope="module")
def w64_local(state64):
    return load_synthetic(lambda: nafnet_gopro(64), state64)


@pytest.fixture(scope="module")
def w32_local16(state32):
    return load_synthetic(lambda: NAFNet(32, tlc_train_size=16), state32)


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_width64_state_dict_equals_key_file(w64_local, entries64) -> None:
    assert describe(w64_local.state_dict()) == as_described(entries64)
    with torch.device("meta"):
        plain = nafnet_gopro(64, tlc=False)
    assert describe(plain.state_dict()) == as_described(entries64)


def test_width64_parameter_count(w64_local, entries64) -> None:
    assert params(w64_local) == parameter_count(entries64) == GOPRO_PARAMS[64] == 67_888_835


def test_width32_state_dict_equals_the_derived_layout(entries64) -> None:
    derived = derive_width(entries64, 64, 32)
    with torch.device("meta"):
        model = nafnet_gopro(32)
    assert describe(model.state_dict()) == as_described(derived)
    assert parameter_count(derived) == W32_PARAMS_FROM_BASELINES
    assert params(model) == GOPRO_PARAMS[32] == W32_PARAMS_FROM_BASELINES


def test_only_widths_64_and_32_are_released() -> None:
    with pytest.raises(ValueError, match="64 or 32"):
        nafnet_gopro(48)


def test_synthetic_weights_are_those_of_the_references(ref, state64, state32) -> None:
    assert weights_sum(state64) == pytest.approx(ref["weights_sum_64"].item(), rel=1e-12)
    assert weights_sum(state32) == pytest.approx(ref["weights_sum_32"].item(), rel=1e-12)


def test_local_windows_equal_the_official_cached_kernels(ref) -> None:
    """The official module caches its kernels in a dummy forward at build time; ours are computed."""
    with torch.device("meta"):
        pools = [m for m in nafnet_gopro(64).modules() if isinstance(m, LocalAvgPool2d)]
    official = ref["kernels_256"]  # one (h, w) pair per pooling layer, in module order
    assert len(pools) == len(official) == 36
    assert [(p.kernel, p.kernel) for p in pools] == [tuple(k.tolist()) for k in official]
    assert tlc_kernels(256, 4) == [384, 192, 96, 48, 24]


def test_width64_local_matches_official(w64_local, ref) -> None:
    with torch.inference_mode():
        for name in ("a", "b"):  # 16x32 and the odd 13x21 (zero-padded inside)
            got = w64_local(ref[f"x_{name}"])
            want = ref[f"w64_{name}"]
            assert got.shape == want.shape
            assert (got - want).abs().max().item() < TOL


def test_width32_plain_matches_official(state32, ref) -> None:
    model = load_synthetic(lambda: nafnet_gopro(32, tlc=False), state32)
    with torch.inference_mode():
        got = model(ref["x_c"])
    assert (got - ref["w32_plain_c"]).abs().max().item() < TOL


def test_width32_local_matches_official(w32_local16, ref) -> None:
    """Train size 16: windows of 24, 12, 6, 3, 1 pixels, smaller than the maps at every level."""
    with torch.inference_mode():
        got = w32_local16(ref["x_c"])
    assert (got - ref["w32_local16_c"]).abs().max().item() < TOL
    # the local path really differs from global pooling on this input
    assert (ref["w32_local16_c"] - ref["w32_plain_c"]).abs().max().item() > 1e-3


def test_local_pool_matches_official_pool(ref) -> None:
    """Windows inside the map, clipped to its height (12 on 11x17), and covering it (17)."""
    for kernel in (4, 7, 12, 17):
        got = LocalAvgPool2d(kernel)(ref["pool_x"])
        want = ref[f"pool_{kernel}"]
        assert got.shape == want.shape
        assert (got - want).abs().max().item() < 1e-6


def test_local_output_depends_only_on_the_image(w32_local16) -> None:
    gen = torch.Generator().manual_seed(1)
    x, other = torch.rand(2, 1, 3, 16, 40, generator=gen)
    different_size = torch.rand(1, 3, 16, 24, generator=gen)
    with torch.inference_mode():
        alone = w32_local16(x)
        batch = w32_local16(torch.cat([other, x]))
        w32_local16(different_size)
        after = w32_local16(x)
    assert torch.equal(after, alone)
    # a batch runs other kernels: equal up to float rounding
    assert (batch[1:] - alone).abs().max().item() < TOL


def test_local_pool_equals_stride_one_average_pooling() -> None:
    """Independent computation: ``avg_pool2d`` with stride 1, then the border replicated."""
    x = torch.randn(2, 3, 11, 17, generator=torch.Generator().manual_seed(3))
    for kernel in (4, 7, 12):
        kh, kw = min(kernel, 11), min(kernel, 17)
        pooled = F.avg_pool2d(x, (kh, kw), stride=1)
        dh, dw = 11 - pooled.shape[-2], 17 - pooled.shape[-1]
        want = F.pad(pooled, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode="replicate")
        assert (LocalAvgPool2d(kernel)(x) - want).abs().max().item() < 1e-5
    assert torch.allclose(LocalAvgPool2d(17)(x), x.mean((2, 3), keepdim=True), atol=1e-6)
