"""Where weights live: the cache folder, a method's manifest, and the file of each entry."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError
from harness.paths import default_cache_dir
from harness.weights.schema import MANIFEST_NAME, WeightsEntry

if TYPE_CHECKING:
    from harness.restorer import Restorer


def weights_dir() -> Path:
    """The weights cache: env ``HARNESS_WEIGHTS``, else ``<cache dir>/weights``."""
    env = os.environ.get("HARNESS_WEIGHTS")
    return Path(env).expanduser() if env else default_cache_dir() / "weights"


def method_class(method: str) -> type[Restorer]:
    """The Restorer class registered as ``method`` (looked up at call time, so tests can fake it)."""
    from harness import registry

    return registry.method_class(method)


def manifest_path(cls: type) -> Path:
    """Where the weights manifest of a Restorer class lives (next to its module)."""
    return Path(inspect.getfile(cls)).resolve().parent / MANIFEST_NAME


def package_root(cls: type) -> Path:
    """The folder holding the class's top-level package (the repository root for baselines)."""
    module_dir = Path(inspect.getfile(cls)).resolve().parent
    depth = len(cls.__module__.split(".")) - 1
    return module_dir.parents[depth - 1] if depth >= 1 else module_dir


def entry_path(entry: WeightsEntry) -> Path:
    """Where the file of ``entry`` is (or should be put)."""
    if entry.shipped:
        root = package_root(method_class(entry.method)).resolve()
        path = (root / entry.file).resolve()
        if not path.is_relative_to(root):
            raise HarnessError(f"weights entry {entry.name!r}: path {entry.file!r} escapes {root}")
        return path
    base = (weights_dir() / entry.method).resolve()
    path = (base / entry.file).resolve()
    if not path.is_relative_to(base):
        raise HarnessError(f"weights entry {entry.name!r}: file {entry.file!r} escapes {base}")
    return path
