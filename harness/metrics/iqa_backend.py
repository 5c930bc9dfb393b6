"""Optional bridge to pyiqa's metric zoo (LPIPS, MUSIQ, CLIP-IQA, ...) through the ``iqa`` extra.

pyiqa (github.com/chaofengc/IQA-PyTorch) is licensed PolyForm Noncommercial; it is never a core
dependency. It backs the opt-in ``iqa-*`` protocols (``harness.metrics.protocols``). The harness
never lets it download: every ``load_file_from_url`` pyiqa's modules hold is replaced, so a weight
file that is not already in pyiqa's cache raises :class:`MissingFileError` naming the file, where
it comes from and where to put it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError, MissingFileError


def iqa_available() -> bool:
    """Whether pyiqa can be imported (found without importing it, so listings stay fast)."""
    try:
        return importlib.util.find_spec("pyiqa") is not None
    except ValueError:  # imported already, without a spec (a stand-in module)
        return sys.modules.get("pyiqa") is not None


def require_pyiqa() -> Any:
    """The pyiqa module, or a HarnessError saying how to install the extra."""
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


def _forbid_downloads() -> None:
    """Point every ``load_file_from_url`` that a loaded pyiqa module holds at the offline one."""
    for name, module in list(sys.modules.items()):
        if (name == "pyiqa" or name.startswith("pyiqa.")) and module is not None:
            if callable(getattr(module, "load_file_from_url", None)):
                module.load_file_from_url = _offline_download


def create_iqa_metric(name: str, device: str = "cpu") -> Any:
    """A pyiqa metric by name, refusing any download (weights must already be cached)."""
    pyiqa = require_pyiqa()
    _forbid_downloads()
    if name not in pyiqa.list_models():
        from harness.errors import UnknownNameError

        raise UnknownNameError("pyiqa metric", name, pyiqa.list_models())
    return pyiqa.create_metric(name, device=device)


@functools.cache
def _metric(pyiqa: Any, name: str, device: str) -> Any:
    """One metric object per pyiqa module, metric and device (building one loads its network)."""
    return create_iqa_metric(name, device)


def iqa_score(
    name: str, restored: np.ndarray, target: np.ndarray | None = None, device: str = "cpu"
) -> float:
    """The pyiqa metric ``name`` of one uint8 HxWx3 RGB image (against ``target`` if given).

    Images reach pyiqa as float [1, 3, H, W] tensors holding exactly value/255.
    """
    import torch

    from harness.images import to_tensor

    metric = _metric(require_pyiqa(), name, device)
    x = to_tensor(restored).unsqueeze(0).to(device)
    with torch.inference_mode():
        if target is None:
            out = metric(x)
        else:
            out = metric(x, to_tensor(target).unsqueeze(0).to(device))
    return float(torch.as_tensor(out).reshape(-1)[0])
