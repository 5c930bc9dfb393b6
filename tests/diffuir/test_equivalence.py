"""Equality with an independent plain implementation of the spec, through upstream-format files."""

from __future__ import annotations

import pytest
import torch

from baselines.diffuir.sampler import sample
from baselines.diffuir.schedule import Schedule
from harness.registry import create_method
from harness.restorer import ImageBatch
from tests.diffuir.reference import (
    random_unet_weights,
    ref_sample,
    ref_unet,
    write_upstream_checkpoint,
)

TOL = 1e-5  # max abs on the [0, 1] scale


def _inputs(shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen), torch.randn(shape, generator=gen)


def test_t_network_and_sampler_match_reference(t_checkpoint) -> None:
    path, ema, _ = t_checkpoint
    method = create_method("diffuir", variant="t", weights=str(path))
    unet = method.module()
    cond, z = _inputs((2, 3, 37, 53), seed=5)
    x6 = torch.cat([torch.rand(2, 3, 37, 53) * 2 - 1, cond * 2 - 1], 1)
    tau = torch.tensor([993.647156, 433.621399])
    with torch.no_grad():
        want_net = ref_unet(ema, "t", x6, tau)
        want = ref_sample(ema, "t", cond, z, steps=3)
    with torch.inference_mode():
        got_net = unet(x6, tau)
        got = sample(unet, Schedule(), cond, z, steps=3)
    assert want_net.abs().max().item() > 0.1  # the check is not trivially satisfied
    # the residual lives on the [-1, 1] scale: half its difference is the [0, 1]-scale difference
    assert (got_net - want_net).abs().max().item() / 2 < TOL
    assert got.min().item() >= 0 and got.max().item() <= 1
    assert (got - want).abs().max().item() < TOL


def test_t_sampler_with_four_steps_matches_reference(t_checkpoint) -> None:
    path, ema, _ = t_checkpoint
    method = create_method("diffuir", variant="t", weights=str(path))
    cond, z = _inputs((1, 3, 24, 40), seed=6)
    with torch.no_grad():
        want = ref_sample(ema, "t", cond, z, steps=4)
    with torch.inference_mode():
        got = sample(method.module(), Schedule(), cond, z, steps=4)
    assert (got - want).abs().max().item() < TOL


def test_s_variant_matches_reference(tmp_path, keys_file) -> None:
    ema = random_unet_weights("s", keys_file, seed=11)
    raw = random_unet_weights("s", keys_file, seed=12)
    path = write_upstream_checkpoint(tmp_path / "model-300.pt", ema, raw, scalar_ema_buffers=False)
    method = create_method("diffuir", variant="s", weights=str(path))
    cond, z = _inputs((1, 3, 19, 24), seed=7)
    with torch.no_grad():
        want = ref_sample(ema, "s", cond, z, steps=3)
    with torch.inference_mode():
        got = sample(method.module(), Schedule(), cond, z, steps=3)
    assert (got - want).abs().max().item() < TOL


def test_raw_weights_on_request(t_checkpoint) -> None:
    path, ema, raw = t_checkpoint
    x6 = torch.rand(1, 6, 16, 16) * 2 - 1
    tau = torch.tensor([700.0])
    with torch.no_grad():
        want_raw, want_ema = ref_unet(raw, "t", x6, tau), ref_unet(ema, "t", x6, tau)
    raw_net = create_method("diffuir", weights=str(path), ema=False).module()
    ema_net = create_method("diffuir", weights=str(path)).module()
    with torch.inference_mode():
        assert (raw_net(x6, tau) - want_raw).abs().max().item() / 2 < TOL
        assert (ema_net(x6, tau) - want_ema).abs().max().item() / 2 < TOL
    assert (want_raw - want_ema).abs().max().item() > 1e-2


def test_restore_uses_seeded_noise_and_matches_reference(t_checkpoint) -> None:
    from baselines.diffuir.sampler import image_noise

    path, ema, _ = t_checkpoint
    method = create_method("diffuir", weights=str(path))
    cond, _ = _inputs((1, 3, 21, 30), seed=8)
    out = method.restore(ImageBatch(images=cond, ids=("img-7",), seed=42))
    z = image_noise(42, "img-7", (3, 21, 30))[None]
    with torch.no_grad():
        want = ref_sample(ema, "t", cond, z, steps=3)
    assert (out - want).abs().max().item() < TOL


@pytest.mark.parametrize("fmt", ["safetensors", "flat-pt-module"])
def test_plain_weight_files(tmp_path, t_checkpoint, fmt: str) -> None:
    _, ema, _ = t_checkpoint
    if fmt == "safetensors":
        from safetensors.torch import save_file

        path = tmp_path / "w.safetensors"
        save_file({k: v.contiguous() for k, v in ema.items()}, str(path))
    else:
        path = tmp_path / "w.pt"
        torch.save({"state_dict": {f"module.model.unet0.{k}": v for k, v in ema.items()}}, path)
    net = create_method("diffuir", weights=str(path)).module()
    x6 = torch.rand(1, 6, 16, 16) * 2 - 1
    tau = torch.tensor([300.0])
    with torch.inference_mode():
        got = net(x6, tau)
    with torch.no_grad():
        want = ref_unet(ema, "t", x6, tau)
    assert (got - want).abs().max().item() / 2 < TOL
