"""The Perceive-IR restorer plugin (blind all-in-one restoration guided by DINOv2 semantics).

Zhang, Ma, Wang, Zhang, Zhang, Zhang, "Perceive-IR: Learning to Perceive Degradation Better for
All-in-One Image Restoration", IEEE TIP 2025 (arXiv:2408.15994); official code
House-yuyu/Perceive-IR (Apache-2.0), the rewritten release under ``src/perceiveIR/``. The network
is this project's clean-room module (:mod:`baselines.perceive_ir.network`); the released
checkpoints load unchanged (``ckpt['model']``). The frozen DINOv2-base that supplies the semantic
vectors runs through ``transformers`` from a local folder (:mod:`baselines.perceive_ir.semantics`).
See docs/methods/perceive-ir.md.

Variants: ``5task`` and ``3task``, one architecture (33,901,111 parameters): the variant picks the
default weights entry and the training setting recorded with the results. As the official test:
the input is replicate-padded at the bottom and right to a multiple of 8, DINOv2 sees the padded
image, the output is cropped back and clamped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from baselines.perceive_ir.network import PARAMETERS, SEMANTIC_DIM, PerceiveIR
from baselines.perceive_ir.semantics import (
    DINOV2_FILES,
    DINOV2_SOURCE,
    EXTRA_HINT,
    SEMANTIC_LAYERS,
    DinoSemantics,
    fixed_semantics,
)
from harness.checkpoints import CheckpointLayout, adapt_state_dict, load_checkpoint
from harness.errors import HarnessError, MissingFileError
from harness.learned_restorer import (
    RANDOM_INIT,
    RANDOM_INIT_SEED,
    LearnedRestorer,
    LoadedNetwork,
)
from harness.restorer import ImageBatch, Option

if TYPE_CHECKING:
    import torch
    from torch import nn

    from harness.train_config import TrainConfig

ENCODER_FOLDER = "dinov2-base"
SETTING_TASKS: dict[frozenset[str], str] = {
    frozenset({"denoise", "dehaze", "derain"}): "3task",
    frozenset({"denoise", "dehaze", "derain", "deblur", "lowlight"}): "5task",
}
"""The release's ``config['data']['tasks']`` of each setting (its two training configurations)."""


def default_encoder_dir() -> Path:
    """Where the DINOv2 folder is looked for when no ``dinov2`` option is given."""
    from harness.weights import weights_dir

    return weights_dir() / "perceive-ir" / ENCODER_FOLDER


def variant_of(content: dict[str, Any]) -> str | None:
    """The variant a released checkpoint's embedded training configuration names (None: none)."""
    config = content.get("config")
    data = config.get("data") if isinstance(config, dict) else None
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, list | tuple):
        return None
    return SETTING_TASKS.get(frozenset(str(t) for t in tasks))


