"""Residual schedule with the shared distribution term: values from docs/methods/diffuir-spec.md."""

from __future__ import annotations

import pytest
import torch

from baselines.diffuir.schedule import Schedule, step_pairs


def test_published_time_inputs() -> None:
    sched = Schedule()
    assert sched.timesteps == 1000
    expected = {999: 993.647156, 665: 894.486755, 332: 433.621399}
    expected |= {749: 942.116089, 499: 719.665894, 249: 276.062622}
    for t, tau in expected.items():
        assert sched.time_input(t).item() == pytest.approx(tau, abs=2e-6)


def test_useful_values_and_dtypes() -> None:
    sched = Schedule()
    for name in ("alpha_bar", "beta_bar", "delta_bar", "gamma"):
        table = getattr(sched, name)
        assert table.dtype == torch.float32 and table.shape == (1000,)
    assert sched.alpha_bar[999].item() == pytest.approx(0.99364716, abs=1e-7)
    assert sched.beta_bar[999].item() == pytest.approx(0.99997985, abs=1e-7)
    assert sched.gamma[999].item() == pytest.approx(4.0358e-5, rel=1e-4)
    assert 1 - sched.delta_bar[999].item() == pytest.approx(0.0995, abs=1e-4)


def test_step_lists() -> None:
    assert step_pairs(3) == [(999, 665), (665, 332), (332, -1)]
    assert step_pairs(4) == [(999, 749), (749, 499), (499, 249), (249, -1)]
    with pytest.raises(ValueError):
        step_pairs(0)


@pytest.mark.parametrize(
    ("steps", "table"),
    [
        (3, [(0.0991604, 0.5010557), (0.4608654, 0.2995667)]),
        (4, [(0.0515311, 0.3939501), (0.2224502, 0.2814000), (0.4436033, 0.1688500)]),
    ],
)
def test_worked_coefficients(steps: int, table: list[tuple[float, float]]) -> None:
    sched = Schedule()
    pairs = step_pairs(steps)[:-1]
    for (t, s), (d_alpha, d_delta) in zip(pairs, table, strict=True):
        assert (sched.alpha_bar[t] - sched.alpha_bar[s]).item() == pytest.approx(d_alpha, abs=2e-7)
        assert (sched.delta_bar[t] - sched.delta_bar[s]).item() == pytest.approx(d_delta, abs=2e-7)


def test_q_sample_is_the_sdt_forward_process() -> None:
    sched = Schedule()
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(2, 3, 4, 5, generator=gen) * 2 - 1
    x_in = torch.rand(2, 3, 4, 5, generator=gen) * 2 - 1
    eps = torch.randn(2, 3, 4, 5, generator=gen)
    t = torch.tensor([999, 10])
    out = sched.q_sample(x0, x_in, t, eps)
    for i, step in enumerate(t.tolist()):
        gamma = 1.0
        for k in range(step + 1):  # DDPM linear betas, accumulated in float64 here
            gamma *= 1 - (1e-4 + (0.02 - 1e-4) * k / 999)
        a, b = 1 - gamma**0.5, (1 - gamma) ** 0.5
        d = sum(1e-6 + (1.8e-3 - 1e-6) * k / 999 for k in range(step + 1))
        want = (1 - a) * x0[i] + (a - d) * x_in[i] + b * eps[i]
        assert (out[i] - want).abs().max().item() < 1e-5
    # at t = 999 the condition keeps only 0.093 of its weight (spec 3.2)
    coeff = (sched.alpha_bar[999] - sched.delta_bar[999]).item()
    assert coeff == pytest.approx(0.093, abs=1e-3)


def test_schedule_moves_with_to() -> None:
    sched = Schedule().to("cpu", torch.float32)
    assert sched.alpha_bar.device.type == "cpu"
    assert not list(sched.state_dict())  # tables are recomputed, never saved
