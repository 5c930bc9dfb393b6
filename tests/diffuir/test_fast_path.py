"""DiffUIR's inference fast path (baselines/diffuir/fast.py) against the plain spec reference."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from baselines.diffuir import fast
from baselines.diffuir.network import SPLIT_PIXELS, build_unet
from tests.diffuir.reference import random_unet_weights, ref_unet

TOL = 1e-5  # max abs on the residual's [-1, 1] scale, halved to the image's [0, 1] scale


@pytest.fixture(scope="module")
def t_net(keys_file):
    weights = random_unet_weights("t", keys_file, seed=21)
    unet = build_unet("t")
    unet.load_state_dict(weights)
    return weights, unet.eval()


def test_chunked_linear_attention_matches_reference(t_net, monkeypatch) -> None:
    weights, unet = t_net
    monkeypatch.setattr(fast, "CHUNK", 97)  # many chunks and a partial last one at every level
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(2, 6, 40, 56, generator=gen) * 2 - 1
    x[1] *= 3  # a second image with a different range: the online max must rescale per image
    tau = torch.tensor([812.5, 812.5])
    with torch.no_grad():
        want = ref_unet(weights, "t", x, tau)
    with torch.inference_mode():
        got = unet(x, tau)
    assert want.abs().max().item() > 0.1
    assert (got - want).abs().max().item() / 2 < TOL


def test_flop_counter_sees_the_plain_operations(t_net) -> None:
    weights, unet = t_net
    x = torch.rand(1, 6, 32, 48) * 2 - 1
    tau = torch.tensor([500.0])
    with torch.no_grad(), FlopCounterMode(display=False) as want:
        ref_unet(weights, "t", x, tau)
    with torch.inference_mode(), FlopCounterMode(display=False) as got:
        unet(x, tau)
    assert want.get_total_flops() > 1e8
    assert got.get_total_flops() == want.get_total_flops()


def test_large_images_of_a_batch_equal_their_batch_of_one_results(t_net) -> None:
    _, unet = t_net
    side = int(SPLIT_PIXELS**0.5)
    gen = torch.Generator().manual_seed(8)
    x = torch.rand(2, 6, side, side, generator=gen) * 2 - 1
    tau = torch.tensor([433.6, 433.6])
    with torch.inference_mode():
        both = unet(x, tau)
        singles = [unet(x[i : i + 1], tau[i : i + 1]) for i in range(2)]
    assert not torch.equal(both[0], both[1])
    assert all(torch.equal(both[i], singles[i][0]) for i in range(2))
