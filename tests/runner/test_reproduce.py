"""``harness reproduce`` runs what can run, skips what cannot with a reason, and writes the report."""

from __future__ import annotations

from typer.testing import CliRunner

import harness.runner as runner
from harness.cli import app
from harness.errors import MissingFileError
from tests.runner import fakes


def test_reproduce_runs_what_it_can_and_lists_what_it_skipped(
    tmp_path, fixture_benchmarks, monkeypatch
):
    def create(name, **kw):
        if name == "needs-weights":
            raise MissingFileError(
                "needs-weights checkpoint", "model.pt", "ab" * 32, "the authors' page"
            )
        return fakes.create_method(name, **kw)

    suites = {
        "mini": ["fx-derain"],
        "universal": ["fx-dehaze", "fx-absent"],
        "zero-shot": ["fx-absent"],
    }
    layers = fakes.collaborators(fixture_benchmarks, suites=suites, methods=create)
    monkeypatch.setattr(runner, "default_collaborators", lambda: layers)
    out = tmp_path / "rep"
    result = CliRunner().invoke(
        app,
        [
            "-q",
            "--device",
            "cpu",
            "reproduce",
            "-m",
            "identity",
            "-m",
            "needs-weights",
            "--store",
            str(tmp_path / "s.sqlite"),
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"report: {(out / 'index.html').resolve()}" in result.output
    assert "needs-weights (mini): missing needs-weights checkpoint: model.pt" in result.output
    assert "fx-absent: benchmark fx-absent is not present" in result.output
    html = (out / "index.html").read_text()
    # identity ran on mini and, since fx-dehaze is present, on the universal suite too
    assert "Suite: mini" in html and "Suite: universal" in html and "fx-dehaze" in html
