"""The user-level index of added weights, ``<weights dir>/index.yaml``: entries and sha256 pins.

``weights:`` holds the entries ``harness weights add`` recorded; ``pins:`` maps
``method:entry-name`` to the sha256 of a file the shipped manifest names without a checksum (trust
on first pin). The repository is never written. Writes replace the file atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.weights.layout import weights_dir
from harness.weights.schema import WeightsEntry, parse_entries, read_yaml

USER_INDEX_NAME = "index.yaml"


def user_index_path() -> Path:
    """The user-level index of weights added with ``harness weights add``."""
    return weights_dir() / USER_INDEX_NAME


def _read() -> dict[str, Any]:
    path = user_index_path()
    if not path.is_file():
        return {}
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping with 'weights:' and 'pins:'")
    return data


def _pins(data: dict[str, Any]) -> dict[str, str]:
    pins = data.get("pins") or {}
    if not isinstance(pins, dict):
        raise HarnessError(f"{user_index_path()}: 'pins:' must map method:name to a sha256")
    return {str(k): str(v) for k, v in pins.items()}


def user_entries(method: str | None = None) -> list[WeightsEntry]:
    """Entries the user added (all methods, or one)."""
    entries = parse_entries(_read().get("weights", []), user_index_path())
    return [e for e in entries if method is None or e.method == method]


def pinned_sha256(entry: WeightsEntry) -> str | None:
    """The entry's sha256, or, when the manifest pins none, the one the user pinned for it.

    That second case is "trust on first pin": ``harness weights add`` of a file that the manifest
    names without a checksum records its sha256 under ``pins:``, and later loads are checked
    against it.
    """
    if entry.sha256 is not None:
        return entry.sha256
    return _pins(_read()).get(f"{entry.method}:{entry.name}")


def record_entry(entry: WeightsEntry) -> None:
    """Add ``entry`` to the index, replacing the entry of the same method and name (if any)."""
    data = _read()
    kept = [e for e in user_entries() if (e.method, e.name) != (entry.method, entry.name)]
    _write([*kept, entry], _pins(data))


def record_pin(entry: WeightsEntry, sha: str) -> None:
    """Pin ``sha`` as the sha256 of the manifest entry ``entry`` (which pins none)."""
    pins = _pins(_read())
    pins[f"{entry.method}:{entry.name}"] = sha
    _write(user_entries(), pins)


def _write(entries: list[WeightsEntry], pins: dict[str, str]) -> None:
    import yaml

    out = {"weights": [e.model_dump(exclude_none=True) for e in entries], "pins": pins}
    path = user_index_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(yaml.safe_dump(out, sort_keys=False), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
