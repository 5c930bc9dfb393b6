"""Where a run's numbers come from: the run identity (and its config key) and the environment.

This module owns the run identity fields. ``KEY_FIELDS`` are hashed into the config key: everything
that can change a number, so running the same configuration again resumes the same run.
``RUN_COLUMNS`` are the identity and environment fields the result store keeps as columns of its
``runs`` table (``harness.store`` imports them from here).
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import subprocess
from collections.abc import Mapping
from typing import Any

from harness import __version__

KEY_FIELDS = (
    "method",
    "variant",
    "weights_sha256",
    "suite",
    "protocol",
    "seed",
    "steps",
    "device",
    "batch_size",
    "package_version",
    "options",
)
"""What can change a number (hashed, in this order-independent JSON form, into the config key)."""

ENVIRONMENT_FIELDS = (
    "package_version",
    "torch_version",
    "cuda_version",
    "python_version",
    "git_commit",
    "host",
)
"""Versions and host, recorded with every run (only the package version is part of the key)."""

RUN_COLUMNS = (
    "method",
    "variant",
    "weights",
    "weights_sha256",
    "suite",
    "protocol",
    "seed",
    "steps",
    "device",
    "batch_size",
    "blind",
    *ENVIRONMENT_FIELDS,
)
"""The fields stored as columns of the runs table (``options`` live in the config JSON). ``blind``
(whether the method restores without the task label) follows from the method, so it is recorded
but not hashed into the key."""


def config_key(fields: Mapping[str, Any]) -> str:
    """A stable hash of what can change a number: the same key resumes the same run."""
    keep = {k: fields.get(k) for k in KEY_FIELDS}
    blob = json.dumps(keep, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def git_commit() -> str | None:
    """The commit of the harness source checkout (None for an installed wheel, or without git)."""
    from harness.paths import source_checkout

    checkout = source_checkout()
    if checkout is None:  # site-packages may sit inside some other repository: record nothing
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment_fields(device: str) -> dict[str, Any]:
    """Versions and host recorded with every run (``ENVIRONMENT_FIELDS``)."""
    import torch

    return {
        "package_version": __version__,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda if device.startswith("cuda") else None,
        "python_version": platform.python_version(),
        "git_commit": git_commit(),
        "host": socket.gethostname(),
    }
