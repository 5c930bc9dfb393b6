"""What determines a training run, kept free of torch so the CLI reads its defaults cheaply."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    """Everything that determines a training run; recorded in the checkpoint and weights manifest."""

    model_config = ConfigDict(extra="forbid")

    method: str
    variant: str
    train_suite: str = "mini-train"
    steps: int = Field(1000, ge=1)
    seed: int = 10
    crop: int = Field(96, ge=16)
    batch_per_task: int = Field(2, ge=1)
    task_batch: dict[str, int] = Field(default_factory=dict)
    """Per-task overrides of ``batch_per_task`` (e.g. {"deblur": 4}) for task-weighted batches."""
    init_weights_sha256: str | None = None
    """sha256 of the weights training started from (fine-tuning), or None for a fresh init."""
    lr: float = 8e-5
    lr_warmup_steps: int = Field(0, ge=0)
    """Linear warm-up from lr/warmup to lr over these steps (fresh Adam state when fine-tuning)."""
    lr_schedule: Literal["constant", "cosine"] = "constant"
    """After warm-up: keep lr, or decay it to 0 at ``steps`` along a half cosine."""
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    ema_beta: float = 0.995
    ema_update_every: int = 10
    ema_update_after_step: int = 100
    ema_power: float = 2 / 3
    checkpoint_every: int = 200
    device: str = "cpu"
    loss: Literal["l1", "l1+diffloss"] = "l1"
    """The method's own objective (L1 for the learned baselines), or that plus DiffLoss
    (harness/losses/diffloss.py: a frozen diffusion model's noise and h-space distances)."""
    diffusion_weights: str | None = None
    """DiffLoss's diffusion model file; it may move between resumed sessions, its sha256 may not."""
    diffusion_weights_sha256: str | None = None
    """sha256 of that file, filled in when it is loaded (None without DiffLoss)."""
    diffloss_upstream_nograd: bool = False
    """Evaluate DiffLoss's terms without gradient, as the official code does (they then train
    nothing); by default gradients flow through the frozen model, as the paper describes."""
