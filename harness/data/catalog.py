"""The catalogue of benchmark manifests and suites shipped under ``manifests/``."""

from __future__ import annotations


def benchmark_summaries() -> list[dict[str, object]]:
    """One row per benchmark manifest: name, task, setting and a one-line summary."""
    return []


def suite_summaries() -> list[dict[str, object]]:
    """One row per suite: name, summary and its benchmarks."""
    return []
