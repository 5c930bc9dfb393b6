"""AdaIR's resolution-dependent frequency split, against the official behaviour.

The official block builds a centred box mask on the fftshift-ed spectrum (rolled by H//2, W//2),
with half-sizes ``int((side // 128) * rate)``; the tests write that construction out independently.
The small-network reference (``data/restormer_family_reference.npz``, ``adair_small_*``) is the
official AdaIR module (dim 8, one block per level) on a 768x512 image, where the mask of ``fre3``
is non-empty and those of ``fre1`` and ``fre2`` are empty.
"""

from __future__ import annotations

import pytest
import torch

from baselines.adair.frequency import (
    AdaptiveFrequencyBlock,
    low_pass_half_sizes,
    low_pass_mask,
    split_by_mask,
)
from baselines.adair.network import AdaIR
from tests.baselines.restormer_family import (
    TOL,
    fixed_images,
    key_shapes,
    load_reference,
    synthetic_state_dict,
    weight_fingerprint,
)

SMALL = {"dim": 8, "num_blocks": (1, 1, 1, 1), "num_refinement_blocks": 1}


def _official_mask(h: int, w: int, half_h: int, half_w: int) -> torch.Tensor:
    """The official construction: a centred box on the shifted spectrum, rolled back to fft2 layout."""
    shifted = torch.zeros(h, w)
    shifted[h // 2 - half_h : h // 2 + half_h, w // 2 - half_w : w // 2 + half_w] = 1
    return torch.roll(shifted, shifts=(-int(h / 2), -int(w / 2)), dims=(0, 1))


def _block(dim: int = 16, heads: int = 2) -> AdaptiveFrequencyBlock:
    block = AdaptiveFrequencyBlock(dim, heads, bias=False).eval()
    block.load_state_dict(synthetic_state_dict(key_shapes(block)))
    return block


@pytest.mark.parametrize(
    ("h", "w", "half_h", "half_w"),
    [(9, 12, 1, 2), (16, 16, 3, 1), (15, 21, 2, 4), (384, 256, 1, 1), (10, 10, 0, 2)],
)
def test_mask_is_the_centred_box_of_the_shifted_spectrum(h: int, w: int, half_h: int, half_w: int):
    got = low_pass_mask(h, w, torch.tensor([half_h]), torch.tensor([half_w]))
    assert got.shape == (1, 1, h, w)
    assert torch.equal(got[0, 0], _official_mask(h, w, half_h, half_w))


def test_half_sizes_truncate_side_over_128_times_the_rate() -> None:
    rates = torch.tensor([[0.99, 0.3], [0.5, 0.5]])
    half_h, half_w = low_pass_half_sizes(255, 600, rates)
    assert half_h.tolist() == [0, 0]  # 255 // 128 = 1, and 1 * rate < 1
    assert half_w.tolist() == [1, 2]  # 600 // 128 = 4: int(1.2), int(2.0)
    half_h, _ = low_pass_half_sizes(256, 600, rates)
    assert half_h.tolist() == [1, 1]  # 256 // 128 = 2: int(1.98), int(1.0)


def test_below_256_feature_pixels_the_low_part_is_zero() -> None:
    block = _block()
    image = fixed_images(1, 255, 300, seed=7)
    with torch.inference_mode():
        low, high = block.split(image)
        lifted = block.conv1(image)
    assert torch.count_nonzero(low) == 0
    assert (high - lifted.abs()).abs().max().item() < 1e-5


def test_padding_to_another_multiple_switches_the_split_on() -> None:
    # a 504x504 image (500 padded to x8) gives fre3 252x252 features, 512x512 (x16) gives 256x256
    block = _block()
    with torch.no_grad():
        block.rate_conv[2].weight.zero_()  # rates exactly sigmoid(0) = 0.5
    image = fixed_images(1, 252, 252, seed=8)
    padded = torch.nn.functional.pad(image, (0, 4, 0, 4), mode="reflect")
    with torch.inference_mode():
        low_252, _ = block.split(image)
        low_256, high_256 = block.split(padded)
        lifted = block.conv1(padded)
    assert torch.count_nonzero(low_252) == 0
    # 256 // 128 * 0.5 = 1: rows and columns {-1, 0} of the spectrum
    spectrum = torch.fft.fft2(lifted, norm="forward")
    mask = _official_mask(256, 256, 1, 1)
    want_low = torch.fft.ifft2(spectrum * mask, norm="forward").abs()
    want_high = torch.fft.ifft2(spectrum * (1 - mask), norm="forward").abs()
    assert want_low.abs().max().item() > 0.01
    assert (low_256 - want_low).abs().max().item() < 1e-6
    assert (high_256 - want_high).abs().max().item() < 1e-6


def test_split_by_mask_parts_are_the_magnitudes_of_complementary_bands() -> None:
    x = fixed_images(2, 12, 10, seed=9)
    full = low_pass_mask(12, 10, torch.tensor([6, 6]), torch.tensor([5, 5]))
    low, high = split_by_mask(x, full)
    assert (low - x).abs().max().item() < 1e-6  # the whole spectrum is "low"
    assert high.abs().max().item() < 1e-6


def test_small_adair_with_an_active_mask_equals_the_official_module() -> None:
    ref = load_reference()
    net = AdaIR(**SMALL).eval()
    state = synthetic_state_dict(key_shapes(net))
    assert weight_fingerprint(state) == float(ref["adair_small_fingerprint"])
    net.load_state_dict(state, strict=True)
    low_sums: dict[str, float] = {}
    for name in ("fre1", "fre2", "fre3"):
        block = getattr(net, name)

        def recording_split(image, _split=block.split, _name=name):
            low, high = _split(image)
            low_sums[_name] = low.double().abs().sum().item()
            return low, high

        block.split = recording_split
    with torch.inference_mode():
        out = net(fixed_images(1, 768, 512, seed=4))
    for name in ("fre1", "fre2"):
        assert low_sums[name] == 0 == float(ref[f"adair_small_{name}_low_abs_sum"])
    want_low = float(ref["adair_small_fre3_low_abs_sum"])
    assert want_low > 0 and abs(low_sums["fre3"] - want_low) <= 1e-6 * want_low
    assert (out[:, :, ::8, ::8] - torch.as_tensor(ref["adair_small_sub8"])).abs().max().item() < TOL
    assert abs(out.double().sum().item() - float(ref["adair_small_sum"])) < TOL * out.numel()
    assert (
        abs(out.double().abs().sum().item() - float(ref["adair_small_abs_sum"])) < TOL * out.numel()
    )
