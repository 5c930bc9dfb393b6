"""Headless Chromium for report tests: render a report file and return its DOM and console lines."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def chromium() -> str | None:
    """The Chromium binary on PATH, if any."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(index: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM of ``index`` after Chromium ran its scripts, and the browser's console lines.

    Fails the test when Chromium is missing or exits with an error."""
    browser = chromium()
    assert browser is not None, (
        "chromium is not installed: scripts/test.sh installs it (apt-get install chromium)"
    )
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=2000",
            "--dump-dom",
            index.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
