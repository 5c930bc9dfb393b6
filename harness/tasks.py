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


def check_task(task: str) -> str:
    """Return ``task`` if known, else raise an UnknownNameError with a suggestion."""
    from harness.errors import UnknownNameError

    if task not in TASKS:
        raise UnknownNameError("task", task, TASKS)
    return task
