"""Fixtures for the DiffUIR tests: key list, random upstream-format checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.diffuir.reference import random_unet_weights, write_upstream_checkpoint

KEYS_FILE = Path(__file__).parent / "data" / "diffuir_state_dict_keys.txt"


@pytest.fixture(scope="session")
def keys_file() -> Path:
    return KEYS_FILE


@pytest.fixture(scope="session")
def t_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """An upstream-format DiffUIR-T training checkpoint: (path, ema weights, raw weights)."""
    ema = random_unet_weights("t", KEYS_FILE, seed=1)
    raw = random_unet_weights("t", KEYS_FILE, seed=2)
    path = tmp_path_factory.mktemp("ckpt") / "model-300.pt"
    write_upstream_checkpoint(path, ema, raw)
    return path, ema, raw
