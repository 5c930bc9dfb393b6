"""DiffUIR's residual diffusion schedule with the shared distribution term (SDT).

From docs/methods/diffuir-spec.md, "Schedules" (Zheng et al., CVPR 2024;
repository iSEE-Laboratory/DiffUIR).
With gamma the DDPM linear cumulative product of (1 - beta), beta = linspace(1e-4, 0.02, 1000):

* alpha_bar = 1 - sqrt(gamma)        (residual weight; upstream buffer ``alphas_cumsum``)
* beta_bar  = sqrt(1 - gamma)        (noise std; upstream ``betas_cumsum``)
* delta_bar = clip(cumsum(linspace(1e-6, delta_end, 1000)), 0, 1)   (SDT; ``delta_cumsum``)

Forward process: x_t = x_0 + alpha_bar_t (x_in - x_0) + beta_bar_t eps - delta_bar_t x_in.
The network's time input is the float 1000 * alpha_bar_t, not the integer step.

Everything is built in float32 on the CPU (torch accumulates cumprod/cumsum in double there and
rounds each entry to float32), then moved with ``.to(device)``.
"""

from __future__ import annotations

import torch
from torch import nn

TIMESTEPS = 1000
DELTA_END = 1.8e-3
SUM_SCALE = 0.01
"""Variance of the sampler's initial noise (std 0.1)."""


class Schedule(nn.Module):
    """The float32 schedule tables (non-persistent buffers of length 1000)."""

    alpha_bar: torch.Tensor
    beta_bar: torch.Tensor
    beta_bar2: torch.Tensor
    delta: torch.Tensor
    delta_bar: torch.Tensor
    gamma: torch.Tensor

    def __init__(self, timesteps: int = TIMESTEPS, delta_end: float = DELTA_END) -> None:
        super().__init__()
        self.timesteps = timesteps
        self.delta_end = delta_end
        betas = torch.linspace(1e-4, 0.02, timesteps, dtype=torch.float32)
        gamma = torch.cumprod(1.0 - betas, dim=0)
        delta = torch.linspace(1e-6, delta_end, timesteps, dtype=torch.float32)
        tables = {
            "gamma": gamma,
            "alpha_bar": 1.0 - torch.sqrt(gamma),
            "beta_bar2": 1.0 - gamma,
            "beta_bar": torch.sqrt(1.0 - gamma),
            "delta": delta,
            "delta_bar": torch.clamp(torch.cumsum(delta, dim=0), 0.0, 1.0),
        }
        for name, table in tables.items():
            self.register_buffer(name, table, persistent=False)

    def time_input(self, t: torch.Tensor | int) -> torch.Tensor:
        """The network's time input 1000 * alpha_bar[t] (float32)."""
        index = torch.as_tensor(t, device=self.alpha_bar.device, dtype=torch.long)
        return 1000.0 * self.alpha_bar[index]

    def q_sample(
        self, x0: torch.Tensor, x_in: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """x_t of the forward process for clean ``x0``, condition ``x_in`` (both [-1, 1]), steps ``t`` [B]."""
        t = torch.as_tensor(t, device=self.alpha_bar.device, dtype=torch.long).reshape(-1)

        def at(table: torch.Tensor) -> torch.Tensor:
            return table[t].to(x0.dtype).reshape(-1, *([1] * (x0.dim() - 1)))

        residual = x_in - x0
        return (
            x0
            + at(self.alpha_bar) * residual
            + at(self.beta_bar) * noise
            - at(self.delta_bar) * x_in
        )


def step_pairs(steps: int, timesteps: int = TIMESTEPS) -> list[tuple[int, int]]:
    """(t, s) pairs of the deterministic sampler; s = -1 marks the last step (output x0_hat)."""
    if steps < 1 or steps > timesteps:
        raise ValueError(f"steps must be in 1..{timesteps}, got {steps}")
    times = torch.linspace(-1, timesteps - 1, steps + 1, dtype=torch.float32).int().tolist()
    times = times[::-1]
    return list(zip(times[:-1], times[1:], strict=True))
