"""DiffUIR U-Net: exact sizes, upstream key layout, fast path equal to the plain path."""

from __future__ import annotations

import pytest
import torch

from baselines.diffuir.network import build_unet
from tests.diffuir.reference import read_key_shapes

PUBLISHED = {"t": 886_435, "s": 3_268_643, "b": 12_406_851, "l": 36_261_187}  # README / spec 2


@pytest.mark.parametrize("variant", ["t", "s", "b", "l"])
def test_param_count_and_keys_match_upstream(variant: str, keys_file) -> None:
    unet = build_unet(variant)
    assert sum(p.numel() for p in unet.parameters()) == PUBLISHED[variant]
    expected = read_key_shapes(keys_file)[variant]
    got = {f"model.unet0.{k}": list(v.shape) for k, v in unet.state_dict().items()}
    assert list(got) == list(expected)  # same keys, same order
    assert got == expected
    assert len(got) == 276


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown DiffUIR variant"):
        build_unet("xl")


def _randomize(unet: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))


def test_fast_path_equals_plain_path_at_odd_size() -> None:
    torch.manual_seed(0)
    unet = build_unet("t")
    _randomize(unet, 3)
    x = torch.rand(2, 6, 37, 53) * 2 - 1
    tau = torch.tensor([993.647156, 433.621399])
    unet.train()
    with torch.no_grad():
        plain = unet(x, tau)
    unet.eval()
    with torch.inference_mode():
        fast = unet(x, tau)
        fast_again = unet(x, tau)  # served from the cached standardised weights
    assert plain.shape == (2, 3, 37, 53)
    assert (fast - plain).abs().max().item() < 1e-5
    assert torch.equal(fast, fast_again)


def test_weight_cache_follows_weight_changes() -> None:
    torch.manual_seed(0)
    unet = build_unet("t").eval()
    x = torch.rand(1, 6, 32, 32) * 2 - 1
    tau = torch.tensor([500.0])
    with torch.inference_mode():
        before = unet(x, tau)
    _randomize(unet, 4)  # in-place change of every weight
    with torch.inference_mode():
        after = unet(x, tau)
    unet.train()
    with torch.no_grad():
        plain = unet(x, tau)
    assert (after - before).abs().max().item() > 1e-3
    assert (after - plain).abs().max().item() < 1e-5


def test_gradients_flow_in_training_mode() -> None:
    unet = build_unet("t").train()
    out = unet(torch.rand(1, 6, 16, 16), torch.tensor([100.0]))
    out.abs().mean().backward()
    grad = unet.downs[0][0].block1.proj.weight.grad
    assert grad is not None and grad.abs().sum().item() > 0
