"""A plain, functional reference of DiffUIR written directly from the spec, not from the plugin.

The spec is docs/methods/diffuir-spec.md ("Network", "Schedules", "Sampler"). It shares no code with
``baselines.diffuir``: weights are a flat dict with the upstream U-Net key names, every formula is
spelled out as in the spec (weight standardisation on every call, explicit softmaxes, no caching or
fusing). Also writes checkpoint files in the upstream training format.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

CONFIGS = {"t": (32, (1, 1, 1, 1)), "s": (32, (1, 2, 2, 4)), "b": (64, (1, 2, 2, 4))}
CONFIGS["l"] = (64, (1, 2, 4, 8))

SCHEDULE_BUFFERS = (
    "alphas",
    "alphas_cumsum",
    "delta",
    "delta_cumsum",
    "one_minus_alphas_cumsum",
    "betas2",
    "betas",
    "betas2_cumsum",
    "betas_cumsum",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
    "posterior_mean_coef3",
    "posterior_variance",
    "posterior_log_variance_clipped",
)


# ----------------------------------------------------------------------------------- schedule


def ref_schedule(delta_end: float = 1.8e-3) -> dict[str, torch.Tensor]:
    """alpha_bar, beta_bar, delta_bar in float32 (spec 3.1)."""
    b = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float32)
    gamma = torch.cumprod(1 - b, 0)
    d = torch.linspace(1e-6, delta_end, 1000, dtype=torch.float32)
    return {
        "alpha_bar": 1 - gamma.sqrt(),
        "beta_bar": (1 - gamma).sqrt(),
        "delta_bar": d.cumsum(0).clip(0, 1),
    }


# ------------------------------------------------------------------------------------ network


def _ws_conv(p: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    w = p[name + ".weight"]
    n = w[0].numel()
    mean = w.reshape(w.shape[0], -1).mean(1).reshape(-1, 1, 1, 1)
    var = ((w - mean) ** 2).reshape(w.shape[0], -1).sum(1).reshape(-1, 1, 1, 1) / n
    w_hat = (w - mean) / torch.sqrt(var + 1e-5)
    return F.conv2d(x, w_hat, p[name + ".bias"], padding=1)


def _conv(p: dict, name: str, x: torch.Tensor, stride: int = 1, padding: int = 0) -> torch.Tensor:
    return F.conv2d(x, p[name + ".weight"], p.get(name + ".bias"), stride=stride, padding=padding)


def _cln(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    mu = x.mean(1, keepdim=True)
    var = ((x - mu) ** 2).mean(1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-5) * g


def _block(p: dict, name: str, x: torch.Tensor, ss=None) -> torch.Tensor:
    h = _ws_conv(p, name + ".proj", x)
    h = F.group_norm(h, 8, p[name + ".norm.weight"], p[name + ".norm.bias"], eps=1e-5)
    if ss is not None:
        s, b = ss
        h = h * (1 + s) + b
    return h * torch.sigmoid(h)


def _rb(p: dict, name: str, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    v = F.linear(e * torch.sigmoid(e), p[name + ".mlp.1.weight"], p[name + ".mlp.1.bias"])
    co = v.shape[1] // 2
    s = v[:, :co, None, None]
    b = v[:, co:, None, None]
    h = _block(p, name + ".block1", x, (s, b))
    h = _block(p, name + ".block2", h)
    skip = _conv(p, name + ".res_conv", x) if name + ".res_conv.weight" in p else x
    return h + skip


def _heads(t: torch.Tensor) -> torch.Tensor:
    bsz, _, hh, ww = t.shape
    return t.reshape(bsz, 4, 32, hh * ww)


def _linear_attention(p: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    bsz, _, hh, ww = x.shape
    n = hh * ww
    qkv = F.conv2d(x, p[name + ".to_qkv.weight"])
    q, k, v = (_heads(qkv[:, i * 128 : (i + 1) * 128]) for i in range(3))
    q = torch.softmax(q, dim=2) * (32**-0.5)
    k = torch.softmax(k, dim=3)
    v = v / n
    context = torch.einsum("bhdn,bhen->bhde", k, v)
    out = torch.einsum("bhde,bhdn->bhen", context, q).reshape(bsz, 128, hh, ww)
    out = _conv(p, name + ".to_out.0", out)
    return _cln(p[name + ".to_out.1.g"], out)


def _full_attention(p: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    bsz, _, hh, ww = x.shape
    qkv = F.conv2d(x, p[name + ".to_qkv.weight"])
    q, k, v = (_heads(qkv[:, i * 128 : (i + 1) * 128]) for i in range(3))
    q = q * (32**-0.5)
    attn = torch.softmax(torch.einsum("bhdi,bhdj->bhij", q, k), dim=-1)
    out = torch.einsum("bhij,bhdj->bhdi", attn, v).reshape(bsz, 128, hh, ww)
    return _conv(p, name + ".to_out", out)


def _attn_wrapper(p: dict, name: str, x: torch.Tensor, full: bool) -> torch.Tensor:
    normed = _cln(p[name + ".fn.norm.g"], x)
    fn = _full_attention if full else _linear_attention
    return x + fn(p, name + ".fn.fn", normed)


def _time_embedding(p: dict, tau: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=tau.device)
    omega = torch.exp(-k * math.log(10000) / (half - 1))
    arg = tau[:, None] * omega[None]
    pe = torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)
    h = F.gelu(F.linear(pe, p["time_mlp.1.weight"], p["time_mlp.1.bias"]))
    return F.linear(h, p["time_mlp.3.weight"], p["time_mlp.3.bias"])


def ref_unet(p: dict, variant: str, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """The U-Net forward of spec 1.4 on the flat U-Net weights ``p``."""
    dim, mults = CONFIGS[variant]
    hh, ww = x.shape[-2:]
    ph, pw = (16 - hh % 16) % 16, (16 - ww % 16) % 16
    x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    x = _conv(p, "init_conv", x, padding=3)
    r = x
    e = _time_embedding(p, tau, dim)
    stack = []
    for i in range(4):
        x = _rb(p, f"downs.{i}.0", x, e)
        stack.append(x)
        x = _rb(p, f"downs.{i}.1", x, e)
        x = _attn_wrapper(p, f"downs.{i}.2", x, full=False)
        stack.append(x)
        if i < 3:
            x = _conv(p, f"downs.{i}.3", x, stride=2, padding=1)
        else:
            x = _conv(p, f"downs.{i}.3", x, padding=1)
    x = _rb(p, "mid_block1", x, e)
    x = _attn_wrapper(p, "mid_attn", x, full=True)
    x = _rb(p, "mid_block2", x, e)
    for j in range(4):
        x = _rb(p, f"ups.{j}.0", torch.cat([x, stack.pop()], 1), e)
        x = _rb(p, f"ups.{j}.1", torch.cat([x, stack.pop()], 1), e)
        x = _attn_wrapper(p, f"ups.{j}.2", x, full=False)
        if j < 3:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = _conv(p, f"ups.{j}.3.1", x, padding=1)
        else:
            x = _conv(p, f"ups.{j}.3", x, padding=1)
    x = _rb(p, "final_res_block", torch.cat([x, r], 1), e)
    return _conv(p, "final_conv", x)[:, :, :hh, :ww]


def ref_sample(
    p: dict, variant: str, cond01: torch.Tensor, z: torch.Tensor, steps: int = 3
) -> torch.Tensor:
    """The deterministic test sampler of spec 3.4, output in [0, 1]."""
    sch = ref_schedule()
    a, d = sch["alpha_bar"], sch["delta_bar"]
    x_in = cond01 * 2 - 1
    times = torch.linspace(-1, 999, steps + 1).int().tolist()[::-1]
    x = (1 - d[999]) * x_in + 0.1 * z
    for t, s in zip(times[:-1], times[1:], strict=True):
        tau = (a[t] * 1000).repeat(x.shape[0])
        res = ref_unet(p, variant, torch.cat([x, x_in], 1), tau).clamp(-1, 1)
        x0 = (x_in - res).clamp(-1, 1)
        if s == -1:
            x = x0
            break
        x = x - (a[t] - a[s]) * res + (d[t] - d[s]) * x_in
    return (x + 1) / 2


# ------------------------------------------------------------------------- weights and files


def random_unet_weights(variant: str, keys_file: Path, seed: int) -> dict[str, torch.Tensor]:
    """Random U-Net weights with the key/shape list of ``keys_file`` (scaled like a trained net)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = read_key_shapes(keys_file)[variant]
    weights = {}
    for key, shape in shapes.items():
        name = key[len("model.unet0.") :]
        t = torch.randn(shape, generator=gen)
        if name.endswith((".g", "norm.weight")):
            t = 1 + 0.1 * t
        elif name.endswith(".bias"):
            t = 0.05 * t
        else:
            fan_in = max(1, math.prod(shape[1:]))
            t = t / math.sqrt(fan_in)
        if name == "final_conv.weight":
            t = 0.3 * t  # keeps predicted residuals in the [-2, 2] range of real ones
        weights[name] = t
    return weights


