"""The registry of named metric protocols."""

from __future__ import annotations


def protocol_summaries() -> list[dict[str, object]]:
    """One row per protocol: name, signature and a one-line summary."""
    return []
