"""The InstructIR restorer plugin (all-in-one restoration following a text instruction).

Conde, Geigle, Timofte, "InstructIR: High-Quality Image Restoration Following Human
Instructions", ECCV 2024; official code mv-lab/InstructIR (MIT). The image model and text head
are this project's clean-room modules (:mod:`baselines.instructir.network`); the official
``im_instructir-7d.pt`` and ``lm_instructir-7d.pt`` (plain state_dicts) load unchanged. The
frozen sentence encoder (bge-micro-v2) runs through ``transformers`` (extra ``text``) from a local
folder. See docs/methods/instructir.md.

Not blind: the benchmark's task picks the instruction. One canonical sentence per task (below);
``paraphrase=true`` draws one of a few rewordings per image instead, seeded by the run seed and
the image id (never by order).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from baselines.instructir.network import (
    IMAGE_PARAMS,
    LM_HEAD_PARAMS,
    SENTENCE_DIM,
    InstructIR,
    LMHead,
)
from harness.checkpoints import CheckpointLayout, check_state, read_state_dict
from harness.errors import HarnessError, MissingFileError
from harness.learned_restorer import RANDOM_INIT, RANDOM_INIT_SEED, LearnedRestorer, as_flag
from harness.restorer import ImageBatch, Option

if TYPE_CHECKING:
    import torch
    from torch import nn

INSTRUCTIONS: dict[str, str] = {
    "derain": "Remove the rain from this image.",
    "desnow": "Remove the snow from this image.",
    "dehaze": "Remove the haze from this image.",
    "deblur": "Remove the blur from this image.",
    "lowlight": "Brighten this dark, underexposed photo.",
    "denoise": "Remove the noise from this image.",
    "udc": "Make this blurry, hazy photo sharp and clear.",
}
"""The canonical instruction of each task (the harness's own wording), recorded in provenance."""

PARAPHRASES: dict[str, tuple[str, ...]] = {
    "derain": ("Please get rid of the rain streaks.", "Clean the rain off this picture."),
    "desnow": ("Please get rid of the falling snow.", "Clean the snowflakes off this picture."),
    "dehaze": ("Please clear up the fog.", "Make this hazy picture clear."),
    "deblur": ("Please sharpen this blurry photo.", "Fix the motion blur in this picture."),
    "lowlight": ("Please make this photo brighter.", "This picture is too dark, fix it."),
    "denoise": ("Please clean up the grain.", "Reduce the noise in this picture."),
    "udc": ("Please make this photo clear.", "Clean up this picture, it is blurry and hazy."),
}
"""With ``paraphrase=true`` the instruction of an image is drawn from the canonical sentence and
these (the official evaluation draws random paraphrases; this keeps the draw reproducible)."""

TEXT_HEAD_ENTRY = "instructir-7d-text-head"
ENCODER_FOLDER = "bge-micro-v2"
ENCODER_SOURCE = "https://huggingface.co/TaylorAI/bge-micro-v2"
ENCODER_FILES = (
    "config.json, the tokenizer files (vocab.txt, tokenizer_config.json, ...) and model.safetensors"
)
LAYOUT = CheckpointLayout()


def instruction_for(task: str, image_id: str, seed: int, paraphrase: bool) -> str:
    """The instruction given for one image: canonical, or a paraphrase drawn from (seed, id)."""
    if task not in INSTRUCTIONS:
        raise HarnessError(
            f"instructir has no instruction for task {task!r}",
            hint=f"tasks with an instruction: {', '.join(INSTRUCTIONS)}",
        )
    if not paraphrase:
        return INSTRUCTIONS[task]
    choices = (INSTRUCTIONS[task], *PARAPHRASES[task])
    draw = hashlib.sha256(f"{seed}\0{image_id}".encode()).digest()
    return choices[int.from_bytes(draw[:8], "big") % len(choices)]


def default_encoder_dir() -> Path:
    """Where the sentence encoder folder is looked for when no ``encoder`` option is given."""
    from harness.weights import weights_dir

    return weights_dir() / "instructir" / ENCODER_FOLDER


class SentenceEncoder:
    """bge-micro-v2 through ``transformers``: token states mean-pooled over the attention mask,
    L2-normalised (384-d), as the official text path."""

    def __init__(self, folder: Path, device: str) -> None:
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise HarnessError(
                "instructir needs the `transformers` package for its sentence encoder",
                hint="pip install 'uir-harness[text]'",
            ) from None
        if not (folder / "model.safetensors").is_file():
            raise MissingFileError(
                "sentence encoder weights (model.safetensors) of bge-micro-v2",
                str(folder / "model.safetensors"),
                source=f"{ENCODER_SOURCE}: download {ENCODER_FILES} into {folder}",
            )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModel.from_pretrained(
                str(folder), local_files_only=True, use_safetensors=True
            )
        except (OSError, ValueError) as exc:
            raise HarnessError(
                f"{folder}: not a loadable sentence encoder folder ({exc})",
                hint=f"it must hold {ENCODER_FILES} of {ENCODER_SOURCE}",
            ) from None
        self.model = model.to(device).eval()
        self.folder = folder
        self.params = sum(int(p.numel()) for p in self.model.parameters())
        hidden = int(getattr(self.model.config, "hidden_size", -1))
        if hidden != SENTENCE_DIM:
            raise HarnessError(
                f"{folder}: the encoder gives {hidden}-d sentences; the text head needs "
                f"{SENTENCE_DIM} (bge-micro-v2)"
            )

    def __call__(self, sentence: str) -> torch.Tensor:
        """The unit-norm sentence embedding [1, 384]."""
        import torch
        import torch.nn.functional as F

        device = next(self.model.parameters()).device
        tokens = self.tokenizer([sentence], padding=True, truncation=True, return_tensors="pt")
        tokens = {k: v.to(device) for k, v in tokens.items()}
        with torch.inference_mode():
            states = self.model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled.float(), p=2, dim=1)


