"""Global options shared by every command (data root, cache dir, device, verbosity)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.paths import default_cache_dir, default_data_root


@dataclass
class Settings:
    """What the global CLI options resolved to; commands read it from the typer context."""

    data_root: Path = field(default_factory=default_data_root)
    cache_dir: Path = field(default_factory=default_cache_dir)
    device: str = "auto"
    verbosity: int = 0


def resolve_device(spec: str = "auto") -> str:
    """Turn ``auto|cpu|cuda|cuda:N`` into a concrete torch device string, failing clearly."""
    from harness.errors import HarnessError

    spec = spec.strip().lower()
    if spec == "cpu":
        return "cpu"
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise HarnessError(
                f"device {spec!r} asked for, but torch sees no CUDA GPU",
                hint="use --device cpu (or auto)",
            )
        if ":" in spec:
            index = int(spec.split(":", 1)[1])
            if index >= torch.cuda.device_count():
                raise HarnessError(
                    f"device {spec!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist"
                )
        return spec
    raise HarnessError(f"unknown device {spec!r}", hint="use auto, cpu, cuda or cuda:N")


def require_folder(path: Path, option: str) -> None:
    """Refuse the folder ``path`` (from ``option``) when it, or one above it, is not a folder."""
    from harness.errors import HarnessError

    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            if not candidate.is_dir():
                raise HarnessError(
                    f"{option}: {candidate} exists and is not a folder (needed for {path})",
                    hint=f"choose another {option}",
                )
            return
