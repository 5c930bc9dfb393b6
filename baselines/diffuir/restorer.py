"""The DiffUIR restorer plugin (universal, blind image restoration by residual diffusion).

Zheng, Wang, Yu, Wang, Fan, Zhang, "Selective Hourglass Mapping for Universal Image Restoration
Based on Diffusion Model", CVPR 2024. Official code: iSEE-Laboratory/DiffUIR (MIT). Clean-room
re-implementation from docs/methods/diffuir-spec.md; it loads the official checkpoints unchanged.

Options (declared in ``DiffUIR.option_specs``):
* ``steps``: sampler steps (network calls per image). Default: 3, or 4 for batches carrying the
  ``udc-half-split`` flag (as the official UDC test does).
* ``ema``: load the EMA weights of an official training checkpoint (default True) or its raw ones.
* ``random_init``: build with seeded random weights instead of loading a file (complexity counts and
  tests only; recorded in the provenance).
* ``precision``: ``fp32`` (IEEE float32 on every device, the default), ``tf32`` (TensorFloat-32
  products and convolutions, CUDA only) or ``bf16`` (the network under bfloat16 autocast): opt-ins
  that move the numbers, named in the run's options (``harness.precision``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from baselines.diffuir.network import PAD_MULTIPLE, PARAMS, Unet, build_unet
from baselines.diffuir.preprocess import LOL_HISTEQ, UDC_HALF_SPLIT, apply_preprocess, width_tiles
from baselines.diffuir.sampler import DEFAULT_STEPS, batch_noise, sample
from baselines.diffuir.schedule import Schedule
from harness.errors import HarnessError
from harness.precision import DEFAULT_PRECISION, check_precision, network_precision
from harness.restorer import ImageBatch, Option, Restorer, training_setting_of

UDC_STEPS = 4
NOISE_RULE = (
    "per image on CPU: torch.Generator seeded with the first 8 bytes (big-endian, top bit cleared) "
    "of sha256(f'{seed}:{image_id}'), torch.randn([3, H, W]) float32; UDC tiles slice it"
)
RANDOM_INIT_SEED = 0


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no"}:
        return value.lower() in {"1", "true", "yes", "on"}
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise HarnessError(f"diffuir option {name} must be true or false, got {value!r}")


def _steps(value: Any) -> int | None:
    if value is None:
        return None
    try:
        steps = int(value)
    except (TypeError, ValueError):
        raise HarnessError(f"diffuir option steps must be an integer, got {value!r}") from None
    if not 1 <= steps <= 1000:
        raise HarnessError(f"diffuir option steps must be in 1..1000, got {steps}")
    return steps


class DiffUIR(Restorer):
    """DiffUIR: one conditional U-Net for all tasks, sampled in a few deterministic steps."""

    name = "diffuir"
    summary = "Universal restoration by residual diffusion with a shared distribution term."
    variants = ("t", "s", "b", "l")
    default_variant = "t"
    tasks = ("derain", "desnow", "dehaze", "deblur", "lowlight", "udc")
    blind = True
    paper = (
        "Zheng et al., Selective Hourglass Mapping for Universal Image Restoration Based on "
        "Diffusion Model, CVPR 2024"
    )
    repository = "https://github.com/iSEE-Laboratory/DiffUIR"
    license = "MIT"
    network_calls_per_image = DEFAULT_STEPS
    params: ClassVar[dict[str, int]] = dict(PARAMS)
    option_specs: ClassVar[dict[str, Option]] = {
        "steps": Option(
            int, None, f"sampler steps (default {DEFAULT_STEPS}; {UDC_STEPS} with {UDC_HALF_SPLIT})"
        ),
        "ema": Option(bool, True, "load the EMA weights of a training checkpoint (else raw ones)"),
        "random_init": Option(bool, False, "seeded random weights, no file (counts, tests)"),
        "precision": Option(
            str, DEFAULT_PRECISION, "fp32 (IEEE, default), tf32 (CUDA) or bf16 (autocast): opt-in"
        ),
    }

    def __init__(
        self,
        variant: str | None = None,
        weights: str | None = None,
        device: str = "cpu",
        **options: Any,
    ) -> None:
        super().__init__(variant, weights, device, **options)
        self.steps = _steps(options.get("steps"))
        self.ema = _flag(options.get("ema", True), "ema")
        self.random_init = _flag(options.get("random_init", False), "random_init")
        self.precision = check_precision(options.get("precision"), device)
        self.unet: Unet = self._build()
        self.unet.to(device).eval()
        self.schedule = Schedule().to(device)

    def _build(self) -> Unet:
        from baselines.diffuir.checkpoint import load_into, load_unet_weights

        if self.random_init:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_INIT_SEED)
                unet = build_unet(self.variant)
            self.weights_sha256: str | None = None
            self.weights_origin = f"random init (torch seed {RANDOM_INIT_SEED}): NOT trained"
            self.weights_entry: str | None = None
            self.weights_path: str | None = None
            return unet
        from harness.weights import resolve_weights

        resolved = resolve_weights(self.name, self.variant, self.weights)
        loaded = load_unet_weights(
            resolved.path,
            ema=self.ema,
            expected_sha256=resolved.sha256,
            source=resolved.entry.source if resolved.entry else None,
        )
        unet = build_unet(self.variant)
        load_into(unet, loaded, self.variant)
        self.weights_sha256 = loaded.sha256
        self.weights_origin = loaded.origin
        self.weights_entry = resolved.entry.name if resolved.entry else None
        self.weights_path = str(resolved.path)
        self.training_setting = training_setting_of(resolved.entry)
        return unet

    @classmethod
    def inspect_weights(cls, path: Path) -> str:
        """The variant of a DiffUIR checkpoint, checked strictly as loading its EMA weights does."""
        from baselines.diffuir.checkpoint import checkpoint_variant

        return checkpoint_variant(path)

    def module(self) -> Unet:
        """The U-Net (one network call per sampler step)."""
        return self.unet

    def calls_per_image(self) -> int:
        """Sampler steps (3 unless the ``steps`` option says otherwise)."""
        return self.steps or DEFAULT_STEPS

    def steps_for(self, preprocess: frozenset[str]) -> int:
        """Sampler steps for a batch with these flags (4 for UDC unless ``steps`` is given)."""
        if self.steps is not None:
            return self.steps
        return UDC_STEPS if UDC_HALF_SPLIT in preprocess else DEFAULT_STEPS

    def provenance(self) -> dict[str, Any]:
        """Method, variant, weights (file, sha256, EMA or raw), sampler steps and the noise rule."""
        info = super().provenance()
        info.update(
            weights=self.weights_path,
            weights_entry=self.weights_entry,
            weights_sha256=self.weights_sha256,
            weights_origin=self.weights_origin,
            random_init=self.random_init,
            steps=self.steps or f"{DEFAULT_STEPS} ({UDC_STEPS} with {UDC_HALF_SPLIT})",
            noise=NOISE_RULE,
            precision=self.precision,
            deviation="initial noise drawn per image on CPU (docs/methods/diffuir-spec.md, quirk Q9)",
        )
        return info

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        """Restore a batch: apply known flags, sample each width tile, stitch back."""
        images = batch.images
        if images.dim() != 4 or images.shape[1] != 3:
            raise HarnessError(f"diffuir expects [B, 3, H, W] images, got {tuple(images.shape)}")
        device = next(self.unet.parameters()).device
        x = images.to(device=device, dtype=torch.float32)
        if LOL_HISTEQ in batch.preprocess:
            x = _equalize_batch(x)
        steps = self.steps_for(batch.preprocess)
        _, _, height, width = x.shape
        noise = batch_noise(batch.seed, batch.ids, (3, height, width)).to(device)
        tiles = width_tiles(width) if UDC_HALF_SPLIT in batch.preprocess else [(0, width)]
        if self.unet.training:
            self.unet.eval()
        with torch.inference_mode(), network_precision(self.precision, device.type):
            parts = [self._sample(x[..., a:b], noise[..., a:b], steps) for a, b in tiles]
            out = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        return out.clone().to(images.device)

    def _sample(self, x: torch.Tensor, noise: torch.Tensor, steps: int) -> torch.Tensor:
        """Sample one tile; images too small for the network's reflect pad are edge-padded first."""
        height, width = x.shape[-2:]
        pad_h = PAD_MULTIPLE - height if height < PAD_MULTIPLE else 0
        pad_w = PAD_MULTIPLE - width if width < PAD_MULTIPLE else 0
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
            noise = F.pad(noise, (0, pad_w, 0, pad_h), mode="replicate")
        out = sample(self.unet, self.schedule, x, noise, steps=steps)
        return out[..., :height, :width]

    @classmethod
    def train(
        cls,
        config: Any,
        out: str | Path,
        data_root: str | Path,
        *,
        resume: bool = True,
        progress: bool = True,
        init_weights: Path | None = None,
    ) -> Path:
        """Train DiffUIR (see ``baselines.diffuir.training``); return the written weights file."""
        from baselines.diffuir.training import train_diffuir

        return train_diffuir(
            config,
            Path(out),
            Path(data_root),
            resume=resume,
            progress=progress,
            init_weights=init_weights,
        )


def _equalize_batch(x: torch.Tensor) -> torch.Tensor:
    """Per-channel histogram equalisation (``lol-histeq``) of each image, via exact uint8 values."""
    from harness.images import to_tensor, to_uint8

    out = []
    for image in x:
        equalized = apply_preprocess(to_uint8(image.cpu()), frozenset({LOL_HISTEQ}))
        out.append(to_tensor(np.ascontiguousarray(equalized)))
    return torch.stack(out).to(x.device)
