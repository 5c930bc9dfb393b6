"""Open a benchmark: find its files, check them against the lock, pair inputs with targets by id."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from harness.data.catalog import load_manifest
from harness.data.lock import (
    Lock,
    LockError,
    compute_entries,
    hash_cache,
    image_dims,
    merkle_root,
    read_lock,
    verify_dir,
)
from harness.data.manifest import Manifest
from harness.data.safety import ensure_inside, walk_files
from harness.errors import HarnessError
from harness.paths import manifests_dir


class BenchmarkMissingError(HarnessError):
    """The data of a benchmark is not (all) there; the message says how to get it."""


class DataVerificationError(HarnessError):
    """The data on disk does not match the benchmark's lock."""


class PairingError(HarnessError):
    """Inputs and targets cannot be paired one-to-one by id (duplicates, orphans, wrong counts)."""


@dataclass(frozen=True)
class Pair:
    """One test item: an id, its degraded input and (if the benchmark has one) its ground truth.

    ``input_sha256`` / ``target_sha256`` are the digests the lock pins for those files (None when
    the benchmark has no lock or the lock does not list the file), for readers that check bytes.
    """

    id: str
    input: Path
    target: Path | None
    input_sha256: str | None = None
    target_sha256: str | None = None


def embedded_dir() -> Path:
    """Where the embedded (mini) benchmarks live in the repo."""
    return manifests_dir() / "embedded"


def lock_path(name: str) -> Path:
    """The lock file of benchmark ``name`` (it may not exist)."""
    return manifests_dir() / "locks" / f"{name}.lock"


def benchmark_root(manifest: Manifest, data_root: Path) -> Path:
    """The folder holding a benchmark's files (embedded ones ignore ``data_root``)."""
    base = embedded_dir() if manifest.embedded else Path(data_root)
    root = base / manifest.layout.root
    if root.exists():
        ensure_inside(root, base, f"data folder of {manifest.name}")
    return root


def how_to_get(manifest: Manifest) -> str:
    """Exact commands / instructions to obtain a benchmark's data."""
    name = manifest.name
    lines = [f"  harness data fetch {name}     (downloads plain-URL sources, else prints steps)"]
    lines.append(f"  harness data import {name} PATH   (a folder or archive you already have)")
    for source in manifest.sources:
        where = source.url or (f"{source.hf_repo}@{source.hf_revision}" if source.hf_repo else "")
        extra = f" (code {source.password})" if source.password else ""
        if where:
            lines.append(f"  source [{source.kind}]: {where}{extra}")
    lines.append(
        f"  expected layout: <data root>/{manifest.layout.root}/{manifest.layout.input}/"
        + (f" and {manifest.layout.target}/" if manifest.layout.target else "")
    )
    return "\n".join(lines)


def _missing_error(manifest: Manifest, root: Path, missing: list[str]) -> BenchmarkMissingError:
    listing = "\n".join(f"  missing: {m}" for m in missing)
    return BenchmarkMissingError(
        f"benchmark {manifest.name}: data not found under {root}\n{listing}\n"
        f"get it with:\n{how_to_get(manifest)}",
        hint="set --data-root (or HARNESS_DATA) if the data lives elsewhere",
    )


def _image_files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    exts = {e.lower() for e in extensions}
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.is_file() and p.suffix.lower() in exts
    )


def _ids(files: list[Path], pattern: str | None, side: str) -> dict[str, Path]:
    compiled = re.compile(pattern) if pattern else None
    by_id: dict[str, Path] = {}
    for file in files:
        if compiled is None:
            key = file.stem
        else:
            match = compiled.fullmatch(file.stem)
            if not match:
                raise PairingError(
                    f"{file}: {side} name does not match the pairing pattern {pattern!r}",
                    hint="remove the stray file or fix the manifest's pairing rule",
                )
            key = match["id"]
        if key in by_id:
            raise PairingError(
                f"duplicate {side} id {key!r}: {by_id[key]} and {file}",
                hint="keep one of the two files (ids must be unique; pairing is by id)",
            )
        by_id[key] = file
    return by_id