class PerceiveIRRestorer(LearnedRestorer):
    """Perceive-IR: a Restormer U-Net guided by DINOv2 class tokens and a degradation vector."""

    name = "perceive-ir"
    summary = (
        "Blind all-in-one restoration: a Restormer U-Net guided by DINOv2 semantics and a learned "
        "degradation vector."
    )
    variants = ("5task", "3task")
    default_variant = "5task"
    tasks = ("derain", "dehaze", "deblur", "lowlight")
    blind = True
    paper = (
        "Zhang et al., Perceive-IR: Learning to Perceive Degradation Better for All-in-One Image "
        "Restoration, IEEE TIP 2025"
    )
    repository = "https://github.com/House-yuyu/Perceive-IR"
    license = "Apache-2.0"
    params: ClassVar[dict[str, int]] = {"5task": PARAMETERS, "3task": PARAMETERS}
    signature = "Perceive-IR"
    checkpoint_layout = CheckpointLayout(containers=("model",))
    pad_multiple = 8
    pad_mode = "replicate"
    option_specs: ClassVar[dict[str, Option]] = {
        "random_init": RANDOM_INIT,
        "dinov2": Option(
            str,
            None,
            f"folder of the frozen DINOv2-base encoder ({DINOV2_FILES}; default <weights dir>/"
            f"perceive-ir/{ENCODER_FOLDER})",
        ),
    }
    flops_not_counted: ClassVar[tuple[str, ...]] = (
        "the frozen DINOv2 encoder: one pass per image on a 224x224 resize (the same cost at "
        "every image size), outside the counted network",
    )

    def __init__(
        self,
        variant: str | None = None,
        weights: str | None = None,
        device: str = "cpu",
        **options: Any,
    ) -> None:
        self.semantics: DinoSemantics | None = None
        super().__init__(variant, weights, device, **options)
        if self.semantics is not None:
            self.semantics.to(device)

    @classmethod
    def build_network(cls, variant: str) -> nn.Module:
        """The released configuration; both variants share it (they differ in training data)."""
        return PerceiveIR()

    def _load(self, variant: str, weights: str | None) -> LoadedNetwork:
        """The checkpoint (its errors first), then the encoder, whose width must be the network's.

        With ``random_init`` the network is built for the encoder's width (a tiny test encoder),
        and without any encoder folder fixed vectors stand in for the semantics.
        """
        import torch

        if not self.random_init:
            loaded = super()._load(variant, weights)
            self.semantics = self._encoder(self.options.get("dinov2"))
            assert self.semantics is not None
            if self.semantics.dim != SEMANTIC_DIM:
                raise HarnessError(
                    f"{self.semantics.folder}: the encoder gives {self.semantics.dim}-d class "
                    f"tokens; the Perceive-IR checkpoint takes {SEMANTIC_DIM}-d ones (DINOv2-base)",
                    hint=f"pass --option dinov2=FOLDER with {DINOV2_FILES} of {DINOV2_SOURCE}",
                )
            return loaded
        self.semantics = self._encoder(self.options.get("dinov2"))
        width = self.semantics.dim if self.semantics is not None else SEMANTIC_DIM
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            return LoadedNetwork(PerceiveIR(semantic_dim=width))

    def _encoder(self, choice: str | None) -> DinoSemantics | None:
        folder = Path(choice).expanduser() if choice else default_encoder_dir()
        if not folder.is_dir():
            if self.random_init and choice is None:
                return None  # fixed vectors stand in (counts and tests only)
            raise MissingFileError(
                "DINOv2 encoder folder (facebook/dinov2-base)",
                str(folder),
                source=f"{DINOV2_SOURCE}: download {DINOV2_FILES} into {folder}, or pass "
                f"--option dinov2=FOLDER (needs the extra: {EXTRA_HINT})",
            )
        return DinoSemantics(folder)

    @classmethod
    def inspect_weights(cls, path: Path) -> str | None:
        """Check the file strictly against the (shared) architecture; the variant is the one its
        embedded training configuration names, else None (the file's name or ``--variant``)."""
        import torch

        content, _ = load_checkpoint(path)
        adapted = adapt_state_dict(content, cls.checkpoint_layout)
        with torch.device("meta"):
            network = cls.build_network(cls.default_variant)
        cls.check(network, adapted, "either variant", str(path))
        return variant_of(content)

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
        """Refused: the release trains in two stages with CLIP quality prompts and proxy models."""
        raise HarnessError(
            "perceive-ir cannot be trained by the harness (its training needs the release's "
            "stage-1 CLIP quality prompts, proxy restorers and losses)",
            hint="train it with the official code (House-yuyu/Perceive-IR) and load the result",
        )

    def forward(self, images: torch.Tensor, batch: ImageBatch) -> torch.Tensor:
        """The network on the padded images, guided by their DINOv2 class tokens."""
        if self.semantics is not None:
            semantics = self.semantics(images)
        else:
            width = self.network.semantic_dim
            semantics = fixed_semantics(images.shape[0], width, images.device)
        return self.network(images, semantics)

    def params_detail(self) -> dict[str, int]:
        """The restoration network, the frozen encoder (when loaded) and their sum."""
        network = sum(int(p.numel()) for p in self.network.parameters())
        detail = {"restoration network": network}
        if self.params_stored is not None:
            detail["stored in the checkpoint"] = self.params_stored
        encoder = self.semantics.parameters_count() if self.semantics is not None else 0
        if self.semantics is not None:
            detail["DINOv2 encoder (frozen)"] = encoder
        detail["used at inference"] = network + encoder
        return detail

    def provenance(self) -> dict[str, Any]:
        """Adds the semantic encoder: its folder, weights sha256 and the layers taken."""
        info = super().provenance()
        encoder: dict[str, Any] | str = "fixed seeded vectors (random_init, no encoder)"
        if self.semantics is not None:
            from harness.hashing import sha256_file

            encoder = {
                "folder": str(self.semantics.folder),
                "weights_sha256": sha256_file(self.semantics.folder / "model.safetensors"),
                "class_token_layers": list(SEMANTIC_LAYERS),
                "width": self.semantics.dim,
            }
        info["semantic_encoder"] = encoder
        return info
