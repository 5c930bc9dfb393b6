"""What DiffLoss adds to a training step: FLOPs of the full ADM (meta device, nothing allocated)
and CPU wall time of a tiny ADM of the same architecture; the numbers of docs/methods/diffloss.md.

Run: OMP_NUM_THREADS=1 .venv/bin/python scripts/diffloss_cost.py
"""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from harness.losses.adm_unet import ADM_256_UNCOND, ADM_TINY, ADMUNet
from harness.losses.diffloss import DiffLoss
from harness.losses.objective import with_diffloss
from harness.registry import method_class


def adm_flops(size: int, batch: int = 1) -> tuple[int, int]:
    """(forward FLOPs, FLOPs of the backward to the input) of the full ADM at ``size``, frozen."""
    with torch.device("meta"):
        adm = ADMUNet(ADM_256_UNCOND).requires_grad_(False)
        x = torch.zeros(batch, 3, size, size, requires_grad=True)
        t = torch.zeros(batch, dtype=torch.long)
    with FlopCounterMode(display=False) as forward:
        out, h = adm(x, t)
    loss = out.square().mean() + h.square().mean()
    with FlopCounterMode(display=False) as backward:
        loss.backward()
    return forward.get_total_flops(), backward.get_total_flops()


def step_seconds(loss_fn, network, cond, clean, steps: int = 5) -> float:
    """Median wall time of forward + backward of ``loss_fn`` (after one warm-up step)."""
    times = []
    for i in range(steps + 1):
        network.zero_grad(set_to_none=True)
        started = time.perf_counter()
        loss_fn(network, cond, clean, torch.Generator().manual_seed(i)).backward()
        times.append(time.perf_counter() - started)
    return sorted(times[1:])[steps // 2]


def main() -> None:
    """Print the FLOPs table and the CPU timings."""
    torch.set_num_threads(1)
    for size in (96, 256):
        fwd, bwd = adm_flops(size)
        print(
            f"full ADM, {size}x{size}, per image: forward {fwd / 1e9:.1f} GFLOPs, "
            f"backward to the input {bwd / 1e9:.1f} GFLOPs; DiffLoss step "
            f"(2 forwards + 1 backward) {(2 * fwd + bwd) / 1e9:.1f} GFLOPs, "
            f"--diffloss-upstream-nograd {2 * fwd / 1e9:.1f} GFLOPs"
        )
    cls = method_class("promptir")
    torch.manual_seed(0)
    network = cls.build_network("tiny").train()
    gen = torch.Generator().manual_seed(0)
    cond, clean = (
        torch.rand((5, 3, 96, 96), generator=gen),
        torch.rand((5, 3, 96, 96), generator=gen),
    )
    torch.manual_seed(0)
    adm = ADMUNet(ADM_TINY)
    with FlopCounterMode(display=False) as tiny:
        adm(cond[:1] * 2 - 1, torch.zeros(1, dtype=torch.long))
    base = step_seconds(cls.training_loss, network, cond, clean)
    full = step_seconds(with_diffloss(cls.training_loss, DiffLoss(adm)), network, cond, clean)
    nograd = with_diffloss(cls.training_loss, DiffLoss(adm, upstream_nograd=True))
    upstream = step_seconds(nograd, network, cond, clean)
    print(
        f"CPU, 1 thread, promptir tiny, batch 5 x 96x96, tiny ADM ({tiny.get_total_flops() / 1e9:.2f}"
        f" GFLOPs per image forward): l1 {base:.3f} s/step, l1+diffloss {full:.3f} s/step, "
        f"l1+diffloss upstream-nograd {upstream:.3f} s/step"
    )


if __name__ == "__main__":
    main()