def _random_sentence(sentence: str) -> torch.Tensor:
    """A unit vector seeded by the sentence: the stand-in for the encoder under ``random_init``."""
    import torch
    import torch.nn.functional as F

    seed = int.from_bytes(hashlib.sha256(sentence.encode()).digest()[:8], "big") >> 1
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(1, SENTENCE_DIM, generator=gen), dim=1)


class InstructIRRestorer(LearnedRestorer):
    """InstructIR 7-task: a NAFNet U-Net conditioned on the embedding of a text instruction."""

    name = "instructir"
    summary = "All-in-one restoration following a text instruction (one canonical per task)."
    variants = ("7d",)
    default_variant = "7d"
    tasks = ("derain", "dehaze", "deblur", "lowlight")
    blind = False
    paper = (
        "Conde, Geigle, Timofte, InstructIR: High-Quality Image Restoration Following Human "
        "Instructions, ECCV 2024"
    )
    repository = "https://github.com/mv-lab/InstructIR"
    license = "MIT"
    params: ClassVar[dict[str, int]] = {"7d": IMAGE_PARAMS}
    signature = "InstructIR"
    checkpoint_layout = LAYOUT
    pad_multiple = 1
    """The network zero-pads to a multiple of 16 inside, as upstream."""
    option_specs: ClassVar[dict[str, Option]] = {
        "random_init": RANDOM_INIT,
        "encoder": Option(
            str,
            None,
            f"folder of the bge-micro-v2 sentence encoder (default <weights dir>/instructir/"
            f"{ENCODER_FOLDER})",
        ),
        "text_head": Option(
            str, None, f"text head weights: entry name or path (default {TEXT_HEAD_ENTRY})"
        ),
        "paraphrase": Option(
            bool, False, "a reworded instruction per image, drawn from (seed, image id)"
        ),
    }
    flops_not_counted: ClassVar[tuple[str, ...]] = (
        "the text path (sentence encoder and text head) runs once per distinct instruction, "
        "cached across images: not in the per-image count",
    )

    def __init__(
        self,
        variant: str | None = None,
        weights: str | None = None,
        device: str = "cpu",
        **options: Any,
    ) -> None:
        super().__init__(variant, weights, device, **options)
        self.paraphrase = as_flag(options.get("paraphrase", False), "paraphrase", self.name)
        self.text_head_path: str | None = None
        self.text_head_sha256: str | None = None
        self.text_head = self._text_head(options.get("text_head")).to(device).eval()
        self.encoder = self._encoder(options.get("encoder"), device)
        self._cache: dict[str, torch.Tensor] = {}

    @classmethod
    def build_network(cls, variant: str) -> nn.Module:
        """The released 7-task image model."""
        return InstructIR()

    def _text_head(self, choice: str | None) -> nn.Module:
        import torch

        if self.random_init and choice is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_INIT_SEED + 1)
                return LMHead()
        from harness.weights import resolve_weights

        resolved = resolve_weights(self.name, self.variant, choice or TEXT_HEAD_ENTRY)
        adapted, sha = read_state_dict(resolved.path, LAYOUT, expected_sha256=resolved.sha256)
        head = LMHead()
        _check_head(head, adapted.state, str(resolved.path))
        head.load_state_dict(adapted.state, strict=True)
        self.text_head_path, self.text_head_sha256 = str(resolved.path), sha
        return head

    def _encoder(self, choice: str | None, device: str) -> SentenceEncoder | None:
        folder = Path(choice).expanduser() if choice else default_encoder_dir()
        if not folder.is_dir():
            if self.random_init and choice is None:
                return None  # random sentence vectors stand in (counts and tests only)
            raise MissingFileError(
                "sentence encoder folder (bge-micro-v2)",
                str(folder),
                source=f"{ENCODER_SOURCE}: download {ENCODER_FILES} into {folder}, or pass "
                "--option encoder=FOLDER (needs the extra: pip install 'uir-harness[text]')",
            )
        return SentenceEncoder(folder, device)

    @classmethod
    def inspect_weights(cls, path: Path) -> str:
        """The variant of an image model or text head file, checked strictly as loading does."""
        adapted, _ = read_state_dict(path, LAYOUT)
        if set(adapted.state) == set(LMHead().state_dict()):
            _check_head(LMHead(), adapted.state, str(path))
            return cls.default_variant
        return super().inspect_weights(path)

    def instruction_embedding(self, sentence: str) -> torch.Tensor:
        """The 256-d instruction embedding of a sentence (computed once, then cached)."""
        import torch

        if sentence not in self._cache:
            raw = self.encoder(sentence) if self.encoder is not None else _random_sentence(sentence)
            device = next(self.text_head.parameters()).device
            with torch.inference_mode():
                self._cache[sentence] = self.text_head(raw.to(device))[0][0]
        return self._cache[sentence]

    def forward(self, images: torch.Tensor, batch: ImageBatch) -> torch.Tensor:
        """The image model with each image's instruction embedding."""
        import torch

        if batch.task is None:
            raise HarnessError(
                "instructir needs the task to choose its instruction (it is not blind)"
            )
        sentences = [
            instruction_for(batch.task, image_id, batch.seed, self.paraphrase)
            for image_id in batch.ids
        ]
        embeddings = torch.stack([self.instruction_embedding(s) for s in sentences])
        return self.network(images, embeddings.to(images.device))

    def params_detail(self) -> dict[str, int]:
        """Image model, text head and (when loaded) the frozen encoder; their sum."""
        detail = {"image model": IMAGE_PARAMS, "text head": LM_HEAD_PARAMS}
        if self.encoder is not None:
            detail["sentence encoder (frozen)"] = self.encoder.params
        detail["used at inference"] = sum(detail.values())
        return detail

    def provenance(self) -> dict[str, Any]:
        """Adds the instructions, the paraphrase flag, the text head and the encoder."""
        info = super().provenance()
        encoder = None
        if self.encoder is not None:
            weights = self.encoder.folder / "model.safetensors"
            from harness.hashing import sha256_file

            encoder = {"folder": str(self.encoder.folder), "weights_sha256": sha256_file(weights)}
        info.update(
            instructions=dict(INSTRUCTIONS),
            paraphrase=self.paraphrase,
            paraphrases=dict(PARAPHRASES) if self.paraphrase else None,
            text_head=self.text_head_path,
            text_head_sha256=self.text_head_sha256,
            sentence_encoder=encoder or "random unit vectors (random_init, no encoder)",
            pad="zero to a multiple of 16 inside the network (as upstream), cropped back",
        )
        return info


def _check_head(head: nn.Module, state: dict[str, Any], label: str) -> None:
    """Raise CheckpointMismatchError unless ``state`` is a 7d text head (other methods by name)."""
    check_state(
        head.state_dict(),
        state,
        method="InstructIR",
        what="the InstructIR text head (7d)",
        label=label,
        hint=f"pass lm_instructir-7d.pt (manifest entry {TEXT_HEAD_ENTRY})",
    )
