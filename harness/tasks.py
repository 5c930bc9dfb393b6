"""The restoration tasks and degradations the harness knows, with the words used in tables.

One owner of the vocabulary: manifests name degradations from :data:`DEGRADATIONS`, checkpoints
declare the tasks they were trained on from :data:`TRAINING_TASKS`, and :func:`within_setting`
says whether a checkpoint's training setting covers a benchmark (reports grey the cells where it
does not: "out of setting", still scored).
"""

from __future__ import annotations

from collections.abc import Iterable

TASKS: dict[str, str] = {
    "derain": "Deraining",
    "desnow": "Desnowing",
    "dehaze": "Dehazing",
    "deblur": "Deblurring",
    "lowlight": "Low-light enhancement",
    "udc": "Under-display camera",
}

UNIVERSAL_TASKS: tuple[str, ...] = ("derain", "lowlight", "desnow", "dehaze", "deblur")

TRAINING_TASKS: dict[str, str] = {
    **TASKS,
    "denoise": "Denoising",
    "superres": "Super-resolution",
    "retouch": "Photo retouching",
}
"""Tasks a checkpoint may have been trained on: the benchmark tasks and those no benchmark tests."""

DEGRADATIONS: dict[str, str | None] = {
    "rain": "derain",
    "snow": "desnow",
    "haze": "dehaze",
    "motion-blur": "deblur",
    "low-light": "lowlight",
    "udc": "udc",
    "noise": "denoise",
    "defocus": None,
    "colour-cast": None,
}
"""Each degradation a manifest may list, and the training task that covers it (None: no task
the harness knows trains for it, so no checkpoint's setting covers it)."""


def within_setting(trained_tasks: Iterable[str], task: str, degradations: Iterable[str]) -> bool:
    """Whether a checkpoint trained on ``trained_tasks`` covers a benchmark.

    Judged by the benchmark's degradations when its manifest lists them (every one must map to a
    trained task: a derain-only checkpoint does not cover a haze+rain mix), else by its task label.
    """
    trained = set(trained_tasks)
    listed = list(degradations)
    if not listed:
        return task in trained
    return all(DEGRADATIONS.get(d) in trained for d in listed)
