"""The Restorer plugin interface: what every method (learned or classical) provides.

A restorer takes a batch of degraded images in [0, 1] and returns restored images in [0, 1].
Universal ("blind") methods never see the task label: the runner passes ``task=None`` to them.
Benchmark-level preprocessing flags (e.g. DiffUIR's LOL histogram equalisation) are not task labels
and reach every method; a method applies the ones it knows.

What the CLI needs to know about a method without building it is declared on the class:
``params`` (parameter count per variant, for listings), ``option_specs`` (the keyword options it
accepts), ``loads_weights`` (False refuses ``weights=``) and, for methods that load weights,
``inspect_weights`` (``harness weights add`` validates a file with it before recording it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

    from harness.training import TrainConfig
    from harness.weights.schema import WeightsEntry


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


def training_setting_of(entry: WeightsEntry | None) -> dict[str, Any] | None:
    """The training setting a weights entry declares, as runs record it (None: not declared)."""
    if entry is None or entry.setting is None:
        return None
    return entry.setting.model_dump(mode="json")


@dataclass(frozen=True)
class Option:
    """One keyword option a method accepts: its type, its default and a line of help."""

    type: type
    default: Any
    help: str


class Restorer(ABC):
    """Base class of every method plugin (entry-point group ``harness.methods``)."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    variants: ClassVar[tuple[str, ...]] = ("default",)
    default_variant: ClassVar[str] = "default"
    presets: ClassVar[Mapping[str, str]] = {}
    """Reduced-size variants for training on small budgets (``harness train --preset``): name ->
    one line describing it. Every preset is also one of ``variants``."""
    tasks: ClassVar[tuple[str, ...]] = ()
    blind: ClassVar[bool] = True
    """True when the method restores without being told the task (universal setting)."""
    paper: ClassVar[str] = ""
    repository: ClassVar[str] = ""
    license: ClassVar[str] = ""
    network_calls_per_image: ClassVar[int] = 1
    params: ClassVar[Mapping[str, int]] = {}
    """Parameter count per variant, for listings without building the network (empty: unknown)."""
    option_specs: ClassVar[Mapping[str, Option]] = {}
    """The keyword options ``__init__`` accepts; any other option is refused."""
    loads_weights: ClassVar[bool] = True
    """False for methods without learned weights: passing ``weights`` to them is an error."""
    routes: ClassVar[Mapping[str, Mapping[str, str]]] = {}
    """Task-routed variants: variant -> {task: the single-checkpoint variant that restores it}
    (see :class:`harness.learned_restorer.LearnedRestorer`); such a variant holds no single file."""
    flops_not_counted: ClassVar[tuple[str, ...]] = ()
    """Operations of the method whose FLOPs ``torch.utils.flop_counter`` does not count (custom
    ops such as torchvision's deformable convolution), one line each; ``harness complexity``
    prints and records them."""

    def __init__(
        self,
        variant: str | None = None,
        weights: str | None = None,
        device: str = "cpu",
        **options: Any,
    ) -> None:
        from harness.errors import HarnessError, UnknownNameError

        self.variant = variant or self.default_variant
        self.training_setting: dict[str, Any] | None = None
        """The tasks/data the loaded checkpoint was trained on (None: not declared)."""
        if self.variant not in self.variants:
            raise UnknownNameError(f"{self.name} variant", self.variant, self.variants)
        if weights is not None and not self.loads_weights:
            raise HarnessError(
                f"method {self.name!r} loads no weights, but weights {str(weights)!r} were given",
                hint="drop --weights",
            )
        unknown = sorted(set(options) - set(self.option_specs))
        if unknown:
            raise HarnessError(
                f"unknown {self.name} option(s): {', '.join(unknown)}",
                hint=f"{self.name} options: {', '.join(self.option_specs) or '(none)'}",
            )
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

    def params_detail(self) -> dict[str, int]:
        """Parameter counts beyond ``module()``'s, by what they count (e.g. "stored in the
        checkpoint", an auxiliary text encoder), for ``harness complexity``; empty when none."""
        return {}

    @classmethod
    def inspect_weights(cls, path: Path) -> str | None:
        """Check that ``path`` is a checkpoint this method loads; return the variant it holds.

        ``harness weights add`` calls this before recording a file, so a file that would fail to
        load is refused when it is added. Implementations load the file safely (through
        :func:`harness.checkpoints.load_checkpoint`), check it as loading does and raise a
        HarnessError saying what the file is instead (another method's checkpoint, another
        architecture, not a checkpoint). Return None when the file does not tell its variant.
        The default only loads the file safely and cannot tell the variant.
        """
        from harness.checkpoints import load_checkpoint

        load_checkpoint(path)
        return None

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
            "training_setting": self.training_setting,
            "options": {k: v for k, v in self.options.items() if isinstance(v, int | float | str)},
        }
