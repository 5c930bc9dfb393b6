"""Errors the harness raises on purpose: each says what went wrong and what to do."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarnessError(Exception):
    """A user-facing error; the CLI prints it without a traceback and exits with ``exit_code``."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UnknownNameError(HarnessError):
    """A name (method, benchmark, suite, protocol...) that is not registered; exit code 2."""

    exit_code = 2

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None
        listing = ", ".join(known) if known else "(none registered)"
        super().__init__(f"unknown {kind} {name!r}; known: {listing}", hint)
        self.kind = kind
        self.name = name
        self.suggestions = close


class MissingFileError(HarnessError):
    """A file the harness needs is absent: names it, its expected sha256 and where it comes from."""

    def __init__(
        self,
        what: str,
        path: str,
        sha256: str | None = None,
        source: str | None = None,
        *,
        size: int | None = None,
        sha256_note: str | None = None,
    ) -> None:
        parts = [f"missing {what}: {path}"]
        if sha256:
            parts.append(f"expected sha256: {sha256}")
        elif sha256_note:
            parts.append(f"sha256: {sha256_note}")
        if size is not None:
            parts.append(f"size: {size:,} bytes")
        if source:
            parts.append(f"get it from: {source}")
        super().__init__("\n  ".join(parts))
        self.path = path
        self.sha256 = sha256
        self.source = source
