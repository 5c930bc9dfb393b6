"""MPRNet (Zamir et al., "Multi-Stage Progressive Image Restoration", CVPR 2021), deraining and
deblurring configurations.

Written from the paper and the released configurations (repository swz30/MPRNet); module names
follow the official checkpoints (``ckpt['state_dict']``) so they load strictly.

Stage 1 restores the four quarters of the image separately with an encoder-decoder of channel
attention blocks (CAB), stage 2 the two halves (its encoder also receives stage 1's features:
cross-stage feature fusion), stage 3 the whole image at full resolution (ORSNet); supervised
attention modules (SAM) pass each stage's features on, weighted by its own image estimate.

Input: [B, 3, H, W] in [0, 1] with H and W multiples of 8 (the caller pads); output: the three
stage images, the first being the restored image (not clamped).

One ``nn.PReLU`` is shared by every CAB, as upstream: its one parameter appears in the state_dict
under 55 keys. Loading a state_dict writes each key into that one tensor in state_dict order, so
the last key's value is the one kept (the official files hold the same value under every key).
"""

from __future__ import annotations

import torch
from torch import nn

CONFIGS: dict[str, dict[str, int]] = {
    "derain": {"n_feat": 40, "scale_unetfeats": 20, "scale_orsnetfeats": 16},
    "deblur": {"n_feat": 96, "scale_unetfeats": 48, "scale_orsnetfeats": 32},
}
PARAMS: dict[str, int] = {"derain": 3_637_249, "deblur": 20_127_073}
"""Exact parameter counts (the shared PReLU counted once)."""

KERNEL = 3
REDUCTION = 4
NUM_CAB = 8
SIZE_MULTIPLE = 8


def conv(cin: int, cout: int, kernel: int = KERNEL) -> nn.Conv2d:
    """Bias-free convolution with 'same' zero padding."""
    return nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False)


def bilinear(scale: float) -> nn.Upsample:
    """Bilinear resampling by ``scale`` (no antialiasing, pixel-centre aligned)."""
    return nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=False)


class CALayer(nn.Module):
    """Channel attention: global mean -> 1x1 (reduce) -> ReLU -> 1x1 -> sigmoid -> scale."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            conv(channels, channels // REDUCTION, 1),
            nn.ReLU(),
            conv(channels // REDUCTION, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rescale each channel of ``x`` by its attention weight."""
        return x * self.conv_du(x.mean((2, 3), keepdim=True))