def build_pairs(manifest: Manifest, root: Path) -> list[Pair]:
    """Pair input and target files by id (stem or regex), never by sorted position."""
    layout, rule = manifest.layout, manifest.pairing
    input_dir = root / layout.input
    inputs = _image_files(input_dir, layout.extensions)
    if not inputs:
        raise _missing_error(manifest, root, [f"{input_dir} has no images"])
    in_pattern = rule.input_id if rule.rule == "regex" else None
    if not manifest.has_gt:
        return [Pair(k, v, None) for k, v in sorted(_ids(inputs, in_pattern, "input").items())]
    target_dir = root / layout.target  # type: ignore[operator]
    targets = _ids(
        _image_files(target_dir, layout.extensions),
        rule.target_id if rule.rule == "regex" else None,
        "target",
    )
    compiled = re.compile(in_pattern) if in_pattern else None
    pairs: list[Pair] = []
    used: set[str] = set()
    seen: set[str] = set()
    for file in inputs:
        if compiled is None:
            item_id = key = file.stem
        else:
            match = compiled.fullmatch(file.stem)
            if not match:
                raise PairingError(f"{file}: input name does not match {in_pattern!r}")
            key, item_id = match["id"], file.stem
        if item_id in seen:
            raise PairingError(
                f"duplicate input id {item_id!r} in {input_dir} (e.g. {file.name})",
                hint="keep one file per id (same stem with two extensions is ambiguous)",
            )
        seen.add(item_id)
        if key not in targets:
            raise PairingError(
                f"{file}: no target with id {key!r} in {target_dir}",
                hint="restore the missing ground-truth file or remove the orphan input",
            )
        if key in used and not rule.many_to_one:
            raise PairingError(f"target id {key!r} is claimed by two inputs (e.g. {file.name})")
        used.add(key)
        pairs.append(Pair(item_id, file, targets[key]))
    orphans = sorted(set(targets) - used)
    if orphans and rule.unmatched_targets == "error":
        raise PairingError(
            f"{len(orphans)} target(s) in {target_dir} have no input, e.g. "
            + ", ".join(str(targets[o].name) for o in orphans[:5]),
            hint="restore the missing inputs or remove the orphan targets",
        )
    return sorted(pairs, key=lambda p: p.id)


def _check_counts(manifest: Manifest, pairs: list[Pair], strict: bool) -> None:
    expected = manifest.counts.inputs
    if expected is None or expected == len(pairs):
        return
    message = (
        f"benchmark {manifest.name}: found {len(pairs)} inputs, the manifest expects {expected}"
        + (" (confirmed count)" if manifest.counts.confirmed else " (unconfirmed count)")
    )
    if strict and manifest.counts.confirmed:
        raise PairingError(
            message,
            hint=f"re-import the complete set (harness data import {manifest.name} PATH) "
            "or pass --allow-unverified",
        )
    warnings.warn(message, stacklevel=3)


def _check_sizes(manifest: Manifest, pairs: list[Pair], lock: Lock | None, root: Path) -> None:
    """Refuse pairs whose input and target differ in size (from the lock, else the headers).

    A file whose header cannot be read is left to the reader, which records it as a failed item.
    """
    if manifest.pairing.sizes != "equal" or not manifest.has_gt:
        return
    for pair in pairs:
        dims = []
        for file in (pair.input, pair.target):
            rel = file.relative_to(root).as_posix()  # type: ignore[union-attr]
            entry = lock.entries.get(rel) if lock else None
            dims.append(entry.dims if entry else image_dims(file))  # type: ignore[arg-type]
        if "-" not in dims and dims[0] != dims[1]:
            raise PairingError(
                f"pair {pair.id!r}: input {pair.input.name} is {dims[0]} but target "
                f"{pair.target.name} is {dims[1]}",  # type: ignore[union-attr]
                hint="the files do not belong together or one was resized; restore the originals"
                " (or pass --allow-unverified to record such pairs as failed items)",
            )


def _with_pinned_digests(pairs: list[Pair], lock: Lock, root: Path) -> list[Pair]:
    def pinned(file: Path | None) -> str | None:
        entry = None if file is None else lock.entries.get(file.relative_to(root).as_posix())
        return None if entry is None else entry.sha256

    return [replace(p, input_sha256=pinned(p.input), target_sha256=pinned(p.target)) for p in pairs]


