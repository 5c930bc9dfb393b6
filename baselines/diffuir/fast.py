"""DiffUIR's inference fast path: the same maths on channels-last (NHWC) activations.

Why channels-last: on CPU, oneDNN convolves 32- and 64-channel NHWC tensors without reordering them
into a blocked layout and back, and every 1x1 convolution, the channel LayerNorm and the attention
projections become plain row-major matrix products / last-dimension reductions over the ``[B, H*W,
C]`` view of the activation. Each function accepts any memory layout (a non-channels-last input is
copied once) and returns a channels-last NCHW tensor. Numerics: the same formulas as the plain path,
re-associated; the fast path stays within 1e-5 of the plain spec reference (tests/diffuir).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CHANNELS_LAST = torch.channels_last
CHUNK = 8192
"""Pixel rows per step of the linear attention's passes on CPU (one reused 8192 x 128 buffer that
stays in cache); on a GPU the whole image is one step (fewer, larger kernels)."""


def rows(x: torch.Tensor) -> torch.Tensor:
    """The ``[B, H*W, C]`` view of a channels-last ``[B, C, H, W]`` tensor (a copy otherwise)."""
    b, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h * w, c)


def unrows(r: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The channels-last ``[B, C, H, W]`` view of ``[B, H*W, C]`` rows."""
    b, _, c = r.shape
    return r.view(b, h, w, c).permute(0, 3, 1, 2)


def conv1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """1x1 convolution as one matrix product over all pixels: ``rows(x) @ W^T + b``."""
    b, c, h, w = x.shape
    flat = rows(x).reshape(b * h * w, c)
    w2 = weight.reshape(weight.shape[0], c).t()
    out = torch.mm(flat, w2) if bias is None else torch.addmm(bias, flat, w2)
    return unrows(out.view(b, h * w, -1), h, w)


def channel_layer_norm(x: torch.Tensor, gain: torch.Tensor, eps: float) -> torch.Tensor:
    """LayerNorm over the channels of each pixel (biased variance), times ``gain`` [C]."""
    _, c, h, w = x.shape
    out = F.layer_norm(rows(x), (c,), gain.reshape(c), None, eps)
    return unrows(out, h, w)


