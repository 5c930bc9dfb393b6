"""The weights manifest schema: one :class:`WeightsEntry` per file, parsed from untrusted YAML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.data.safety import safe_relative_path
from harness.errors import HarnessError

MANIFEST_NAME = "weights.yaml"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
ENTRY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
"""Entry names: they name user files in the cache too, so no separators and no leading dot."""

Sha256Origin = Literal["publisher", "third-party", "project"]
SHA256_ORIGINS: dict[str, str] = {
    "publisher": "published by the authors",
    "third-party": "a third-party record, not published by the authors",
    "project": "computed by this project",
}
"""Who vouches for a pinned sha256, in the words listings and mismatch messages use."""


class TrainingSetting(BaseModel):
    """What a checkpoint was trained on: the tasks (reports grey cells outside them) and data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: tuple[str, ...] = Field(min_length=1)
    datasets: tuple[str, ...] = ()
    label: str = ""
    """A short name for the setting, e.g. "3-task (noise, rain, haze)"."""

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from harness.tasks import TRAINING_TASKS

        unknown = sorted(set(value) - set(TRAINING_TASKS))
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; known: {', '.join(TRAINING_TASKS)}")
        return value


class WeightsEntry(BaseModel):
    """One weights file a method can load."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    method: str = Field(min_length=1)
    variant: str = Field(min_length=1)
    file: str = Field(min_length=1)
    source: str
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = None
    sha256_origin: Sha256Origin | None = None
    """Who vouches for ``sha256`` (None: not said); see :data:`SHA256_ORIGINS`."""
    git_blob_sha1: str | None = None
    """The publisher's git blob SHA-1 of a file committed in its repository (what
    ``git hash-object`` prints): checked when the file is added and every time it is loaded."""
    license: str
    default: bool = False
    notes: str = ""
    training: dict[str, Any] | None = None
    """How the project trained this file (command, steps, seed, ...), for weights it made."""
    setting: TrainingSetting | None = None
    """The tasks and data the checkpoint was trained on (None: not declared)."""

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not ENTRY_NAME.match(value):
            raise ValueError("a weights name uses letters, digits, '.', '_', '+' and '-' only")
        return value

    @field_validator("sha256", "git_blob_sha1")
    @classmethod
    def _hex_digest(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        pattern, digits = (_SHA256, 64) if info.field_name == "sha256" else (_SHA1, 40)
        if not pattern.match(value):
            raise ValueError(f"{info.field_name} must be {digits} hexadecimal characters")
        return value

    @field_validator("file")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        safe_relative_path(value, "weights file (a bare name or a repository-relative path)")
        return value

    @model_validator(mode="after")
    def _origin_needs_a_sha256(self) -> WeightsEntry:
        if self.sha256_origin is not None and self.sha256 is None:
            raise ValueError("sha256_origin says who vouches for a sha256, but none is given")
        return self

    @property
    def origin_note(self) -> str:
        """`` (<who vouches for the sha256>)`` when the manifest says so, else empty."""
        return f" ({SHA256_ORIGINS[self.sha256_origin]})" if self.sha256_origin else ""

    @property
    def shipped(self) -> bool:
        """True when the file ships in the repository (a path), False for a cache file name."""
        return "/" in self.file


def parse_entries(raw: Any, origin: Path) -> list[WeightsEntry]:
    """The entries of a parsed manifest or user index (``{"weights": [...]}`` or a bare list)."""
    if raw is None:
        return []
    if isinstance(raw, dict):
        raw = raw.get("weights", [])
    if not isinstance(raw, list):
        raise HarnessError(f"{origin}: expected a list of weights entries under 'weights:'")
    entries = []
    for i, item in enumerate(raw):
        try:
            entries.append(WeightsEntry.model_validate(item))
        except ValidationError as exc:
            raise HarnessError(f"{origin}: weights entry {i} is invalid:\n{exc}") from None
    return entries


def read_yaml(path: Path) -> Any:
    """Parse a YAML file safely (HarnessError naming the file when it is not valid YAML)."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: not valid YAML ({exc})") from None
