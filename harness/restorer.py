"""The Restorer plugin interface: what every method (learned or classical) provides.

A restorer takes a batch of degraded images in [0, 1] and returns restored images in [0, 1].
Universal ("blind") methods never see the task label: the runner passes ``task=None`` to them.
Benchmark-level preprocessing flags (e.g. DiffUIR's LOL histogram equalisation) are not task labels
and reach every method; a method applies the ones it knows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

    from harness.training import TrainConfig


@dataclass(frozen=True)
class ImageBatch:
    """One batch handed to a restorer: same-size images plus what identifies them."""

    images: torch.Tensor
    """float32 tensor [B, 3, H, W] in [0, 1], on the restorer's device."""
    ids: tuple[str, ...]
    """Stable image ids (unique within the benchmark); seeds derive from them, never from order."""
    benchmark: str | None = None
    task: str | None = None
    """The task label, or None for blind methods (the runner withholds it)."""
    preprocess: frozenset[str] = field(default_factory=frozenset)
    """Benchmark preprocessing flags a method may honour, e.g. ``{"lol-histeq"}``."""
    seed: int = 0


class Restorer(ABC):
    """Base class of every method plugin (entry-point group ``harness.methods``)."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    variants: ClassVar[tuple[str, ...]] = ("default",)
    default_variant: ClassVar[str] = "default"
    tasks: ClassVar[tuple[str, ...]] = ()
    blind: ClassVar[bool] = True
    """True when the method restores without being told the task (universal setting)."""
    paper: ClassVar[str] = ""
    repository: ClassVar[str] = ""
    license: ClassVar[str] = ""
    network_calls_per_image: ClassVar[int] = 1

    def __init__(
        self,
        variant: str | None = None,
        weights: str | None = None,
        device: str = "cpu",
        **options: Any,
    ) -> None:
        from harness.errors import UnknownNameError

        self.variant = variant or self.default_variant
        if self.variant not in self.variants:
            raise UnknownNameError(f"{self.name} variant", self.variant, self.variants)
        self.weights = weights
        self.device = device
        self.options = options

    @abstractmethod
    def restore(self, batch: ImageBatch) -> torch.Tensor:
        """Restore ``batch.images``; return a float32 tensor of the same shape in [0, 1]."""

    def module(self) -> nn.Module | None:
        """The network, for parameter and FLOP counts; None for methods without one."""
        return None

    def calls_per_image(self) -> int:
        """How many network evaluations one image costs (a diffusion sampler: its step count)."""
        return self.network_calls_per_image

    @classmethod
    def train(
        cls,
        config: TrainConfig,
        out: Path,
        data_root: Path,
        *,
        resume: bool = True,
        progress: bool = True,
        init_weights: Path | None = None,
    ) -> Path:
        """Train this method from ``config`` (optionally from ``init_weights``); return the weights."""
        from harness.errors import HarnessError

        raise HarnessError(f"method {cls.name!r} cannot be trained by the harness")

    def provenance(self) -> dict[str, Any]:
        """What a run records about this restorer: name, variant, weights and their sha256."""
        return {
            "method": self.name,
            "variant": self.variant,
            "weights": self.weights,
            "weights_sha256": None,
            "options": {k: v for k, v in self.options.items() if isinstance(v, int | float | str)},
        }
