"""Numeric precision of a network's float32 work: one owner for what "fp32" means on every device.

PyTorch lets cuDNN convolutions use TensorFloat-32 (10-bit mantissa) by default, so a float32
model on an NVIDIA GPU silently computes its convolutions with reduced precision and its numbers
drift from the CPU's. The harness runs every restore and every timing under :func:`float32_math`:
IEEE float32 matrix products and convolutions unless a method's ``precision`` option opts in to
``tf32`` (CUDA only) or ``bf16`` (bfloat16 autocast). Opt-in precisions are named in the run's
options, so their results are stored and reported apart from fp32 ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness.errors import HarnessError

PRECISIONS = ("fp32", "tf32", "bf16")
"""``fp32``: IEEE float32 (the default); ``tf32``: TensorFloat-32 products and convolutions on
CUDA; ``bf16``: the network under bfloat16 autocast (inputs and outputs stay float32)."""
DEFAULT_PRECISION = "fp32"
OPTION = "precision"
"""The method option that selects a precision (reports name runs made with a non-default one)."""


def check_precision(value: Any, device: str) -> str:
    """``value`` as one of :data:`PRECISIONS` for ``device`` (HarnessError says what to use)."""
    name = str(value).lower() if value is not None else DEFAULT_PRECISION
    if name not in PRECISIONS:
        raise HarnessError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {value!r}",
            hint="use --option precision=fp32 (the default), tf32 (CUDA) or bf16",
        )
    if name == "tf32" and not str(device).startswith("cuda"):
        raise HarnessError(
            f"precision tf32 needs a CUDA device, the run uses {device!r}",
            hint="add --device cuda, or use precision=fp32 or bf16",
        )
    return name


@contextmanager
def float32_math(precision: str = DEFAULT_PRECISION) -> Iterator[None]:
    """CUDA matrix products and cuDNN convolutions in IEEE float32 (``fp32``, ``bf16``) or
    TensorFloat-32 (``tf32``) inside the block; the previous settings come back on exit."""
    import torch  # here, not at import: reports read this module's names without torch

    allow = precision == "tf32"
    # the flags torch has had since 1.7; reading them stays valid whatever code runs inside
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32
    matmul.allow_tf32, cudnn.allow_tf32 = allow, allow
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


@contextmanager
def network_precision(precision: str, device: str) -> Iterator[None]:
    """The context a network call runs in: float32 work as :func:`float32_math` sets it, under
    bfloat16 autocast on ``device`` for ``bf16`` (so a restore called outside a run is IEEE too)."""
    import torch

    with float32_math(precision):
        if precision != "bf16":
            yield
            return
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
            yield
