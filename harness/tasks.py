"""The restoration tasks the harness knows, with the words used in tables."""

from __future__ import annotations

TASKS: dict[str, str] = {
    "derain": "Deraining",
    "desnow": "Desnowing",
    "dehaze": "Dehazing",
    "deblur": "Deblurring",
    "lowlight": "Low-light enhancement",
    "udc": "Under-display camera",
}

UNIVERSAL_TASKS: tuple[str, ...] = ("derain", "lowlight", "desnow", "dehaze", "deblur")