class Benchmark:
    """A benchmark ready to iterate: manifest facts, id-paired files, their lock and its digest.

    ``verified`` and ``digest`` are known only when the bytes were checked on opening
    (``check_bytes``): then ``digest`` is the lock's Merkle root when every file matched it, else
    the root of the files on disk. Otherwise both are None and the reader checks every byte it
    reads against ``Pair.input_sha256`` / ``target_sha256``.
    """

    def __init__(
        self,
        manifest: Manifest,
        root: Path,
        pairs: list[Pair],
        lock: Lock | None,
        *,
        digest: str | None = None,
        verified: bool | None = None,
    ) -> None:
        self.manifest = manifest
        self.root = root
        self.pairs = pairs
        self.lock = lock
        self.digest = digest
        self.verified = verified

    name = property(lambda self: self.manifest.name, doc="Benchmark name.")
    task = property(lambda self: self.manifest.task, doc="Task label (e.g. derain).")
    setting = property(lambda self: self.manifest.setting, doc="universal or zero-shot.")
    degradations = property(
        lambda self: tuple(self.manifest.degradations), doc="Degradations the manifest lists."
    )
    has_gt = property(lambda self: self.manifest.has_gt, doc="Whether targets exist.")
    protocol = property(lambda self: self.manifest.protocol, doc="Metric protocol name.")
    pinned = property(lambda self: self.lock is not None, doc="Whether a lock pins the files.")

    @property
    def lock_digest(self) -> str | None:
        """The Merkle root of the lock (None when not pinned)."""
        return None if self.lock is None else self.lock.root

    @cached_property
    def preprocess(self) -> frozenset[str]:
        """Preprocessing flags a method may honour (e.g. lol-histeq)."""
        return self.manifest.preprocess_flags

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        if not self.pinned:
            state = "unpinned"
        elif self.verified is None:
            state = "pinned, bytes checked when read"
        else:
            state = "verified" if self.verified else "pinned, unverified"
        return f"Benchmark({self.name!r}, {len(self.pairs)} pairs, {state})"


def open_benchmark(
    name: str, data_root: Path, *, allow_unverified: bool = False, check_bytes: bool = True
) -> Benchmark:
    """Open benchmark ``name`` under ``data_root``: check it against its lock and pair by id.

    Raises BenchmarkMissingError when data is absent, DataVerificationError when it differs from
    the lock (unless ``allow_unverified``), PairingError for duplicates, orphans, wrong confirmed
    counts or size-mismatched pairs (the latter two only without ``allow_unverified``).

    With ``check_bytes`` every file is hashed here; without it only the file set and sizes are
    compared with the lock, for a reader that hashes what it reads (the runner).
    """
    manifest = load_manifest(name)
    root = benchmark_root(manifest, Path(data_root))
    missing = [str(root / d) for d in (manifest.layout.input, manifest.layout.target) if d]
    missing = [m for m in missing if not Path(m).is_dir()]
    if missing:
        raise _missing_error(manifest, root, missing)
    lock_file = lock_path(name)
    lock = read_lock(lock_file) if lock_file.is_file() else None
    digest: str | None = None
    verified: bool | None = None
    if lock is not None:
        report = verify_dir(lock, root, use_cache=False, hash_bytes=check_bytes)
        if not report.ok and not allow_unverified:
            raise DataVerificationError(
                report.describe(),
                hint=f"restore the files (harness data import {name} PATH), inspect with "
                f"`harness data verify {name}`, or run with --allow-unverified "
                "(the result is then marked unverified)",
            )
        if not report.ok:
            warnings.warn(report.describe(limit=5), stacklevel=2)
        if check_bytes:
            verified = report.ok
            digest = lock.root if report.ok else merkle_root(compute_entries(root))
    elif check_bytes:
        digest = merkle_root(compute_entries(root))
    pairs = build_pairs(manifest, root)
    _check_counts(manifest, pairs, strict=not allow_unverified)
    if not allow_unverified:
        _check_sizes(manifest, pairs, lock, root)
    if lock is not None:
        pairs = _with_pinned_digests(pairs, lock, root)
    return Benchmark(manifest, root, pairs, lock, digest=digest, verified=verified)


def benchmark_status(name: str, data_root: Path) -> str:
    """``missing``, ``present`` (files exist) or ``verified`` (cached hashes match the lock)."""
    manifest = load_manifest(name)
    root = benchmark_root(manifest, Path(data_root))
    folders = [d for d in (manifest.layout.input, manifest.layout.target) if d]
    if not all((root / d).is_dir() and any((root / d).iterdir()) for d in folders):
        return "missing"
    lock_file = lock_path(name)
    if not lock_file.is_file():
        return "present"
    try:
        lock = read_lock(lock_file)
        files = walk_files(root)
    except (LockError, HarnessError):
        return "present"
    if set(files) != set(lock.entries):
        return "present"
    cache = hash_cache()
    for rel, entry in lock.entries.items():
        if cache.get(root / rel) != entry.sha256:
            return "present"
    return "verified"
