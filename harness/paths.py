"""Where the harness finds its shipped files and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

_PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = _PACKAGE_DIR.parent


def manifests_dir() -> Path:
    """The folder of benchmark manifests, suites and locks (env ``HARNESS_MANIFESTS`` overrides)."""
    env = os.environ.get("HARNESS_MANIFESTS")
    return Path(env) if env else REPO_ROOT / "manifests"


def reports_dir() -> Path:
    """The folder of report templates, paper reference tables and gate baselines."""
    return REPO_ROOT / "reports"


def default_cache_dir() -> Path:
    """The cache directory: env ``HARNESS_CACHE`` or the user cache dir."""
    env = os.environ.get("HARNESS_CACHE")
    return Path(env).expanduser() if env else Path(user_cache_dir("uir-harness"))


def default_data_root() -> Path:
    """Where benchmark data lives: env ``HARNESS_DATA`` or ``<cache>/data``."""
    env = os.environ.get("HARNESS_DATA")
    return Path(env).expanduser() if env else default_cache_dir() / "data"
