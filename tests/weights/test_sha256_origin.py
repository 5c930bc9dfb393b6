"""Who vouches for a pinned sha256 (``sha256_origin``): validated, listed, named on a mismatch."""

from __future__ import annotations

import pytest
import yaml

from harness.checkpoints import ChecksumMismatchError
from harness.weights import WeightsEntry, resolve_weights, weights_dir

SHA = "ab" * 32
BASE = {
    "name": "fake-s",
    "method": "fake",
    "variant": "s",
    "file": "fake-s.pt",
    "source": "https://example.org/fake-s.pt",
    "license": "MIT",
    "default": True,
}


def test_origin_is_one_of_three_words_and_needs_a_sha256() -> None:
    for origin in ("publisher", "third-party", "project"):
        assert WeightsEntry.model_validate(BASE | {"sha256": SHA, "sha256_origin": origin})
    with pytest.raises(ValueError, match="sha256_origin"):
        WeightsEntry.model_validate(BASE | {"sha256": SHA, "sha256_origin": "a friend"})
    with pytest.raises(ValueError, match="none is given"):
        WeightsEntry.model_validate(BASE | {"sha256_origin": "publisher"})
    assert WeightsEntry.model_validate(BASE).sha256_origin is None


@pytest.mark.parametrize(("origin", "named"), [("third-party", True), ("publisher", False)])
def test_a_mismatch_names_a_third_party_pin_only(fake_method, origin: str, named: bool) -> None:
    entry = BASE | {"sha256": SHA, "sha256_origin": origin}
    (fake_method["pkg"] / "weights.yaml").write_text(yaml.safe_dump({"weights": [entry]}))
    target = weights_dir() / "fake" / "fake-s.pt"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the pinned file")
    with pytest.raises(ChecksumMismatchError, match=f"does not match the pinned {SHA}") as err:
        resolve_weights("fake", "s", None)
    assert ("not published by the authors" in err.value.message) is named
    assert ("third-party record wrong" in (err.value.hint or "")) is named
