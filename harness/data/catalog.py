"""The catalogue of benchmark manifests and suites shipped under ``manifests/``."""

from __future__ import annotations

import itertools
import unicodedata
from functools import lru_cache
from pathlib import Path, PurePosixPath

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.data.manifest import Manifest, ManifestError, parse_manifest
from harness.errors import UnknownNameError
from harness.paths import manifests_dir


class Suite(BaseModel):
    """A named list of benchmarks (``manifests/suites/<name>.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    summary: str
    benchmarks: list[str]
    note: str | None = None


def _manifest_files() -> dict[str, Path]:
    root = manifests_dir()
    return {p.stem: p for p in sorted(root.glob("*.yaml"))} if root.is_dir() else {}


def _suite_files() -> dict[str, Path]:
    root = manifests_dir() / "suites"
    return {p.stem: p for p in sorted(root.glob("*.yaml"))} if root.is_dir() else {}


def benchmark_names() -> list[str]:
    """Every benchmark with a manifest, sorted."""
    return sorted(_manifest_files())


def suite_names() -> list[str]:
    """Every suite, sorted."""
    return sorted(_suite_files())


@lru_cache(maxsize=256)
def _load_manifest_cached(path: Path, mtime_ns: int) -> Manifest:
    return parse_manifest(path)


def _root_key(manifest: Manifest) -> tuple[bool, PurePosixPath]:
    # Case- and Unicode-folded: on macOS and Windows 'LOL/test' and 'lol/test' are one folder.
    folded = unicodedata.normalize("NFC", manifest.layout.root).casefold()
    return manifest.embedded, PurePosixPath(folded)


def check_disjoint_roots(manifests: dict[Path, Manifest]) -> None:
    """Refuse two benchmarks whose roots are equal or nested: importing one would replace the other.

    Embedded benchmarks live under ``manifests/embedded``, so they are compared among themselves.
    """
    for (path_a, a), (path_b, b) in itertools.combinations(manifests.items(), 2):
        (embedded_a, root_a), (embedded_b, root_b) = _root_key(a), _root_key(b)
        if embedded_a != embedded_b:
            continue
        if root_a == root_b or root_a in root_b.parents or root_b in root_a.parents:
            raise ManifestError(
                f"{path_a} and {path_b}: layout.root {a.layout.root!r} and "
                f"{b.layout.root!r} overlap (equal, or one inside the other)",
                hint="give each benchmark a folder of its own that holds no other benchmark",
            )


@lru_cache(maxsize=8)
def _catalogue(files: tuple[tuple[str, Path, int], ...]) -> dict[str, Manifest]:
    manifests = {path: _load_manifest_cached(path, mtime) for _, path, mtime in files}
    check_disjoint_roots(manifests)
    return {name: manifests[path] for name, path, _ in files}


def load_manifest(name: str) -> Manifest:
    """The validated manifest of benchmark ``name`` (UnknownNameError if there is none).

    The whole catalogue is validated with it (every manifest, and no two benchmark roots overlap).
    """
    files = _manifest_files()
    if name not in files:
        raise UnknownNameError("benchmark", name, files)
    key = tuple((n, p, p.stat().st_mtime_ns) for n, p in files.items())
    return _catalogue(key)[name]


def load_suite(name: str) -> Suite:
    """The validated suite ``name``; every member must be a known benchmark."""
    files = _suite_files()
    if name not in files:
        raise UnknownNameError("suite", name, files)
    path = files[name]
    try:
        suite = Suite.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ValidationError, yaml.YAMLError) as exc:
        raise ManifestError(f"{path}: invalid suite ({exc})") from None
    known = set(benchmark_names())
    for member in suite.benchmarks:
        if member not in known:
            raise ManifestError(f"{path}: suite member {member!r} has no manifest")
    if len(set(suite.benchmarks)) != len(suite.benchmarks):
        raise ManifestError(f"{path}: suite lists a benchmark twice")
    return suite


def resolve_suite(name_or_benchmark: str) -> list[str]:
    """Benchmarks of a suite, in suite order; a benchmark name resolves to itself."""
    if name_or_benchmark in _suite_files():
        return list(load_suite(name_or_benchmark).benchmarks)
    if name_or_benchmark in _manifest_files():
        return [name_or_benchmark]
    raise UnknownNameError(
        "suite or benchmark", name_or_benchmark, [*_suite_files(), *_manifest_files()]
    )


def benchmark_summaries() -> list[dict[str, object]]:
    """One row per benchmark manifest: name, task, setting and a one-line summary."""
    rows: list[dict[str, object]] = []
    for name in benchmark_names():
        m = load_manifest(name)
        rows.append(
            {
                "name": name,
                "summary": m.summary,
                "task": m.task,
                "setting": m.setting,
                "protocol": m.protocol,
                "has_gt": m.has_gt,
                "embedded": m.embedded,
            }
        )
    return rows


def suite_summaries() -> list[dict[str, object]]:
    """One row per suite: name, summary and its benchmarks."""
    return [
        {"name": s.name, "summary": s.summary, "benchmarks": list(s.benchmarks)}
        for s in (load_suite(n) for n in suite_names())
    ]