def norm_scale_shift_silu(
    h: torch.Tensor,
    groups: int,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float,
    scale_shift: tuple[torch.Tensor, torch.Tensor] | None,
) -> torch.Tensor:
    """``silu(GroupNorm(h) * (1 + scale) + shift)`` as one per-channel multiply-add and SiLU.

    The group statistics come from per-channel sums of ``h`` and ``h^2`` over the pixels (cascaded
    sums, combined in float64), so normalisation, affine and time modulation are one ``addcmul``.
    torch's own channels-last GroupNorm is avoided on purpose: it accumulates the moments in a
    single float32 running sum, drifting 2e-5 from the exact result at 256x256.
    """
    b, c, height, width = h.shape
    n = height * width * (c // groups)
    r = rows(h)
    sums = r.sum(dim=1).view(b, groups, -1).sum(dim=-1, dtype=torch.float64)
    squares = (r * r).sum(dim=1).view(b, groups, -1).sum(dim=-1, dtype=torch.float64)
    mean = sums / n
    rstd = ((squares / n - mean * mean).clamp_min(0) + eps).rsqrt()  # [B, groups]
    gain = weight.view(1, c).double()
    offset = bias.view(1, c).double()
    if scale_shift is not None:
        scale, shift = (t.reshape(-1, c).double() for t in scale_shift)
        gain, offset = gain * (scale + 1), offset * (scale + 1) + shift
    gain = gain.view(-1, groups, c // groups) * rstd[..., None]
    offset = offset.view(-1, groups, c // groups) - gain * mean[..., None]
    a = gain.to(h.dtype).view(-1, c, 1, 1)
    out = torch.addcmul(offset.to(h.dtype).view(-1, c, 1, 1), h, a, out=h)  # over h's memory
    return F.silu(out, inplace=True)


def linear_attention(
    x: torch.Tensor,
    qkv_weight: torch.Tensor,
    out_weight: torch.Tensor,
    out_bias: torch.Tensor,
    norm_gain: torch.Tensor,
    heads: int,
    head_dim: int,
    eps: float,
) -> torch.Tensor:
    """DiffUIR's linear attention, its output projection and channel LayerNorm, on pixel rows.

    Spec: q softmax over the head's features times head_dim^-1/2, k softmax over positions, v / n;
    context = k v^T per head; out = context^T q, projected and normalised. Here v is never formed:
    context_h = (softmax(k_h) X) W_v,h^T, with X the pixel rows, one tall product. k's softmax
    denominator, v / n and the q scale are folded into the small context, and the context into the
    output projection. Both passes walk the pixels in chunks of ``CHUNK`` rows through reused
    buffers (k's softmax max is tracked online), so no [H*W, 128] tensor is allocated.
    """
    b, c, h, w = x.shape
    n = h * w
    hidden = heads * head_dim
    r = rows(x)  # [B, N, C]
    w_q, w_k, w_v = qkv_weight.reshape(3, hidden, c).unbind(0)
    w_v = w_v.reshape(heads, head_dim, c)
    proj = out_weight.reshape(c, heads, head_dim)  # [C, heads, e]
    gain = norm_gain.reshape(c)
    out = torch.empty(b, n, c, dtype=x.dtype, device=x.device)
    size = min(n, CHUNK) if x.device.type == "cpu" else n
    buffer = torch.empty(size, hidden, dtype=x.dtype, device=x.device)
    for i in range(b):
        weighted = _softmax_weighted_rows(r[i], w_k.t(), buffer)  # [hidden, C]
        context = torch.bmm(weighted.view(heads, head_dim, c), w_v.transpose(1, 2))  # [h, d, e]
        context.mul_(head_dim**-0.5 / n)
        mixed = torch.einsum("hde,che->hdc", context, proj).reshape(hidden, c)
        for start in range(0, n, size):
            stop = min(n, start + size)
            q = torch.mm(r[i, start:stop], w_q.t(), out=buffer[: stop - start])
            q = torch.softmax(q.view(-1, heads, head_dim), dim=-1).view(-1, hidden)
            part = torch.addmm(out_bias, q, mixed, out=out[i, start:stop])
            part.copy_(F.layer_norm(part, (c,), gain, None, eps))  # while the chunk is in cache
    return unrows(out, h, w)


def _softmax_weighted_rows(
    r: torch.Tensor, w_k: torch.Tensor, buffer: torch.Tensor
) -> torch.Tensor:
    """sum_n softmax_n(k)[n, j] r[n, :] for every k feature j: [features, C] of one image's rows."""
    n, c = r.shape
    features = w_k.shape[1]
    weighted = torch.zeros(features, c, dtype=r.dtype, device=r.device)
    denom = torch.zeros(features, dtype=r.dtype, device=r.device)
    running = torch.full((features,), float("-inf"), dtype=r.dtype, device=r.device)
    size = buffer.shape[0]
    for start in range(0, n, size):
        stop = min(n, start + size)
        k = torch.mm(r[start:stop], w_k, out=buffer[: stop - start])
        peak = torch.maximum(running, k.amax(dim=0))
        rescale = (running - peak).exp_()  # exp(-inf) = 0 on the first chunk
        running = peak
        k = k.sub_(peak).exp_()
        denom.mul_(rescale).add_(k.sum(dim=0))
        weighted.mul_(rescale.view(-1, 1)).addmm_(k.t(), r[start:stop])
    return weighted.div_(denom.view(-1, 1))


def full_attention(
    x: torch.Tensor,
    qkv_weight: torch.Tensor,
    out_weight: torch.Tensor,
    out_bias: torch.Tensor,
    heads: int,
    head_dim: int,
) -> torch.Tensor:
    """Softmax attention over all positions (scaled dot product), then the output projection."""
    b, c, h, w = x.shape
    n = h * w
    hidden = heads * head_dim
    qkv = torch.matmul(rows(x), qkv_weight.reshape(3 * hidden, c).t())  # [B, N, 3 * hidden]
    q, k, v = (
        qkv.view(b, n, 3, heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    )  # [B, heads, N, d]
    out = F.scaled_dot_product_attention(q, k, v)  # [B, heads, N, d]
    out = out.transpose(1, 2).reshape(b * n, hidden)
    out = torch.addmm(out_bias, out, out_weight.reshape(c, hidden).t())
    return unrows(out.view(b, n, c), h, w)
