"""The shared Restormer blocks against independent formulas, and the test-time padding convention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from baselines.blocks.restormer import (
    MDTA,
    Downsample,
    LayerNorm,
    Upsample,
)
from harness.errors import HarnessError
from harness.padding import crop_to, pad_to_multiple


def _official_test_padding(x: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """Restormer's Deraining/Motion_Deblurring test scripts: the target size is the next multiple
    strictly above, but a size that is already a multiple gets no padding."""
    h, w = x.shape[2], x.shape[3]
    big_h, big_w = ((h + factor) // factor) * factor, ((w + factor) // factor) * factor
    pad_h = big_h - h if h % factor != 0 else 0
    pad_w = big_w - w if w % factor != 0 else 0
    return F.pad(x, (0, pad_w, 0, pad_h), "reflect")


@pytest.mark.parametrize("size", [(8, 8), (9, 15), (16, 17), (27, 37), (31, 64), (100, 250)])
def test_padding_follows_the_official_test_scripts(size: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(sum(size)))
    padded = pad_to_multiple(x, 8)
    assert torch.equal(padded, _official_test_padding(x))
    assert padded.shape[-2] % 8 == 0 and padded.shape[-1] % 8 == 0
    assert torch.equal(crop_to(padded, *size), x)


def test_padding_to_other_multiples() -> None:
    x = torch.rand(1, 3, 20, 33, generator=torch.Generator().manual_seed(0))
    assert pad_to_multiple(x, 16).shape[-2:] == (32, 48)
    assert torch.equal(pad_to_multiple(x, 16), _official_test_padding(x, 16))


def test_image_too_small_to_reflect_is_a_clear_error() -> None:
    with pytest.raises(HarnessError, match="too small"):
        pad_to_multiple(torch.zeros(1, 3, 4, 20), 8)


@pytest.mark.parametrize("kind", ["WithBias", "BiasFree"])
def test_layernorm_normalises_each_pixel_over_channels(kind: str) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 6, 5, 7, generator=gen) * 3 + 1
    norm = LayerNorm(6, kind)
    with torch.no_grad():
        norm.body["weight"].copy_(torch.randn(6, generator=gen))
        if kind == "WithBias":
            norm.body["bias"].copy_(torch.randn(6, generator=gen))
    pixels = x.permute(0, 2, 3, 1).double()  # [B, H, W, C]
    weight = norm.body["weight"].double()
    if kind == "WithBias":
        want = F.layer_norm(pixels, (6,), weight, norm.body["bias"].double(), eps=1e-5)
    else:  # scaled by the centred std, but not centred
        want = pixels / torch.sqrt(pixels.var(-1, unbiased=False, keepdim=True) + 1e-5) * weight
    with torch.no_grad():
        got = norm(x).permute(0, 2, 3, 1).double()
    assert (got - want).abs().max().item() < 1e-5


def test_mdta_attends_within_heads_over_channels() -> None:
    # with identity projections the output at each channel mixes only channels of the same head
    dim, heads = 4, 2
    mdta = MDTA(dim, heads, bias=False)
    with torch.no_grad():
        for conv in (mdta.qkv, mdta.project_out):
            conv.weight.zero_()
        mdta.qkv.weight[:, :, 0, 0].copy_(torch.eye(dim).repeat(3, 1))
        mdta.project_out.weight[:, :, 0, 0].copy_(torch.eye(dim))
        mdta.qkv_dwconv.weight.zero_()
        mdta.qkv_dwconv.weight[:, :, 1, 1] = 1.0
    x = torch.rand(1, dim, 3, 5, generator=torch.Generator().manual_seed(2))
    flat = x.reshape(dim, -1).double()
    want = torch.zeros_like(flat)
    for h in range(heads):
        rows = slice(h * 2, h * 2 + 2)
        q = F.normalize(flat[rows], dim=-1)
        weights = (q @ q.T).softmax(-1)  # temperature 1
        want[rows] = weights @ flat[rows]
    with torch.no_grad():
        got = mdta(x).reshape(dim, -1).double()
    assert (got - want).abs().max().item() < 1e-6


def test_down_and_upsampling_change_resolution_by_two() -> None:
    x = torch.rand(1, 8, 6, 10)
    down, up = Downsample(8), Upsample(8)
    with torch.no_grad():
        assert down(x).shape == (1, 16, 3, 5)
        assert up(x).shape == (1, 4, 12, 20)
