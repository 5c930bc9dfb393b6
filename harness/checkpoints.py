"""Safe loading of checkpoint files: they are untrusted input.

Only ``safetensors`` files and ``torch.load(..., weights_only=True)`` are used; a pickle that needs
arbitrary code is refused with instructions to convert it on a machine where the file is trusted.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, MissingFileError
from harness.hashing import sha256_file


class ChecksumMismatchError(HarnessError):
    """A file whose sha256 differs from the one pinned for it (tampered or wrong file)."""


class UnsafeCheckpointError(HarnessError):
    """A pickle checkpoint that cannot be loaded with ``weights_only=True``."""


def verify_sha256(path: str | Path, expected: str | None) -> str:
    """Return the file's sha256; raise ChecksumMismatchError when ``expected`` is given and differs."""
    actual = sha256_file(path)
    if expected and actual.lower() != expected.lower():
        raise ChecksumMismatchError(
            f"{path}: sha256 {actual} does not match the pinned {expected.lower()}",
            hint="the file is corrupt, tampered with, or a different release; fetch it again",
        )
    return actual


def _check_torch_format(path: Path) -> None:
    """Refuse a file that is neither a torch zip archive nor a pickle, before unpickling it."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    if head[:1] == b"\x80" or zipfile.is_zipfile(path):  # a pickle protocol mark, or torch's zip
        return
    hint = "pass a .pt/.pth/.ckpt file written by torch.save, or a .safetensors file"
    if head[8:9] == b"{":  # safetensors: an 8-byte header length, then the JSON header
        hint = "this looks like a safetensors file: give it the .safetensors suffix"
    raise HarnessError(
        f"{path}: not a checkpoint (neither a torch file nor safetensors)", hint=hint
    )


def load_checkpoint(
    path: str | Path,
    *,
    expected_sha256: str | None = None,
    source: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Load a checkpoint safely; return (its content, its sha256).

    safetensors files give a flat dict of tensors; ``.pt``/``.pth``/``.ckpt`` files are read with
    ``weights_only=True`` and may be nested dicts (e.g. a training dict with ``ema``/``model``).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError("checkpoint", str(path), sha256=expected_sha256, source=source)
    sha = verify_sha256(path, expected_sha256)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu")), sha
        except Exception as exc:
            raise HarnessError(f"{path}: not a valid safetensors file ({exc})") from None
    _check_torch_format(path)
    import pickle

    import torch

    try:
        content = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path}: this checkpoint needs more than plain tensors to load ({exc}); "
            "the harness loads checkpoints only with weights_only=True",
            hint=(
                'if you trust the file, convert it once: python -c "import torch; '
                "from safetensors.torch import save_file; "
                f"sd=torch.load('{path.name}', weights_only=False); ...\" and save the state_dict "
                "you need with safetensors, then pass the .safetensors file"
            ),
        ) from None
    except Exception as exc:
        raise HarnessError(f"{path}: cannot read checkpoint ({exc})") from None
    if not isinstance(content, dict):
        raise HarnessError(f"{path}: expected a dict of tensors, found {type(content).__name__}")
    return content, sha
