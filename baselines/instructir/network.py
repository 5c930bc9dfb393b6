"""InstructIR (Conde, Geigle, Timofte, "High-Quality Image Restoration Following Human
Instructions", ECCV 2024): the image model and the text head of the released 7-task model.

Written from the paper and the released configuration (repository mv-lab/InstructIR,
``configs/eval5d.yml``); module names follow the official checkpoints ``im_instructir-7d.pt``
and ``lm_instructir-7d.pt`` (plain state_dicts) so they load strictly.

Text path: a frozen sentence encoder (bge-micro-v2: mean-pooled token states, L2-normalised,
384-d; not part of this module) -> ``LMHead``: linear 384 -> 256 then L2 normalisation gives the
instruction embedding; a linear classifier on it predicts the degradation (auxiliary).
Image path: ``InstructIR(image [B, 3, H, W] in [0, 1], instruction embedding [B, 256])`` -> the
restored image, not clamped. A NAFNet U-Net (zero-pads to a multiple of 16 inside, crops back)
whose every encoder and decoder level ends in an instruction condition block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.blocks.nafnet import NAFBlock

WIDTH = 32
ENC_BLOCKS = (2, 2, 4, 8)
MIDDLE_BLOCKS = 4
DEC_BLOCKS = (2, 2, 2, 2)
SENTENCE_DIM = 384
INSTRUCTION_DIM = 256
DEGRADATIONS = ("noise", "blur", "rain", "haze", "lol", "sr", "en")
"""The 7 degradation classes of the text head, in logit order (upstream ``DEG_MAP``)."""

IMAGE_PARAMS = 15_843_363
LM_HEAD_PARAMS = 100_359


class ICB(nn.Module):
    """Instruction condition block: scale/shift the features, gate every channel by a sigmoid of
    a linear map of the instruction, refine with a NAFBlock, add the input back."""

    def __init__(self, channels: int, text_dim: int = INSTRUCTION_DIM) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.fc = nn.Linear(text_dim, channels)
        self.block = NAFBlock(channels)

    def forward(self, x: torch.Tensor, instruction: torch.Tensor) -> torch.Tensor:
        """Condition ``x`` [B, C, H, W] on ``instruction`` [B, text_dim]."""
        gate = torch.sigmoid(self.fc(instruction))[:, :, None, None]
        return self.block((x * self.gamma + self.beta) * gate) + x


class InstructIR(nn.Module):
    """NAFNet U-Net with an instruction condition block after each encoder and decoder level."""

    def __init__(
        self,
        width: int = WIDTH,
        enc_blocks: tuple[int, ...] = ENC_BLOCKS,
        middle_blocks: int = MIDDLE_BLOCKS,
        dec_blocks: tuple[int, ...] = DEC_BLOCKS,
        text_dim: int = INSTRUCTION_DIM,
    ) -> None:
        super().__init__()
        levels = len(enc_blocks)
        chans = [width * 2**level for level in range(levels + 1)]
        dec_chans = [chans[levels - 1 - i] for i in range(len(dec_blocks))]

        def blocks(channels: int, count: int) -> nn.Sequential:
            return nn.Sequential(*(NAFBlock(channels) for _ in range(count)))

        self.intro = nn.Conv2d(3, width, 3, padding=1)
        self.ending = nn.Conv2d(width, 3, 3, padding=1)
        self.encoders = nn.ModuleList(blocks(chans[i], n) for i, n in enumerate(enc_blocks))
        self.decoders = nn.ModuleList(
            blocks(c, n) for c, n in zip(dec_chans, dec_blocks, strict=True)
        )
        self.middle_blks = blocks(chans[levels], middle_blocks)
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Conv2d(2 * c, 4 * c, 1, bias=False), nn.PixelShuffle(2))
            for c in dec_chans
        )
        self.downs = nn.ModuleList(nn.Conv2d(c, 2 * c, 2, stride=2) for c in chans[:-1])
        self.enc_cond = nn.ModuleList(ICB(c, text_dim) for c in chans[:levels])
        self.dec_cond = nn.ModuleList(ICB(c, text_dim) for c in dec_chans)
        self.multiple = 2**levels

    def forward(self, inp: torch.Tensor, instruction: torch.Tensor) -> torch.Tensor:
        """Restore ``inp`` [B, 3, H, W] following ``instruction`` [B, text_dim] (one per image)."""
        h, w = inp.shape[-2:]
        padded = F.pad(inp, (0, -w % self.multiple, 0, -h % self.multiple))
        x = self.intro(padded)
        skips = []
        for encoder, cond, down in zip(self.encoders, self.enc_cond, self.downs, strict=True):
            x = cond(encoder(x), instruction)
            skips.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for decoder, up, skip, cond in zip(
            self.decoders, self.ups, reversed(skips), self.dec_cond, strict=True
        ):
            x = cond(decoder(up(x) + skip), instruction)
        return (self.ending(x) + padded)[..., :h, :w]


class LMHead(nn.Module):
    """Sentence embedding [B, 384] -> (instruction embedding [B, 256], unit L2 norm; degradation
    logits [B, 7])."""

    def __init__(
        self,
        sentence_dim: int = SENTENCE_DIM,
        instruction_dim: int = INSTRUCTION_DIM,
        classes: int = len(DEGRADATIONS),
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(sentence_dim, instruction_dim)
        self.fc2 = nn.Linear(instruction_dim, classes)

    def forward(self, sentence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project and normalise the sentence embedding, then classify the projection."""
        instruction = F.normalize(self.fc1(sentence), p=2, dim=1)
        return instruction, self.fc2(instruction)
