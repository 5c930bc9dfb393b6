"""A direct modulated deformable convolution (DCNv2), written from the operator's definition.

Semantics of the official AirNet operator (mmcv ``modulated_deform_conv2d``, stride 1, dilation 1,
one group, one deformable group), read from mmcv's im2col kernel: for output pixel (y, x) and
kernel tap k = i * kw + j (row-major), the input is sampled at

    (y - pad + i + offset[2k, y, x],  x - pad + j + offset[2k + 1, y, x])

(vertical offset first, interleaved per tap), bilinearly, with every corner outside the image
reading 0 and the whole sample 0 unless -1 < row < H and -1 < col < W; the sample is multiplied
by mask[k, y, x] and the samples are combined by the conv weights. Computed in float64 with plain
tensor ops (a loop over the taps), independent of torchvision.
"""

from __future__ import annotations

import torch


def _bilinear(image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` [B, C, H, W] at float positions ``rows``/``cols`` [B, Ho, Wo]."""
    b, c, h, w = image.shape
    flat = image.reshape(b, c, h * w)
    inside = (rows > -1) & (rows < h) & (cols > -1) & (cols < w)
    r0, c0 = rows.floor(), cols.floor()
    fr, fc = rows - r0, cols - c0
    out = torch.zeros(b, c, *rows.shape[1:], dtype=image.dtype)
    for dr, dc, weight in (
        (0, 0, (1 - fr) * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 0, fr * (1 - fc)),
        (1, 1, fr * fc),
    ):
        r, q = (r0 + dr).long(), (c0 + dc).long()
        valid = inside & (r >= 0) & (r < h) & (q >= 0) & (q < w)
        index = (r.clamp(0, h - 1) * w + q.clamp(0, w - 1)).reshape(b, 1, -1).expand(b, c, -1)
        values = flat.gather(2, index).reshape(out.shape)
        out += values * (weight * valid)[:, None]
    return out


def direct_modulated_deform_conv(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    padding: int,
) -> torch.Tensor:
    """DCNv2 with the layout above; returns ``x``'s dtype."""
    xd, od, md, wd = (t.double() for t in (x, offset, mask, weight))
    b, _, h, w = x.shape
    cout, cin, kh, kw = weight.shape
    ho, wo = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    ys = torch.arange(ho, dtype=torch.float64)[:, None].expand(ho, wo)
    xs = torch.arange(wo, dtype=torch.float64)[None, :].expand(ho, wo)
    columns = []
    for i in range(kh):
        for j in range(kw):
            k = i * kw + j
            rows = ys - padding + i + od[:, 2 * k]
            cols = xs - padding + j + od[:, 2 * k + 1]
            columns.append(_bilinear(xd, rows, cols) * md[:, k : k + 1])
    stacked = torch.stack(columns, 2)  # [B, Cin, K, Ho, Wo]
    out = torch.einsum("ock,bckyx->boyx", wd.reshape(cout, cin, kh * kw), stacked)
    if bias is not None:
        out = out + bias.double()[None, :, None, None]
    return out.to(x.dtype)