class CAB(nn.Module):
    """Channel attention block: conv, (shared) PReLU, conv, channel attention, plus the input."""

    def __init__(self, channels: int, act: nn.PReLU) -> None:
        super().__init__()
        self.CA = CALayer(channels)
        self.body = nn.Sequential(conv(channels, channels), act, conv(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual channel-attention refinement."""
        return self.CA(self.body(x)) + x


def cabs(channels: int, count: int, act: nn.PReLU) -> nn.Sequential:
    """``count`` CABs in a row."""
    return nn.Sequential(*(CAB(channels, act) for _ in range(count)))


class DownSample(nn.Module):
    """Halve the resolution, then a 1x1 conv widening the channels by ``extra``."""

    def __init__(self, channels: int, extra: int) -> None:
        super().__init__()
        self.down = nn.Sequential(bilinear(0.5), conv(channels, channels + extra, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Downscale and widen."""
        return self.down(x)


class UpSample(nn.Module):
    """Double the resolution, then a 1x1 conv narrowing the channels by ``extra``."""

    def __init__(self, channels: int, extra: int) -> None:
        super().__init__()
        self.up = nn.Sequential(bilinear(2.0), conv(channels + extra, channels, 1))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        """Upscale and narrow; add ``skip`` when given."""
        x = self.up(x)
        return x if skip is None else x + skip


class Encoder(nn.Module):
    """Three-level CAB encoder; with ``csff`` it adds 1x1-projected features of the previous stage."""

    def __init__(self, n_feat: int, extra: int, act: nn.PReLU, csff: bool) -> None:
        super().__init__()
        c1, c2, c3 = n_feat, n_feat + extra, n_feat + 2 * extra
        self.encoder_level1 = cabs(c1, 2, act)
        self.encoder_level2 = cabs(c2, 2, act)
        self.encoder_level3 = cabs(c3, 2, act)
        self.down12 = DownSample(c1, extra)
        self.down23 = DownSample(c2, extra)
        if csff:
            for i, c in enumerate((c1, c2, c3), start=1):
                setattr(self, f"csff_enc{i}", conv(c, c, 1))
            for i, c in enumerate((c1, c2, c3), start=1):
                setattr(self, f"csff_dec{i}", conv(c, c, 1))

    def forward(
        self,
        x: torch.Tensor,
        encoder_outs: list[torch.Tensor] | None = None,
        decoder_outs: list[torch.Tensor] | None = None,
    ) -> list[torch.Tensor]:
        """Features of the three levels (fine to coarse)."""
        outs = []
        levels = (self.encoder_level1, self.encoder_level2, self.encoder_level3)
        downs = (self.down12, self.down23, None)
        for i, (level, down) in enumerate(zip(levels, downs, strict=True), start=1):
            x = level(x)
            if encoder_outs is not None and decoder_outs is not None:
                enc = getattr(self, f"csff_enc{i}")(encoder_outs[i - 1])
                dec = getattr(self, f"csff_dec{i}")(decoder_outs[i - 1])
                x = x + enc + dec
            outs.append(x)
            if down is not None:
                x = down(x)
        return outs


class Decoder(nn.Module):
    """Three-level CAB decoder with CAB-refined skips from the encoder."""

    def __init__(self, n_feat: int, extra: int, act: nn.PReLU) -> None:
        super().__init__()
        c1, c2, c3 = n_feat, n_feat + extra, n_feat + 2 * extra
        self.decoder_level1 = cabs(c1, 2, act)
        self.decoder_level2 = cabs(c2, 2, act)
        self.decoder_level3 = cabs(c3, 2, act)
        self.skip_attn1 = CAB(c1, act)
        self.skip_attn2 = CAB(c2, act)
        self.up21 = UpSample(c1, extra)
        self.up32 = UpSample(c2, extra)

    def forward(self, outs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Decoded features of the three levels (fine to coarse)."""
        enc1, enc2, enc3 = outs
        dec3 = self.decoder_level3(enc3)
        dec2 = self.decoder_level2(self.up32(dec3, self.skip_attn2(enc2)))
        dec1 = self.decoder_level1(self.up21(dec2, self.skip_attn1(enc1)))
        return [dec1, dec2, dec3]


class SAM(nn.Module):
    """Supervised attention: an image estimate from the features, and the features re-weighted by
    a sigmoid map computed from that estimate."""

    def __init__(self, n_feat: int) -> None:
        super().__init__()
        self.conv1 = conv(n_feat, n_feat, 1)
        self.conv2 = conv(n_feat, 3, 1)
        self.conv3 = conv(3, n_feat, 1)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(attended features, image estimate = conv of the features + ``image``)."""
        estimate = self.conv2(x) + image
        return self.conv1(x) * torch.sigmoid(self.conv3(estimate)) + x, estimate


class ORB(nn.Module):
    """Original-resolution block: CABs and a conv, plus the input."""

    def __init__(self, channels: int, act: nn.PReLU) -> None:
        super().__init__()
        self.body = nn.Sequential(*cabs(channels, NUM_CAB, act), conv(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual refinement at full resolution."""
        return self.body(x) + x


class ORSNet(nn.Module):
    """Stage 3: three ORBs, each followed by the stage-2 encoder/decoder features of one level,
    upsampled to full resolution and projected."""

    def __init__(self, n_feat: int, extra_ors: int, extra_unet: int, act: nn.PReLU) -> None:
        super().__init__()
        width = n_feat + extra_ors
        self.orb1 = ORB(width, act)
        self.orb2 = ORB(width, act)
        self.orb3 = ORB(width, act)
        self.up_enc1 = UpSample(n_feat, extra_unet)
        self.up_dec1 = UpSample(n_feat, extra_unet)
        self.up_enc2 = nn.Sequential(
            UpSample(n_feat + extra_unet, extra_unet), UpSample(n_feat, extra_unet)
        )
        self.up_dec2 = nn.Sequential(
            UpSample(n_feat + extra_unet, extra_unet), UpSample(n_feat, extra_unet)
        )
        for name in ("enc", "dec"):
            for i in (1, 2, 3):
                setattr(self, f"conv_{name}{i}", conv(n_feat, width, 1))

    def forward(
        self, x: torch.Tensor, encoder_outs: list[torch.Tensor], decoder_outs: list[torch.Tensor]
    ) -> torch.Tensor:
        """Full-resolution features."""
        x = self.orb1(x)
        x = x + self.conv_enc1(encoder_outs[0]) + self.conv_dec1(decoder_outs[0])
        x = self.orb2(x)
        x = x + self.conv_enc2(self.up_enc1(encoder_outs[1]))
        x = x + self.conv_dec2(self.up_dec1(decoder_outs[1]))
        x = self.orb3(x)
        x = x + self.conv_enc3(self.up_enc2(encoder_outs[2]))
        return x + self.conv_dec3(self.up_dec2(decoder_outs[2]))


class MPRNet(nn.Module):
    """The three-stage network; ``task`` is ``derain`` or ``deblur`` (the released widths)."""

    def __init__(self, task: str) -> None:
        super().__init__()
        if task not in CONFIGS:
            raise ValueError(f"unknown MPRNet task {task!r}; expected one of {sorted(CONFIGS)}")
        cfg = CONFIGS[task]
        n_feat, extra_unet, extra_ors = (
            cfg["n_feat"],
            cfg["scale_unetfeats"],
            cfg["scale_orsnetfeats"],
        )
        act = nn.PReLU()
        for i in (1, 2, 3):
            setattr(self, f"shallow_feat{i}", nn.Sequential(conv(3, n_feat), CAB(n_feat, act)))
        self.stage1_encoder = Encoder(n_feat, extra_unet, act, csff=False)
        self.stage1_decoder = Decoder(n_feat, extra_unet, act)
        self.stage2_encoder = Encoder(n_feat, extra_unet, act, csff=True)
        self.stage2_decoder = Decoder(n_feat, extra_unet, act)
        self.stage3_orsnet = ORSNet(n_feat, extra_ors, extra_unet, act)
        self.sam12 = SAM(n_feat)
        self.sam23 = SAM(n_feat)
        self.concat12 = conv(2 * n_feat, n_feat)
        self.concat23 = conv(2 * n_feat, n_feat + extra_ors)
        self.tail = conv(n_feat + extra_ors, 3)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(restored image, stage-2 image, stage-1 image), each [B, 3, H, W]."""
        h, w = image.shape[-2:]
        top, bottom = image[..., : h // 2, :], image[..., h // 2 :, :]

        # stage 1: each quarter through the encoder, left and right features joined per half
        def encode_halves(half: torch.Tensor) -> list[torch.Tensor]:
            left = self.stage1_encoder(self.shallow_feat1(half[..., : w // 2]))
            right = self.stage1_encoder(self.shallow_feat1(half[..., w // 2 :]))
            return [torch.cat(lr, 3) for lr in zip(left, right, strict=True)]

        feat1_top, feat1_bot = encode_halves(top), encode_halves(bottom)
        res1_top = self.stage1_decoder(feat1_top)
        res1_bot = self.stage1_decoder(feat1_bot)
        sam_top, img1_top = self.sam12(res1_top[0], top)
        sam_bot, img1_bot = self.sam12(res1_bot[0], bottom)
        stage1 = torch.cat([img1_top, img1_bot], 2)

        # stage 2: each half, fused with stage 1's encoder and decoder features
        x_top = self.concat12(torch.cat([self.shallow_feat2(top), sam_top], 1))
        x_bot = self.concat12(torch.cat([self.shallow_feat2(bottom), sam_bot], 1))
        feat2_top = self.stage2_encoder(x_top, feat1_top, res1_top)
        feat2_bot = self.stage2_encoder(x_bot, feat1_bot, res1_bot)
        feat2 = [torch.cat(tb, 2) for tb in zip(feat2_top, feat2_bot, strict=True)]
        res2 = self.stage2_decoder(feat2)
        sam3, stage2 = self.sam23(res2[0], image)

        # stage 3: full resolution
        x3 = self.concat23(torch.cat([self.shallow_feat3(image), sam3], 1))
        x3 = self.stage3_orsnet(x3, feat2, res2)
        return self.tail(x3) + image, stage2, stage1
