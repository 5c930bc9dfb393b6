"""Optional bridge to pyiqa's metric zoo (LPIPS, MUSIQ, CLIP-IQA, ...) through the ``iqa`` extra.

pyiqa (github.com/chaofengc/IQA-PyTorch) is licensed PolyForm Noncommercial; it is never a core
dependency. The harness never lets it download: a weight file that is not already in pyiqa's
cache raises :class:`MissingFileError` naming the file, where it comes from and where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, MissingFileError


def _load_pyiqa() -> Any:
    try:
        import pyiqa
    except ImportError:
        raise HarnessError(
            "the pyiqa metric backend is not installed",
            hint="pip install 'uir-harness[iqa]' (pyiqa is non-commercial; check its licence)",
        ) from None
    return pyiqa


def _offline_download(url: str, model_dir: str | None = None, *args: Any, **kwargs: Any) -> str:
    """Replacement for pyiqa's downloader: return a cached file or fail with a precise message."""
    import torch

    folder = Path(model_dir) if model_dir else Path(torch.hub.get_dir()) / "pyiqa"
    name = kwargs.get("file_name") or os.path.basename(url.split("?")[0])
    path = folder / name
    if path.is_file():
        return str(path)
    raise MissingFileError("pyiqa weight file", str(path), source=url)


def create_iqa_metric(name: str, device: str = "cpu") -> Any:
    """A pyiqa metric by name, refusing any download (weights must already be cached)."""
    pyiqa = _load_pyiqa()
    import importlib

    for module_name in ("pyiqa.utils.download_util", "pyiqa.archs.arch_util"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, "load_file_from_url"):
            module.load_file_from_url = _offline_download
    if name not in pyiqa.list_models():
        from harness.errors import UnknownNameError

        raise UnknownNameError("pyiqa metric", name, pyiqa.list_models())
    return pyiqa.create_metric(name, device=device)
