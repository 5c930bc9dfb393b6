"""Shared steps of the PromptIR and AdaIR plugin tests: official-container files and the CLI.

Both official checkpoints are PyTorch-Lightning files: the network's weights sit in
``ckpt['state_dict']`` under the prefix ``net.`` (the LightningModule holds the network as
``self.net``), next to loop and optimiser state. :func:`write_lightning_checkpoint` writes a file of
that shape from a key file's entries, with the synthetic weights of the Restormer-family reference
run (so outputs can be compared with the official modules' recorded outputs).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from click.testing import Result
from typer.testing import CliRunner

from harness.cli import app
from tests.baselines.keyfiles import read_key_file
from tests.baselines.restormer_family import synthetic_state_dict


def official_state(name: str) -> dict[str, torch.Tensor]:
    """The reference run's synthetic weights for every entry of key file ``name``."""
    return synthetic_state_dict([(e.key, e.shape) for e in read_key_file(name).entries])


def zeros_state(name: str) -> dict[str, torch.Tensor]:
    """Zeros of the key file's shapes: another method's checkpoint, where values do not matter."""
    return {e.key: torch.zeros(e.shape, dtype=e.dtype) for e in read_key_file(name).entries}


def write_lightning_checkpoint(path: Path, state: dict[str, torch.Tensor]) -> str:
    """Save ``state`` as a Lightning checkpoint (``state_dict``, prefix ``net.``); its sha256."""
    first = next(iter(state.values()))
    torch.save(
        {
            "epoch": 149,
            "global_step": 1_234,
            "pytorch-lightning_version": "2.0.0",
            "state_dict": {f"net.{k}": v for k, v in state.items()},
            "loops": {
                "fit_loop": {"state_dict": {}, "epoch_progress": {"current": {"ready": 150}}}
            },
            "callbacks": {},
            "optimizer_states": [
                {
                    "state": {
                        0: {"step": torch.tensor(1_234.0), "exp_avg": torch.zeros_like(first)}
                    },
                    "param_groups": [{"lr": 2e-4, "betas": (0.9, 0.999), "params": [0]}],
                }
            ],
            "lr_schedulers": [{"last_epoch": 149, "base_lrs": [2e-4]}],
        },
        path,
    )
    return hashlib.sha256(path.read_bytes()).hexdigest()


def harness(*args: str) -> Result:
    """``harness --device cpu ARGS`` in-process (the console entry point's app)."""
    return CliRunner().invoke(app, ["--device", "cpu", *args])
