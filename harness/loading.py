"""Loading a benchmark's pairs for a run: read, hash and decode in DataLoader workers, in batches.

Each file is read once: its sha256 comes from the bytes that are decoded, and is compared with the
sha256 the lock pins (``lock_verdict``), so a run checks every byte it scores at no extra I/O.
Problems (unreadable, undecodable or differing files) become data on the item, never raises, so a
bad image is a failed item and the benchmark goes on. Images of equal size are batched together;
workers die with the process that started them.
"""

from __future__ import annotations

import ctypes
import functools
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from harness.errors import HarnessError
from harness.hashing import sha256_bytes, sha256_file
from harness.images import decode_image, image_size, read_file

T = TypeVar("T")

if TYPE_CHECKING:
    import numpy as np

    from harness.store import ScoredBytes


class PairSource(Protocol):
    """One test item as the data layer hands it over (see ``harness.data.benchmark.Pair``)."""

    @property
    def id(self) -> str: ...
    @property
    def input(self) -> Path: ...
    @property
    def target(self) -> Path | None: ...
    @property
    def input_sha256(self) -> str | None:
        """The sha256 the lock pins for the input (None when the lock does not list it)."""

    @property
    def target_sha256(self) -> str | None:
        """The sha256 the lock pins for the target."""


@dataclass
class LoadedPair:
    """One pair as read: decoded arrays (None on error), the sha256 of the bytes read, why not."""

    index: int
    image_id: str
    input_path: str
    target_path: str | None
    input: np.ndarray | None = None
    target: np.ndarray | None = None
    input_sha256: str | None = None
    target_sha256: str | None = None
    verified: bool | None = None
    """Whether the bytes read are the ones the lock pins; None when the benchmark is not pinned."""
    error: str | None = None
    decode_ms: float = 0.0


def lock_verdict(
    pinned: bool, pair: PairSource, input_sha256: str | None, target_sha256: str | None
) -> bool | None:
    """Whether the bytes read are the ones the lock pins (None when the benchmark has no lock)."""
    if not pinned:
        return None
    return input_sha256 == pair.input_sha256 and (
        pair.target is None or target_sha256 == pair.target_sha256
    )


def _differs_from_lock(pair: PairSource, input_sha256: str, target_sha256: str | None) -> str:
    files = [(pair.input, input_sha256, pair.input_sha256)]
    if pair.target is not None:
        files.append((pair.target, target_sha256, pair.target_sha256))
    parts = [
        f"{path}: bytes differ from the lock (sha256 {got[:12]}..., "
        + (f"pinned {want[:12]}...)" if want else "not listed in the lock)")
        for path, got, want in files
        if got != want
    ]
    return "; ".join(parts) + "; restore the file(s) or run with --allow-unverified"


class PairDataset:
    """Reads, hashes and decodes one pair per index (in DataLoader workers); errors become data.

    Without ``allow_unverified`` a file whose bytes differ from the lock is not decoded: the item
    carries the reason instead.
    """

    def __init__(
        self, pairs: Sequence[PairSource], *, pinned: bool, allow_unverified: bool
    ) -> None:
        self.pairs = pairs
        self.pinned = pinned
        self.allow_unverified = allow_unverified

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> LoadedPair:
        pair = self.pairs[index]
        target = pair.target
        item = LoadedPair(
            index, str(pair.id), str(pair.input), None if target is None else str(target)
        )
        t0 = time.perf_counter()
        try:
            input_bytes = read_file(pair.input)
            item.input_sha256 = sha256_bytes(input_bytes)
            target_bytes = None if target is None else read_file(target)
            if target_bytes is not None:
                item.target_sha256 = sha256_bytes(target_bytes)
            item.verified = lock_verdict(self.pinned, pair, item.input_sha256, item.target_sha256)
            if item.verified is False and not self.allow_unverified:
                raise HarnessError(_differs_from_lock(pair, item.input_sha256, item.target_sha256))
            item.input = decode_image(input_bytes, pair.input, convert=True)
            if target_bytes is not None:
                item.target = decode_image(target_bytes, target)  # type: ignore[arg-type]
                if item.target.shape != item.input.shape:
                    raise HarnessError(
                        f"{target}: ground truth is {item.target.shape[1]}x{item.target.shape[0]}"
                        f" but the input is {item.input.shape[1]}x{item.input.shape[0]}"
                    )
        except HarnessError as exc:
            item.error = str(exc).splitlines()[0]
            item.input = item.target = None
        item.decode_ms = (time.perf_counter() - t0) * 1000.0
        return item


