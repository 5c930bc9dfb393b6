"""The installed ``harness`` console script: help, version, ls and the unknown-name error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import harness


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("harness")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "harness", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_console_script_is_installed() -> None:
    assert shutil.which("harness"), "the `harness` console script is not on PATH; pip install -e ."


def test_help_lists_every_verb() -> None:
    out = _harness("--help")
    assert out.returncode == 0, out.stderr
    for verb in (
        "run",
        "report",
        "gate",
        "score",
        "ls",
        "data",
        "weights",
        "complexity",
        "check",
        "train",
    ):
        assert f"  {verb}" in out.stdout, verb
    for option in ("--data-root", "--cache-dir", "--device", "--verbose", "--quiet"):
        assert option in out.stdout


def test_version_matches_package() -> None:
    out = _harness("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"uir-harness {harness.__version__}"


def test_ls_methods_lists_identity() -> None:
    out = _harness("ls", "methods")
    assert out.returncode == 0, out.stderr
    assert "identity" in out.stdout


def test_ls_methods_json_is_machine_readable() -> None:
    out = _harness("ls", "methods", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    names = {row["name"] for row in rows}
    assert "identity" in names
    identity = next(r for r in rows if r["name"] == "identity")
    assert "lowlight" in identity["tasks"]


@pytest.mark.parametrize("kind", ["benchmarks", "suites", "protocols"])
def test_ls_other_kinds_exit_zero(kind: str) -> None:
    out = _harness("ls", kind, "--json")
    assert out.returncode == 0, out.stderr
    assert isinstance(json.loads(out.stdout), list)


@pytest.mark.parametrize("kind", ["methods", "protocols"])
def test_ls_names_never_run_into_their_descriptions(kind: str) -> None:
    names = [r["name"] for r in json.loads(_harness("ls", kind, "--json").stdout)]
    out = _harness("ls", kind).stdout
    first_lines = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert [line.split(" ", 1)[0] for line in first_lines] == names
    column = max(len(line) - len(line.lstrip()) for line in out.splitlines() if line[:1] == " ")
    assert column == max(14, *map(len, names)) + 1  # the longest name, then one space


def test_unknown_listing_exits_2_with_suggestion() -> None:
    out = _harness("ls", "metods")
    assert out.returncode == 2
    assert "did you mean 'methods'" in out.stderr


def test_unknown_verb_is_a_usage_error() -> None:
    out = _harness("rnu")
    assert out.returncode == 2
