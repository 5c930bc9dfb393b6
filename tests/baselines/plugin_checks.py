"""Helpers for the learned-plugin tests: official-container files, the CLI, stored runs.

The checkpoints are written the way the official repositories save them (a container dict,
optionally a key prefix) from synthetic state_dicts built from the key files; the CLI is driven
in-process (``typer.testing.CliRunner``), as a user would type it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from typer.testing import CliRunner

from harness.cli import app
from harness.store import Store


def write_official(
    path: Path, state: dict[str, torch.Tensor], container: str, prefix: str = ""
) -> str:
    """Save ``{container: {prefix + key: tensor}}`` with torch.save; return the file's sha256."""
    torch.save({container: {prefix + k: v for k, v in state.items()}}, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def harness(*args: str | Path) -> Any:
    """Invoke the CLI in-process on the CPU; return the click result (exit code, output)."""
    return CliRunner().invoke(app, ["--device", "cpu", *(str(a) for a in args)])


def run_mini(store: Path, method: str, *args: str | Path) -> dict[str, Any]:
    """``harness run`` of one image per benchmark (no report, no FLOPs); the stored run row."""
    result = harness(
        "run", "-m", method, *args, "--limit", "1", "--no-report", "--no-flops",
        "--workers", "0", "--store", store,
    )  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    with Store(store, readonly=True) as s:
        (row,) = s.runs()
        row["results"] = s.results([row["run_id"]])
    return row


def complexity_params(method: str, variant: str) -> int:
    """Parameters that ``harness complexity`` reports (random init without weights, 16x16)."""
    result = harness(
        "complexity", method, "--variant", variant, "--size", "16x16",
        "--repeats", "0", "--warmup", "0", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    return int(json.loads(result.output)["params"])


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference of two same-shape tensors."""
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()
