"""A fake method package, written by the tests, with its own weights manifest."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from harness import registry

RESTORER_SOURCE = textwrap.dedent(
    """
    import torch
    from harness.restorer import ImageBatch, Restorer

    class Fake(Restorer):
        name = "fake"
        variants = ("s", "l")
        default_variant = "s"
        tasks = ("derain",)

        def restore(self, batch: ImageBatch) -> torch.Tensor:
            return batch.images.clone()
    """
)


@pytest.fixture
def fake_method(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Register ``fake`` (package fakeroot/fakepkg/fake/) and return a helper to write files."""
    root = tmp_path / "fakeroot"
    pkg = root / "fakepkg" / "fake"
    pkg.mkdir(parents=True)
    (root / "fakepkg" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "restorer.py").write_text(RESTORER_SOURCE)
    monkeypatch.syspath_prepend(str(root))
    for mod in [m for m in sys.modules if m.startswith("fakepkg")]:
        del sys.modules[mod]
    other = root / "fakepkg" / "other"
    other.mkdir()
    (other / "__init__.py").write_text("")
    (other / "restorer.py").write_text(
        RESTORER_SOURCE.replace('name = "fake"', 'name = "other"').replace("Fake", "Other")
    )
    cls = importlib.import_module("fakepkg.fake.restorer").Fake
    other_cls = importlib.import_module("fakepkg.other.restorer").Other
    fakes = {"fake": cls, "other": other_cls}
    real_class, real_names = registry.method_class, registry.method_names

    def method_class(name: str):
        return fakes[name] if name in fakes else real_class(name)

    monkeypatch.setattr(registry, "method_class", method_class)
    monkeypatch.setattr(registry, "method_names", lambda: sorted([*real_names(), *fakes]))
    return {"root": root, "pkg": pkg, "cls": cls, "other_pkg": other}