def scored_on_these_bytes(
    prior: ScoredBytes, pair: PairSource, *, pinned: bool, allow_unverified: bool
) -> bool:
    """Whether a stored result was scored on the bytes now on disk, so a resume may keep it.

    Without ``allow_unverified`` a result on bytes that differ from the lock is never kept.
    """
    try:
        input_sha = sha256_file(pair.input)
        target_sha = None if pair.target is None else sha256_file(pair.target)
    except OSError:
        return False  # loading it again records why
    verdict = lock_verdict(pinned, pair, input_sha, target_sha)
    if verdict is False and not allow_unverified:
        return False
    return (prior.input_sha256, prior.target_sha256, prior.verified) == (
        input_sha,
        target_sha,
        verdict,
    )


def image_sizes(pairs: Sequence[PairSource]) -> list[tuple[int, int] | None]:
    """(height, width) of each pair's input from its header (None when unreadable)."""
    return [image_size(p.input) for p in pairs]


def size_batches(sizes: list[tuple[int, int] | None], batch_size: int) -> list[list[int]]:
    """Group indices into batches of equal image size (unreadable sizes go alone), stable order."""
    groups: dict[object, list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(size if size is not None else ("unknown", i), []).append(i)
    batches: list[list[int]] = []
    for indices in groups.values():
        for start in range(0, len(indices), max(1, batch_size)):
            batches.append(indices[start : start + max(1, batch_size)])
    batches.sort(key=lambda b: b[0])
    return batches


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent_pid: int, _worker_id: int) -> None:
    """DataLoader worker set-up: have the kernel kill this worker when the run process dies.

    On Linux via prctl(PR_SET_PDEATHSIG); elsewhere torch's own watchdog ends idle workers whose
    parent is gone (a worker blocked on a full pipe may then linger).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def default_workers() -> int:
    """Decode worker processes when ``--workers`` is not given: none on two cores or fewer (a
    decode thread prefetches instead: a process there only competes with the model and takes
    ~60 ms to start for every benchmark), else up to 4, leaving one core to the model."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores - 1)


PREFETCH = 2
"""Batches the decode thread keeps ready when there are no decode worker processes."""


def prefetched(batches: Iterable[T], depth: int = PREFETCH) -> Iterator[T]:
    """Iterate ``batches`` on a background thread, up to ``depth`` items ahead, so that decoding
    and hashing (PIL, hashlib and numpy release the GIL) overlap the model; errors are raised
    here, and leaving the loop early stops the thread."""
    ready: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(("batch", batch)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            offer(("error", exc))
            return
        offer(("end", None))

    thread = threading.Thread(target=produce, name="harness-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


def _as_list(items: list[LoadedPair]) -> list[LoadedPair]:
    return items


def load_batches(
    pairs: Sequence[PairSource],
    sizes: list[tuple[int, int] | None],
    *,
    pinned: bool,
    allow_unverified: bool,
    batch_size: int,
    workers: int | None,
) -> Iterable[list[LoadedPair]]:
    """Batches of loaded pairs of equal input size (``sizes`` from :func:`image_sizes`), decoded by
    ``workers`` DataLoader processes, or with none by a thread of this process."""
    from torch.utils.data import DataLoader

    workers = default_workers() if workers is None else workers
    loader = DataLoader(
        PairDataset(pairs, pinned=pinned, allow_unverified=allow_unverified),
        batch_sampler=size_batches(sizes, batch_size),
        collate_fn=_as_list,
        num_workers=workers if len(pairs) > 1 else 0,
        worker_init_fn=functools.partial(die_with_parent, os.getpid()),
    )
    return loader if loader.num_workers else prefetched(loader)
