"""Identity: the "no restoration" row every table needs (scores the degraded input itself)."""

from __future__ import annotations

import torch

from harness.restorer import ImageBatch, Restorer
from harness.tasks import TASKS


class Identity(Restorer):
    """Returns the input unchanged."""

    name = "identity"
    summary = "No restoration: the degraded input scored as is (the floor of every table)."
    tasks = tuple(TASKS)
    params = {"default": 0}
    loads_weights = False

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        """Return a copy of the input images."""
        return batch.images.clone()
