"""torch's two TF32 switches, read and set by the precision tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


def tf32_flags() -> tuple[bool, bool]:
    """(CUDA matrix products may use TF32, cuDNN convolutions may use TF32)."""
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@pytest.fixture
def tf32_allowed() -> Iterator[None]:
    """Both TF32 switches on (cuDNN's is on by default in torch); put back afterwards."""
    saved = tf32_flags()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