def read_key_shapes(keys_file: Path) -> dict[str, dict[str, list[int]]]:
    """{variant: {key: shape}} parsed from diffuir_state_dict_keys.txt."""
    out: dict[str, dict[str, list[int]]] = {}
    current = None
    for line in keys_file.read_text().splitlines():
        if line.startswith("## variant "):
            current = line.split()[2].rstrip(":").lower()
            out[current] = {}
        elif current and line.startswith("model.unet0."):
            key, shape = line.split("\t")
            out[current][key] = [int(s) for s in shape.strip("[]").split(",") if s.strip()]
    return out


def write_upstream_checkpoint(
    path: Path,
    ema_weights: dict[str, torch.Tensor],
    raw_weights: dict[str, torch.Tensor],
    *,
    scalar_ema_buffers: bool = True,
) -> Path:
    """Write ``{step, model, opt0, ema, scaler}`` as the official trainer does (spec 1.6).

    Schedule buffers are filled with ones: the loader must ignore them (spec Q4).
    """
    buffers = {name: torch.ones(1000) for name in SCHEDULE_BUFFERS}
    model = {f"model.unet0.{k}": v.clone() for k, v in raw_weights.items()} | buffers
    ema = {f"ema_model.model.unet0.{k}": v.clone() for k, v in ema_weights.items()}
    ema |= {f"ema_model.{k}": v for k, v in buffers.items()}
    ema |= {f"online_model.{k}": v.clone() for k, v in model.items()}
    shape = () if scalar_ema_buffers else (1,)
    ema["initted"] = torch.ones(shape, dtype=torch.bool)
    ema["step"] = torch.full(shape, 3000, dtype=torch.long)
    opt0 = {
        "state": {0: {"step": torch.tensor(3000.0), "exp_avg": torch.zeros(3)}},
        "param_groups": [{"lr": 8e-5, "betas": (0.9, 0.99), "params": [0]}],
    }
    torch.save({"step": 3000, "model": model, "opt0": opt0, "ema": ema, "scaler": None}, path)
    return path
