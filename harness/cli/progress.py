"""The run's progress display: one Rich bar per benchmark with images/s and ETA (CLI only)."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)


class _Bar:
    """The bar of one benchmark (a ``harness.runner.ProgressBar``)."""

    def __init__(self, progress: Progress, task: int) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more images done and refresh the rate."""
        self._progress.advance(self._task, n)
        speed = self._progress.tasks[self._task].speed
        self._progress.update(self._task, rate=f"{speed:.2f} img/s" if speed else "")

    def close(self) -> None:
        """Draw the final state."""
        self._progress.refresh()


class RichProgress:
    """A ``harness.runner.ProgressFactory`` drawing a Rich bar per benchmark; ``stop`` at the end."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._workers: TaskID | None = None
        self._progress.start()

    def __call__(self, name: str, total: int) -> _Bar:
        return _Bar(self._progress, self._progress.add_task(name, total=total, rate=""))

    def workers(self, alive: int, total: int) -> None:
        """Show how many of a cluster's workers are alive (a ``harness.runner.WorkersDisplay``)."""
        if self._workers is None:
            self._workers = self._progress.add_task("ray workers", total=total, rate="alive")
        self._progress.update(self._workers, total=total, completed=alive)

    def stop(self) -> None:
        """Stop drawing."""
        self._progress.stop()
