"""Tensor -> uint8 conversions of the scoring path (numpy arithmetic) equal torch's own."""

from __future__ import annotations

import numpy as np
import torch

from harness.images import to_uint8
from harness.metrics.compute import _tensor_to_uint8


def test_to_uint8_equals_torch_clamp_scale_round() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 37, 41, generator=gen) * 1.2 - 0.1  # some values outside [0, 1]
    x[0, 0, :6] = torch.tensor([0.5, 1.5, 2.5, 126.5, 254.5, 127.5]) / 255  # ties after scaling
    expected = torch.round(x.clamp(0, 1).mul(255.0)).to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(to_uint8(x), expected)
    np.testing.assert_array_equal(to_uint8(x.double()), expected)


def test_exact_uint8_tensor_round_trips() -> None:
    values = torch.arange(256, dtype=torch.uint8).repeat(3, 4, 1)  # [3, 4, 256]
    as_float = values.float() / 255
    np.testing.assert_array_equal(_tensor_to_uint8(as_float), values.permute(1, 2, 0).numpy())


def test_half_precision_outputs_are_converted() -> None:
    x = torch.tensor([0.0, 0.25, 0.5, 1.0]).reshape(1, 2, 2).expand(3, 2, 2)
    expected = np.round(x.float().numpy() * 255).astype(np.uint8).transpose(1, 2, 0)
    for dtype in (torch.float16, torch.bfloat16):
        np.testing.assert_array_equal(to_uint8(x.to(dtype)), expected)
