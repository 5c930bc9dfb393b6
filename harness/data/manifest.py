"""The benchmark manifest schema (one YAML per benchmark under ``manifests/``).

Manifests are untrusted input: unknown fields are rejected, layout paths must stay inside the data
root, and every fact carries a ``confirmed`` flag or sits in ``facts.confirmed`` / ``facts.inferred``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.data.safety import safe_benchmark_root, safe_relative_path
from harness.errors import HarnessError
from harness.images import IMAGE_EXTENSIONS
from harness.metrics.protocols import get_protocol, protocol_names
from harness.tasks import DEGRADATIONS, TASKS

PREPROCESS_FLAGS = ("lol-histeq", "udc-half-split")
SOURCE_KINDS = ("url", "gdrive", "baidu", "box", "hf", "manual", "embedded")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REVISION = re.compile(r"^[0-9a-f]{40}$")


class ManifestError(HarnessError):
    """A manifest file that does not validate; names the file and each bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def safe_relative(path: str, what: str) -> str:
    """Return ``path`` if it is a plain relative POSIX path that cannot leave its root."""
    safe_relative_path(path, what)
    return path


class Source(_Strict):
    """Where (part of) a benchmark comes from, as published."""

    kind: Literal["url", "gdrive", "baidu", "box", "hf", "manual", "embedded"]
    url: str | None = None
    archive: str | None = Field(None, description="file name of the archive as downloaded")
    size: int | None = Field(None, description="archive size in bytes where published")
    sha256: str | None = None
    sha256_from: str | None = Field(None, description="who published the checksum")
    password: str | None = Field(None, description="extraction code (Baidu) where published")
    hf_repo: str | None = None
    hf_revision: str | None = Field(None, description="40-hex commit sha of the Hub dataset")
    strip_prefix: str | None = Field(None, description="archive folder that maps to layout.root")
    contains: str | None = None
    instructions: str | None = None
    confirmed: bool = False

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return value

    @field_validator("strip_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        return None if value is None else safe_relative(value, "strip_prefix")

    @model_validator(mode="after")
    def _complete(self) -> Source:
        if self.kind in ("url", "gdrive", "baidu", "box") and not self.url:
            raise ValueError(f"a {self.kind} source needs a url")
        if self.sha256 and not self.sha256_from:
            raise ValueError("a published sha256 needs sha256_from (who published it)")
        if self.kind == "hf":
            if not self.hf_repo:
                raise ValueError("an hf source needs hf_repo")
            if not (self.hf_revision and _REVISION.match(self.hf_revision)):
                raise ValueError("an hf source must be pinned: hf_revision = 40-hex commit sha")
        return self


class Counts(_Strict):
    """Expected file counts; ``confirmed`` says whether a primary source states them."""

    inputs: int | None = Field(None, ge=0)
    targets: int | None = Field(None, ge=0)
    confirmed: bool = False
    note: str | None = None


class Layout(_Strict):
    """Canonical layout under ``<data root>/<root>``: an input folder and (maybe) a target folder.

    ``root`` is the benchmark's own folder: ``harness data import`` replaces it as a whole, so it
    may not be the data root (``.``); that it overlaps no other benchmark's root is checked where
    the catalogue is loaded. Layout paths are stored normalised (``./a//b/`` -> ``a/b``).
    """

    root: str
    input: str = "input"
    target: str | None = "target"
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        return safe_benchmark_root(value)

    @field_validator("input", "target")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        return None if value is None else safe_relative_path(value, "layout path").as_posix()


class Pairing(_Strict):
    """How inputs meet targets: by id, never by sorted index.

    ``same-stem``: the id is the file stem on both sides. ``regex``: ``input_id`` / ``target_id`` are
    regular expressions with a named group ``id`` applied to each stem (e.g. SOTS ``0001_0.8_0.2``
    -> ``0001``). Several inputs may share one target only with ``many_to_one: true``.
    """

    rule: Literal["same-stem", "regex"] = "same-stem"
    input_id: str | None = None
    target_id: str | None = None
    many_to_one: bool = False
    sizes: Literal["equal", "may-differ"] = "equal"
    unmatched_targets: Literal["error", "ignore"] = "error"

    @model_validator(mode="after")
    def _patterns(self) -> Pairing:
        for pattern in (self.input_id, self.target_id):
            if pattern is None:
                continue
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from None
            if "id" not in compiled.groupindex:
                raise ValueError(f"regex {pattern!r} needs a named group (?P<id>...)")
        if self.rule == "regex" and not (self.input_id or self.target_id):
            raise ValueError("rule 'regex' needs input_id and/or target_id")
        return self


class Facts(_Strict):
    """Which statements in this manifest are confirmed by a primary source and which are inferred."""

    confirmed: list[str] = []
    inferred: list[str] = []


class Manifest(_Strict):
    """One benchmark: what it is, where it comes from, how it is laid out and paired."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    summary: str
    task: str
    setting: Literal["universal", "zero-shot"]
    has_gt: bool
    protocol: str
    degradations: list[str] = []
    sources: list[Source]
    license: str
    citation: str
    counts: Counts
    layout: Layout
    pairing: Pairing = Pairing()
    preprocess: list[Literal["lol-histeq", "udc-half-split"]] = []
    pitfalls: list[str] = []
    facts: Facts = Facts()
    embedded: bool = False
    split: Literal["test", "train"] = "test"

    @field_validator("task")
    @classmethod
    def _task(cls, value: str) -> str:
        if value not in TASKS:
            raise ValueError(f"unknown task {value!r}; known: {', '.join(TASKS)}")
        return value

    @field_validator("degradations")
    @classmethod
    def _degradations(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(DEGRADATIONS))
        if unknown:
            raise ValueError(f"unknown degradation(s) {unknown}; known: {', '.join(DEGRADATIONS)}")
        return value

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        known = protocol_names()
        if value not in known:
            raise ValueError(f"unknown protocol {value!r}; known: {', '.join(known)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        no_ref = not get_protocol(self.protocol).needs_target
        if self.has_gt and no_ref:
            raise ValueError(f"has_gt is true but protocol {self.protocol} is no-reference")
        if not self.has_gt and not no_ref:
            raise ValueError(f"has_gt is false but protocol {self.protocol} needs ground truth")
        if self.has_gt != (self.layout.target is not None):
            raise ValueError("layout.target must be set exactly when has_gt is true")
        if self.embedded and any(s.kind != "embedded" for s in self.sources):
            raise ValueError("an embedded benchmark has only 'embedded' sources")
        if not self.sources:
            raise ValueError("at least one source is required")
        return self

    @property
    def preprocess_flags(self) -> frozenset[str]:
        """The preprocessing flags as a frozenset (what ImageBatch carries)."""
        return frozenset(self.preprocess)


def parse_manifest(path: Path) -> Manifest:
    """Read and validate one manifest YAML; errors name the file and each bad field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: expected a mapping at the top level")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ManifestError(
            f"{path}: invalid manifest: {problems}",
            hint="fix the field(s) named above; unknown fields are not allowed",
        ) from None
    if manifest.name != path.stem:
        raise ManifestError(f"{path}: name {manifest.name!r} differs from the file name")
    return manifest
