"""The shared life of a learned baseline: one network, loaded from a checkpoint, run padded.

:class:`LearnedRestorer` does what every checkpoint-loading plugin does the same way:

1. resolve the weights file (:func:`harness.weights.resolve_weights`: a manifest entry, a user
   entry or a path; pinned sha256 checked), or build seeded random weights with
   ``random_init=true`` (complexity counts and tests; recorded as untrained);
2. read it safely and take the state_dict out with the method's :class:`CheckpointLayout`
   (container, key prefixes, training-only keys set aside and counted);
3. check keys and shapes strictly (another method's checkpoint is refused by name) and load;
4. restore: pad to the method's multiple (reflect, or replicate where the official test does),
   run the network, crop back, clamp to [0, 1].

A plugin declares ``name``, ``variants``, ``signature`` (its name in
:data:`harness.checkpoints.KNOWN_SIGNATURES`), ``checkpoint_layout``, ``pad_multiple`` and
:meth:`build_network`; it overrides :meth:`forward` when the network needs more than the image
(an instruction) or returns more than one tensor.

Task-specific methods (one checkpoint per task, ``blind = False``) may declare ``routes``: a
routed variant loads the checkpoint of every task it routes and restores each batch with the
network its ``task`` names (``--weights derain=FILE,deblur=FILE`` picks the files).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from harness.checkpoints import (
    AdaptedState,
    CheckpointLayout,
    CheckpointMismatchError,
    check_state,
    read_state_dict,
)
from harness.errors import HarnessError
from harness.padding import crop_to, pad_to_multiple
from harness.restorer import ImageBatch, Option, Restorer, training_setting_of

if TYPE_CHECKING:
    import torch
    from torch import nn

    from harness.train_config import TrainConfig

RANDOM_INIT_SEED = 0
RANDOM_INIT = Option(bool, False, "seeded random weights, no file (complexity counts, tests)")


def as_flag(value: Any, name: str, method: str) -> bool:
    """An option given as a bool, 0/1 or a true/false word (``--option`` values are typed)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    words = {"1": True, "true": True, "yes": True, "on": True}
    words.update({"0": False, "false": False, "no": False, "off": False})
    if isinstance(value, str) and value.lower() in words:
        return words[value.lower()]
    raise HarnessError(f"{method} option {name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class LoadedNetwork:
    """One network and where its weights came from (None fields: seeded random weights)."""

    network: nn.Module
    path: str | None = None
    sha256: str | None = None
    entry: str | None = None
    setting: dict[str, Any] | None = None
    params_stored: int | None = None


class LearnedRestorer(Restorer):
    """A restorer around one ``nn.Module`` whose weights come from an (official) checkpoint."""

    signature: ClassVar[str]
    """The method's name in ``KNOWN_SIGNATURES`` (e.g. ``PromptIR``), used in messages."""
    checkpoint_layout: ClassVar[CheckpointLayout] = CheckpointLayout()
    pad_multiple: ClassVar[int] = 1
    """Inputs are reflect-padded at the bottom/right to a multiple of this, outputs cropped back."""
    pad_mode: ClassVar[Literal["reflect", "replicate"]] = "reflect"
    """How the padding is filled, as the official test fills it (see :mod:`harness.padding`)."""
    checkpoint_params: ClassVar[dict[str, int]] = {}
    """Parameters the official checkpoint of a variant stores when it holds more than inference
    uses (training-only keys); reported when no file is loaded (``random_init``)."""
    option_specs: ClassVar[dict[str, Option]] = {"random_init": RANDOM_INIT}

    def __init__(
        self,
        variant: str | None = None,
        weights: str | None = None,
        device: str = "cpu",
        **options: Any,
    ) -> None:
        super().__init__(variant, weights, device, **options)
        self.random_init = as_flag(options.get("random_init", False), "random_init", self.name)
        self.weights_path: str | None = None
        self.weights_sha256: str | None = None
        self.weights_entry: str | None = None
        self.params_stored: int | None = None
        self.routed: dict[str, LoadedNetwork] = {}
        if self.variant in self.routes:
            self.network = self._build_routed().to(device).eval()
        else:
            loaded = self._load(self.variant, self.weights)
            self.weights_path, self.weights_sha256 = loaded.path, loaded.sha256
            self.weights_entry, self.training_setting = loaded.entry, loaded.setting
            self.params_stored = loaded.params_stored
            self.network = loaded.network.to(device).eval()

    @classmethod
    @abstractmethod
    def build_network(cls, variant: str) -> nn.Module:
        """A freshly initialised network of ``variant`` (called under ``torch.device('meta')`` to
        read expected keys and shapes, so it must not touch data)."""

    def _load(self, variant: str, weights: str | None) -> LoadedNetwork:
        """The network of a single-checkpoint ``variant`` with its weights (or seeded random ones)."""
        import torch

        if self.random_init:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_INIT_SEED)
                return LoadedNetwork(self.build_network(variant))
        from harness.weights import resolve_weights

        resolved = resolve_weights(self.name, variant, weights)
        entry = resolved.entry
        adapted, sha = read_state_dict(
            resolved.path,
            self.checkpoint_layout,
            expected_sha256=resolved.sha256,
            source=entry.source if entry else None,
        )
        network = self.build_network(variant)
        self.check(network, adapted, variant, str(resolved.path))
        network.load_state_dict(adapted.state, strict=True)
        used = sum(int(v.numel()) for v in network.parameters())
        return LoadedNetwork(
            network,
            path=str(resolved.path),
            sha256=sha,
            entry=entry.name if entry else None,
            setting=training_setting_of(entry),
            params_stored=used + self.checkpoint_layout.stored_parameters(adapted.dropped),
        )

    def _route_weights(self) -> dict[str, str | None]:
        """Per routed task, the weights given (``derain=FILE,deblur=NAME``) or None (default)."""
        route = self.routes[self.variant]
        chosen: dict[str, str | None] = dict.fromkeys(route)
        if self.weights is None or self.random_init:
            return chosen
        example = ",".join(f"{task}=FILE" for task in route)
        for part in str(self.weights).split(","):
            task, sep, value = part.partition("=")
            task, value = task.strip(), value.strip()
            if not sep or not value:
                raise HarnessError(
                    f"{self.name} variant {self.variant} loads one checkpoint per task; "
                    f"--weights {self.weights!r} does not say which task a file is for",
                    hint=f"pass --weights {example} (any task left out uses its default file), "
                    f"or run one checkpoint with --variant {' or --variant '.join(route.values())}",
                )
            if task not in route:
                raise HarnessError(
                    f"{self.name} variant {self.variant} routes no task {task!r}",
                    hint=f"it routes {', '.join(route)}: --weights {example}",
                )
            chosen[task] = value
        return chosen

    def _build_routed(self) -> nn.Module:
        """One network per routed task; provenance records every file and its sha256."""
        from torch import nn

        route = self.routes[self.variant]
        weights = self._route_weights()
        self.routed = {task: self._load(variant, weights[task]) for task, variant in route.items()}
        if not self.random_init:
            self.weights_path = ",".join(f"{t}={n.path}" for t, n in self.routed.items())
            self.weights_sha256 = ",".join(f"{t}={n.sha256}" for t, n in self.routed.items())
            if any(n.entry for n in self.routed.values()):
                self.weights_entry = ",".join(f"{t}={n.entry}" for t, n in self.routed.items())
            self.params_stored = sum(n.params_stored or 0 for n in self.routed.values())
            self.training_setting = self.routed_setting()
        return nn.ModuleDict({task: loaded.network for task, loaded in self.routed.items()})

    def routed_setting(self) -> dict[str, Any]:
        """The union of the routed checkpoints' settings (each at least its own task), labelled."""
        tasks: list[str] = []
        datasets: list[str] = []
        for task, loaded in self.routed.items():
            setting = loaded.setting or {}
            for name in (task, *setting.get("tasks", ())):
                tasks += [name] if name not in tasks else []
            datasets += [d for d in setting.get("datasets", ()) if d not in datasets]
        parts = ", ".join(
            f"{task} -> {loaded.entry or self.routes[self.variant][task]}"
            for task, loaded in self.routed.items()
        )
        return {"tasks": tasks, "datasets": datasets, "label": f"task-routed ({parts})"}

    @classmethod
    def check(cls, network: nn.Module, adapted: AdaptedState, variant: str, label: str) -> None:
        """Raise CheckpointMismatchError unless ``adapted`` fits ``network`` of ``variant``."""
        check_state(
            network.state_dict(),
            adapted.state,
            method=cls.signature,
            what=f"{cls.signature} ({variant})",
            label=label,
            hint=f"pass an official {cls.signature} checkpoint ({cls.name} variants: "
            f"{', '.join(cls.variants)})",
        )

    @classmethod
    def inspect_weights(cls, path: Path) -> str | None:
        """The variant whose network the checkpoint fits, checked strictly as loading does.

        None when several single-checkpoint variants share the architecture (the file does not
        tell which it is); routed variants hold no single checkpoint and are not candidates.
        """
        import torch

        adapted, _ = read_state_dict(path, cls.checkpoint_layout)
        first_error: CheckpointMismatchError | None = None
        fits: list[str] = []
        for variant in cls.variants:
            if variant in cls.routes:
                continue
            with torch.device("meta"):
                network = cls.build_network(variant)
            try:
                cls.check(network, adapted, variant, str(path))
            except CheckpointMismatchError as exc:
                first_error = first_error or exc
                continue
            fits.append(variant)
        if len(fits) == 1:
            return fits[0]
        if fits:
            return None
        assert first_error is not None
        raise first_error

    @classmethod
    def training_loss(
        cls, network: nn.Module, degraded: torch.Tensor, clean: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor:
        """The training objective on a batch of crops: L1 between output and clean image."""
        return (network(degraded) - clean).abs().mean()

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
        """Train ``config.variant`` with :meth:`training_loss` (optionally from ``init_weights``),
        plus DiffLoss when ``config.loss`` asks for it (:mod:`harness.losses.objective`).

        Crops must be a multiple of ``pad_multiple`` (no padding at training time). Writes
        ``<out>/<name>-<variant>.safetensors`` (EMA weights, a plain state_dict) and returns it.
        """
        import torch

        from harness.losses.objective import training_objective
        from harness.training import train_supervised

        if config.variant in cls.routes:
            singles = " or --variant ".join(dict.fromkeys(cls.routes[config.variant].values()))
            raise HarnessError(
                f"{cls.name} variant {config.variant} routes several checkpoints by task; "
                "train one of them",
                hint=f"train --variant {singles}",
            )
        if config.crop % cls.pad_multiple:
            raise HarnessError(
                f"{cls.name} needs crops divisible by {cls.pad_multiple}; got --crop {config.crop}",
                hint=f"use --crop {config.crop - config.crop % cls.pad_multiple or cls.pad_multiple}",
            )
        torch.manual_seed(config.seed)  # the initial weights
        network = cls.build_network(config.variant)
        if init_weights is not None:
            adapted, sha = read_state_dict(init_weights, cls.checkpoint_layout)
            if config.init_weights_sha256 not in (None, sha):
                raise HarnessError(f"{init_weights}: sha256 {sha} is not the one configured")
            config = config.model_copy(update={"init_weights_sha256": sha})
            cls.check(network, adapted, config.variant, str(init_weights))
            network.load_state_dict(adapted.state, strict=True)
        config, loss_fn = training_objective(config, cls.training_loss)
        return train_supervised(
            network,
            config,
            Path(out),
            Path(data_root),
            name=f"{cls.name}-{config.variant}",
            loss_fn=loss_fn,
            resume=resume,
            progress=progress,
        )

    def module(self) -> nn.Module:
        """The network (one call per image); a routed variant's networks, one per task."""
        return self.network

    def network_for(self, batch: ImageBatch) -> nn.Module:
        """The network that restores ``batch``: the only one, or the one its task routes to."""
        if not self.routed:
            return self.network
        if batch.task in self.routed:
            return self.network[batch.task]
        route = ", ".join(f"{t} -> {v}" for t, v in self.routes[self.variant].items())
        singles = " or --variant ".join(v for v in self.variants if v not in self.routes)
        if batch.task is None:
            raise HarnessError(
                f"{self.name} variant {self.variant} picks its checkpoint by the batch's task, "
                f"and no task was given (routes: {route})",
                hint=f"measure or run one checkpoint instead: --variant {singles}",
            )
        raise HarnessError(
            f"{self.name} variant {self.variant} routes each batch by its task and has no "
            f"checkpoint for task {batch.task!r} (routes: {route})",
            hint=f"run it on {', '.join(self.routed)} benchmarks, or pick one checkpoint for every "
            f"benchmark with --variant {singles} (out of its setting)",
        )

    def forward(self, images: torch.Tensor, batch: ImageBatch) -> torch.Tensor:
        """The batch's network on padded images (override for extra inputs or several outputs)."""
        return self.network_for(batch)(images)

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        """Pad to the method's multiple, run, crop back, clamp to [0, 1]."""
        import torch

        images = batch.images
        if images.dim() != 4 or images.shape[1] != 3:
            raise HarnessError(
                f"{self.name} expects [B, 3, H, W] images, got {tuple(images.shape)}"
            )
        device = next(self.network.parameters()).device
        x = images.to(device=device, dtype=torch.float32)
        height, width = x.shape[-2:]
        with torch.inference_mode():
            out = self.forward(pad_to_multiple(x, self.pad_multiple, self.pad_mode), batch)
            out = crop_to(out, height, width).clamp(0.0, 1.0)
        return out.to(images.device)

    def params_detail(self) -> dict[str, int]:
        """Parameters used at inference and stored in the checkpoint (loaded, else declared)."""
        detail = {"used at inference": sum(int(p.numel()) for p in self.network.parameters())}
        stored = self.params_stored or self.checkpoint_params.get(self.variant)
        if stored is not None:
            detail["stored in the checkpoint"] = stored
        return detail

    def provenance(self) -> dict[str, Any]:
        """Method, variant, weights file and sha256, training setting, parameters stored/used."""
        info = super().provenance()
        info.update(
            weights=self.weights_path,
            weights_entry=self.weights_entry,
            weights_sha256=self.weights_sha256,
            random_init=self.random_init,
            params_stored=self.params_stored,
            pad=f"{self.pad_mode} to a multiple of {self.pad_multiple}, cropped back"
            if self.pad_multiple > 1
            else "none (the network takes any size)",
        )
        if self.routed:
            info["routes"] = {
                task: {
                    "variant": self.routes[self.variant][task],
                    "weights": loaded.path,
                    "weights_entry": loaded.entry,
                    "weights_sha256": loaded.sha256,
                    "training_setting": loaded.setting,
                }
                for task, loaded in self.routed.items()
            }
        return info
