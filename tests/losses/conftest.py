"""The tiny ADM saved as a checkpoint file, as the official weights are."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.losses.tiny import tiny_adm


@pytest.fixture()
def tiny_adm_file(tmp_path: Path) -> Path:
    """The tiny ADM's state_dict saved with torch.save."""
    path = tmp_path / "tiny_adm.pt"
    torch.save(tiny_adm().state_dict(), path)
    return path
