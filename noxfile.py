"""nox sessions: tests, lint, bench, reproduce. Each works on a machine with only python3 and pip."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (the same tests CI runs)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Static checks with ruff."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", "harness", "baselines", "tests", "noxfile.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Speed benchmarks (pytest-benchmark): metrics vs references, DiffUIR vs a plain module."""
    session.install("-e", ".[test]")
    session.run(
        "python",
        "-m",
        "pytest",
        "benchmarks",
        "--benchmark-enable",
        "-p",
        "no:randomly",
        "--benchmark-columns=min,mean,median,rounds",
        "-s",
        *session.posargs,
    )


@nox.session
def reproduce(session: nox.Session) -> None:
    """Run every method that can run here on the available suites and write the HTML report."""
    session.install("-e", ".")
    session.run("harness", "reproduce", *session.posargs)
