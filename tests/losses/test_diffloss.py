"""DiffLoss on a tiny random ADM: the terms against a hand computation, gradients through the frozen
model (none with the upstream switch), the frozen model unchanged by training."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import harness.losses.objective as objective
from harness.errors import HarnessError
from harness.losses.diffloss import DiffLoss
from harness.losses.objective import restored_image, training_objective, with_diffloss
from harness.train_config import TrainConfig
from harness.training import PatchSampler, TaskImages, fit, l1_loss
from tests.losses.tiny import TINY, tiny_adm

# The official code's weights (JosephTiTan/DiffLoss 1c84a6d, gaussian_diffusion.py
# training_losses): 0.001 on the noise-prediction MSE, 0.000001 on the h-space MSE.
NAT_WEIGHT, SEM_WEIGHT = 0.001, 0.000001


def _alpha_bar(t: int) -> float:
    """prod_{i<=t} (1 - beta_i), betas linear from 1e-4 to 0.02 over 1000 steps."""
    product = 1.0
    for i in range(t + 1):
        product *= 1.0 - (1e-4 + i * (0.02 - 1e-4) / 999)
    return product


def _batch(seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((2, 3, 8, 8), generator=gen), torch.rand((2, 3, 8, 8), generator=gen)


def test_terms_match_a_hand_computation() -> None:
    adm = tiny_adm()
    restored, clean = _batch()
    t = torch.tensor([10, 900])
    noise = torch.randn((2, 3, 8, 8), generator=torch.Generator().manual_seed(4))
    terms = DiffLoss(adm).terms(restored, clean, t, noise)

    a = torch.tensor([_alpha_bar(10), _alpha_bar(900)], dtype=torch.float64).view(2, 1, 1, 1)
    noised = [
        (a.sqrt() * (2 * img.double() - 1) + (1 - a).sqrt() * noise.double()).float()
        for img in (restored, clean)
    ]
    with torch.no_grad():
        (out_r, h_r), (out_c, h_c) = (adm(x, t) for x in noised)
    nat = ((out_r[:, :3] - out_c[:, :3]) ** 2).mean().item()
    sem = ((h_r - h_c) ** 2).mean().item()
    assert nat > 0 and sem > 0
    assert terms.naturalness.item() == pytest.approx(nat, rel=1e-5)
    assert terms.semantic.item() == pytest.approx(sem, rel=1e-5)
    assert terms.weighted().item() == pytest.approx(NAT_WEIGHT * nat + SEM_WEIGHT * sem, rel=1e-5)
    # the schedule's ends, from its definition
    assert _alpha_bar(0) == pytest.approx(1 - 1e-4)
    assert math.isclose(a[1].item(), _alpha_bar(900))


def test_call_draws_one_timestep_and_one_noise_for_both_images() -> None:
    adm = tiny_adm()
    restored, clean = _batch()
    loss = DiffLoss(adm)
    gen = torch.Generator().manual_seed(9)
    t = torch.randint(0, 1000, (2,), generator=gen)
    noise = torch.randn((2, 3, 8, 8), generator=gen)
    expected = loss.terms(restored, clean, t, noise).weighted()
    got = loss(restored, clean, torch.Generator().manual_seed(9))
    assert torch.equal(got, expected)
    # the same image noised with the same t and noise is at distance 0
    assert loss(clean, clean, torch.Generator().manual_seed(9)).item() == 0.0


class _Restorer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * self.conv(x)


def _grads(net: nn.Module, loss_fn, cond: torch.Tensor, clean: torch.Tensor) -> list[torch.Tensor]:
    net.zero_grad(set_to_none=True)
    loss_fn(net, cond, clean, torch.Generator().manual_seed(5)).backward()
    return [p.grad.detach().clone() for p in net.parameters()]


def test_gradients_flow_through_the_frozen_model_unless_switched_off() -> None:
    adm = tiny_adm()
    net = _Restorer()
    cond, clean = _batch()
    pixel = _grads(net, l1_loss, cond, clean)
    full = _grads(net, with_diffloss(l1_loss, DiffLoss(adm)), cond, clean)
    upstream = _grads(net, with_diffloss(l1_loss, DiffLoss(adm, upstream_nograd=True)), cond, clean)

    def diffloss_only(model, c, y, gen):
        return DiffLoss(adm)(model(c), y, gen)

    extra = _grads(net, diffloss_only, cond, clean)
    assert all(torch.equal(u, p) for u, p in zip(upstream, pixel, strict=True))
    assert any(not torch.equal(f, p) for f, p in zip(full, pixel, strict=True))
    for f, p, e in zip(full, pixel, extra, strict=True):
        assert e.abs().max() > 0
        torch.testing.assert_close(f - p, e, rtol=1e-3, atol=1e-6 * p.abs().max().item())
    assert all(q.grad is None for q in adm.parameters())


def test_training_leaves_the_diffusion_model_unchanged(tmp_path: Path) -> None:
    adm = tiny_adm()
    before = {k: v.clone() for k, v in adm.state_dict().items()}
    net = _Restorer()
    start = {k: v.clone() for k, v in net.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, 24, 24), generator=g, dtype=torch.uint8) for _ in range(4)]
    sampler = PatchSampler(
        [TaskImages("denoise", images[:2], images[2:])], crop=16, batch_per_task=2
    )
    config = TrainConfig(method="m", variant="v", steps=3, crop=16, lr=1e-2, checkpoint_every=3)
    _, history = fit(
        net, with_diffloss(l1_loss, DiffLoss(adm)), sampler, config, tmp_path, progress=False
    )
    assert len(history) == 3 and all(math.isfinite(x) for x in history)
    for key, value in adm.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not adm.training and all(not p.requires_grad for p in adm.parameters())
    assert any(not torch.equal(v, start[k]) for k, v in net.state_dict().items())


def test_the_restored_image_is_the_networks_first_output() -> None:
    clean = torch.zeros(1, 3, 4, 4)
    final, stage = torch.ones(1, 3, 4, 4), torch.full((1, 3, 4, 4), 2.0)
    assert restored_image([(final, stage)], clean) is final
    assert restored_image([final], clean) is final
    with pytest.raises(HarnessError, match="called it 2 times"):
        restored_image([final, final], clean)
    with pytest.raises(HarnessError, match=r"returned \(1, 3, 2, 2\)"):
        restored_image([torch.zeros(1, 3, 2, 2)], clean)


def _config(**changes) -> TrainConfig:
    return TrainConfig(method="m", variant="v", **{"crop": 16, **changes})


def test_the_default_objective_is_the_methods_own_unchanged() -> None:
    config = _config()
    assert config.loss == "l1"
    assert training_objective(config, l1_loss) == (config, l1_loss)


def test_diffloss_objective_records_the_weights_sha256(
    tiny_adm_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(objective, "ADM_CONFIG", TINY)
    config = _config(loss="l1+diffloss", diffusion_weights=str(tiny_adm_file))
    updated, loss_fn = training_objective(config, l1_loss)
    assert (
        updated.diffusion_weights_sha256 == hashlib.sha256(tiny_adm_file.read_bytes()).hexdigest()
    )
    assert loss_fn is not l1_loss
    pinned = config.model_copy(update={"diffusion_weights_sha256": "0" * 64})
    with pytest.raises(HarnessError, match="is not the one configured"):
        training_objective(pinned, l1_loss)


def test_diffloss_objective_needs_weights_and_a_fitting_crop(tiny_adm_file: Path) -> None:
    with pytest.raises(HarnessError, match="--diffusion-weights") as err:
        training_objective(_config(loss="l1+diffloss"), l1_loss)
    assert "256x256_diffusion_uncond.pt" in str(err.value)
    with pytest.raises(HarnessError, match="divisible by 32"):
        config = _config(loss="l1+diffloss", diffusion_weights=str(tiny_adm_file), crop=48)
        training_objective(config, l1_loss)
