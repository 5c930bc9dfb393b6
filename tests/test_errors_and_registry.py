"""The registry and the user-facing error types."""

from __future__ import annotations

import pytest

from harness.errors import MissingFileError, UnknownNameError
from harness.registry import create_method, method_names


def test_unknown_name_suggests_close_matches() -> None:
    err = UnknownNameError("method", "difuir", ["diffuir", "identity"])
    assert err.exit_code == 2
    assert err.suggestions == ["diffuir"]
    assert "did you mean 'diffuir'" in str(err)


def test_unknown_name_without_match_has_no_hint() -> None:
    err = UnknownNameError("method", "zzz", ["diffuir", "identity"])
    assert err.hint is None and err.suggestions == []


def test_missing_file_error_names_file_sha_and_source() -> None:
    err = MissingFileError("checkpoint", "/x/model.pt", sha256="ab" * 32, source="https://e.org")
    text = str(err)
    assert "/x/model.pt" in text and "ab" * 32 in text and "https://e.org" in text


def test_registry_lists_and_creates_identity() -> None:
    assert "identity" in method_names()
    method = create_method("identity")
    assert method.variant == "default"


def test_registry_unknown_method() -> None:
    with pytest.raises(UnknownNameError) as info:
        create_method("identty")
    assert info.value.suggestions == ["identity"]


def test_unknown_variant_is_rejected() -> None:
    with pytest.raises(UnknownNameError):
        create_method("identity", variant="xl")
