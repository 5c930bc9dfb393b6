"""The global -v/-q options drive the ``logging`` module: info with -v, debug with -vv, errors only
with -q, warnings by default."""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from harness.cli import app


def _stderr_of(*args: str) -> str:
    exe = shutil.which("harness")
    assert exe, "the `harness` console script is not on PATH; pip install -e ."
    out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stderr


def test_verbose_shows_info_records_of_harness_loggers() -> None:
    assert "INFO harness.cli: uir-harness" in _stderr_of("-v", "ls", "protocols")


def test_default_hides_info_records() -> None:
    assert "INFO" not in _stderr_of("ls", "protocols")


@pytest.fixture()
def _restore_logging():
    loggers = [logging.getLogger(n) for n in ("harness", "baselines")]
    levels = [lg.level for lg in loggers]
    handlers = list(logging.getLogger().handlers)
    yield
    for lg, level in zip(loggers, levels, strict=True):
        lg.setLevel(level)
    logging.getLogger().handlers[:] = handlers


@pytest.mark.usefixtures("_restore_logging")
@pytest.mark.parametrize(
    ("flags", "shown", "hidden"),
    [
        ([], logging.WARNING, logging.INFO),
        (["-v"], logging.INFO, logging.DEBUG),
        (["-vv"], logging.DEBUG, None),
        (["-q"], logging.ERROR, logging.WARNING),
        (["-v", "-q"], logging.WARNING, logging.INFO),
    ],
)
def test_verbosity_sets_the_level_of_every_harness_logger(
    flags: list[str], shown: int, hidden: int | None
) -> None:
    result = CliRunner().invoke(app, [*flags, "ls", "protocols"])
    assert result.exit_code == 0, result.output
    for name in ("harness.runner", "harness.data.lock", "baselines.diffuir.restorer"):
        logger = logging.getLogger(name)
        assert logger.isEnabledFor(shown), (name, flags)
        if hidden is not None:
            assert not logger.isEnabledFor(hidden), (name, flags)


@pytest.mark.usefixtures("_restore_logging")
def test_repeated_invocations_keep_one_handler() -> None:
    for _ in range(3):
        assert CliRunner().invoke(app, ["-v", "ls", "protocols"]).exit_code == 0
    assert sum(h.get_name() == "harness-cli" for h in logging.getLogger().handlers) == 1
