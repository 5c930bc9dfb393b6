"""Where the harness finds its shipped files and keeps its caches.

The shipped files (benchmark manifests, suites, locks and embedded mini images; report templates,
paper reference tables and gate baselines) live at the top of a source checkout, in ``manifests/``
and ``reports/``. A wheel carries the same folders inside the package, as ``harness/_data/manifests``
and ``harness/_data/reports`` (mapped in pyproject.toml). This module is the one place that knows
both layouts; everything else asks :func:`manifests_dir` and :func:`reports_dir`.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from platformdirs import user_cache_dir

from harness.errors import HarnessError

_PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = _PACKAGE_DIR.parent
"""The folder above the package. Only a source checkout when :func:`source_checkout` says so."""


def source_checkout() -> Path | None:
    """The source checkout the harness runs from (an editable install), or None when installed."""
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "manifests").is_dir():
        return REPO_ROOT
    return None


def _shipped_dir(name: str) -> Path:
    """A folder of shipped files: the installed package's copy, else the source checkout's."""
    installed = resources.files("harness") / "_data" / name
    if isinstance(installed, Path) and installed.is_dir():
        return installed
    checkout = source_checkout()
    if checkout is not None:
        return checkout / name
    raise HarnessError(
        f"the harness's shipped {name}/ folder is missing: not in the installed package "
        f"({installed}) and not in a source checkout",
        hint="reinstall uir-harness from a wheel or run it from a source checkout "
        "(pip install -e .)",
    )


def manifests_dir() -> Path:
    """The folder of benchmark manifests, suites and locks (env ``HARNESS_MANIFESTS`` overrides)."""
    env = os.environ.get("HARNESS_MANIFESTS")
    return Path(env) if env else _shipped_dir("manifests")


def reports_dir() -> Path:
    """The folder of report templates, paper reference tables and gate baselines."""
    return _shipped_dir("reports")


def default_cache_dir() -> Path:
    """The cache directory: env ``HARNESS_CACHE`` or the user cache dir."""
    env = os.environ.get("HARNESS_CACHE")
    return Path(env).expanduser() if env else Path(user_cache_dir("uir-harness"))


def default_data_root() -> Path:
    """Where benchmark data lives: env ``HARNESS_DATA`` or ``<cache>/data``."""
    env = os.environ.get("HARNESS_DATA")
    return Path(env).expanduser() if env else default_cache_dir() / "data"
