"""The process keeps freed memory for reuse (``harness.memory``): fewer page faults, users' choices
kept.

Each case runs in a fresh interpreter, since malloc's settings belong to the process. The
allocation pattern stands in for a network call: arrays of 4-16 MB, a few alive at a time, freed
and allocated again on the next call. Its page faults are counted with getrusage (no timing).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.memory import user_chose

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")

PATTERN = """
import resource
import numpy as np

def call():
    alive = []
    for megabytes in (8, 8, 16, 8, 4, 16):
        alive.append(np.ones(megabytes << 17))
        if len(alive) > 2:
            alive.pop(0)

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

call()
before = faults()
for _ in range(10):
    call()
print("faults", (faults() - before) / 10)
"""

SETUPS = {
    "nothing": "",
    "keep": "from harness.memory import keep_freed_memory\nprint('applied', keep_freed_memory())\n",
    "cli": (
        "import sys\nfrom harness.cli import main\nsys.argv = ['harness', '--version']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    ),
}


def _faults_per_call(setup: str, **env: str) -> tuple[float, str]:
    """Page faults per pattern call in a fresh interpreter after ``setup``, and its output."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "HARNESS_KEEP_FREED_MEMORY")
    }
    out = subprocess.run(
        [sys.executable, "-c", SETUPS[setup] + PATTERN],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    faults = float(out.split("faults ")[-1])
    return faults, out


def test_freed_memory_is_reused_instead_of_faulted_in_again() -> None:
    default, _ = _faults_per_call("nothing")
    kept, out = _faults_per_call("keep")
    assert "applied True" in out
    # 64 MB of arrays per call: glibc's defaults hand most of it back and fault it in again
    assert default > 1000
    assert kept < 20


def test_the_command_line_keeps_freed_memory() -> None:
    faults, _ = _faults_per_call("cli")
    assert faults < 20


def test_opting_out_leaves_malloc_as_it_was() -> None:
    faults, out = _faults_per_call("keep", HARNESS_KEEP_FREED_MEMORY="0")
    assert "applied False" in out
    assert faults > 1000


@pytest.mark.parametrize(
    ("environ", "chose"),
    [
        ({}, False),
        ({"HARNESS_KEEP_FREED_MEMORY": "1"}, False),
        ({"HARNESS_KEEP_FREED_MEMORY": "0"}, True),
        ({"HARNESS_KEEP_FREED_MEMORY": "off"}, True),
        ({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2"}, False),
        ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, True),
        ({"GLIBC_TUNABLES": "glibc.cpu.x=1:glibc.malloc.mmap_threshold=65536"}, True),
        ({"MALLOC_TRIM_THRESHOLD_": "0"}, True),
        ({"MALLOC_MMAP_THRESHOLD_": "65536"}, True),
    ],
)
def test_malloc_settings_from_the_environment_win(environ: dict[str, str], chose: bool) -> None:
    assert user_chose(environ) is chose
