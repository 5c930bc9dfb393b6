"""A regular (non-editable) install works: the wheel and the sdist carry every shipped file, and the
installed ``harness`` lists, runs and reports the mini suite from a folder outside the checkout.

This is the CI proof of ``pip install uir-harness``: it builds the wheel from this checkout, installs
it into a fresh virtual environment (dependencies such as torch come from the system site), and runs
the console script there with an empty cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

CHECKOUT = Path(__file__).resolve().parents[2]
MINI_TASK_BENCHMARKS = ("mini-derain", "mini-desnow", "mini-dehaze", "mini-deblur", "mini-lowlight")
# Where pyproject.toml maps the top-level data folders inside the wheel.
DATA_IN_WHEEL = {"manifests": "harness/_data/manifests", "reports": "harness/_data/reports"}


def _check(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; fail the test with its output when it exits non-zero."""
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{cmd} exited {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _build_wheel(source: Path, out: Path) -> Path:
    _check(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(source)],
        cwd=out,
    )
    (wheel,) = out.glob("uir_harness-*.whl")
    return wheel


def _checkout_files(top: str) -> set[str]:
    """The files of a checkout folder, relative to the checkout (bytecode caches left out)."""
    root = CHECKOUT / top
    return {
        p.relative_to(CHECKOUT).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(CHECKOUT, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_wheel_carries_every_shipped_file(wheel_names: set[str]) -> None:
    expected = _checkout_files("harness") | _checkout_files("baselines")
    for top, inside in DATA_IN_WHEEL.items():
        expected |= {inside + name[len(top) :] for name in _checkout_files(top)}
    assert not expected - wheel_names, sorted(expected - wheel_names)[:20]
    # Named, so a failure says which kind of file went missing.
    for name in (
        "harness/_data/manifests/suites/mini.yaml",
        "harness/_data/manifests/mini-derain.yaml",
        "harness/_data/manifests/lol.yaml",
        "harness/_data/manifests/locks/mini-derain.lock",
        "harness/_data/manifests/embedded/mini-derain/input/astronaut-00.png",
        "harness/_data/manifests/embedded/mini-derain/target/astronaut-00.png",
        "harness/_data/reports/templates/report.html.j2",
        "harness/_data/reports/reference/diffuir-secondary.csv",
        "harness/_data/reports/baselines/mini.json",
        "harness/metrics/niqe_pristine_params.json",
        "baselines/diffuir/weights.yaml",
        "baselines/diffuir/weights/diffuir-t-mini.safetensors",
    ):
        assert name in wheel_names, name
    assert not any(n.startswith(("tests/", "manifests/", "reports/")) for n in wheel_names)


def test_sdist_builds_the_same_wheel(
    wheel_names: set[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    dist = tmp_path_factory.mktemp("sdist")
    _check(
        [
            sys.executable,
            "-c",
            f"from hatchling.build import build_sdist; build_sdist({str(dist)!r})",
        ],
        cwd=CHECKOUT,
    )
    (sdist,) = dist.glob("uir_harness-*.tar.gz")
    with tarfile.open(sdist) as tf:
        tf.extractall(dist / "src", filter="data")
    (source,) = (dist / "src").iterdir()
    with zipfile.ZipFile(_build_wheel(source, tmp_path_factory.mktemp("wheel-from-sdist"))) as zf:
        assert set(zf.namelist()) == wheel_names


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fresh venv outside the checkout with the wheel installed; a work dir and an empty cache."""
    root = tmp_path_factory.mktemp("installed")
    assert CHECKOUT not in root.resolve().parents
    venv = root / "venv"
    # No pip inside the venv (ensurepip may be missing); this pip installs into it.
    _check(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        cwd=root,
    )
    python = venv / "bin" / "python"
    _check(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
        + [str(wheel)],
        cwd=root,
    )
    work = root / "work"
    work.mkdir()
    return {"venv": venv, "python": python, "harness": venv / "bin" / "harness", "work": work}


@pytest.fixture()
def env(installed: dict[str, Path], tmp_path: Path) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH, no harness overrides, an empty cache."""
    env = {
        k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("HARNESS_")
    }
    env["HARNESS_CACHE"] = str(tmp_path / "cache")
    return env


def test_installed_package_is_the_wheel_not_the_checkout(
    installed: dict[str, Path], env: dict[str, str]
) -> None:
    code = (
        "import json, harness, baselines, harness.paths as p; print(json.dumps(["
        "harness.__file__, baselines.__file__, str(p.manifests_dir()), str(p.reports_dir()), "
        "p.source_checkout()]))"
    )
    harness_file, baselines_file, manifests, reports, checkout = json.loads(
        _check([str(installed["python"]), "-c", code], cwd=installed["work"], env=env)
    )
    venv = installed["venv"].resolve()
    for path in (harness_file, baselines_file, manifests, reports):
        assert venv in Path(path).resolve().parents, path
    assert checkout is None


def test_installed_harness_lists_the_suites(
    installed: dict[str, Path], env: dict[str, str]
) -> None:
    out = _check([str(installed["harness"]), "ls", "suites"], cwd=installed["work"], env=env)
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"mini", "mini-train", "universal", "zero-shot", "all"} <= listed


def test_installed_harness_finds_the_shipped_weights(
    installed: dict[str, Path], env: dict[str, str]
) -> None:
    for method, name in (("diffuir", "diffuir-t-mini"), ("promptir", "promptir-tiny-mini")):
        out = _check(
            [str(installed["harness"]), "weights", "ls", method], cwd=installed["work"], env=env
        )
        (line,) = [line for line in out.splitlines() if name in line]
        assert "PRESENT" in line
        assert str(installed["venv"].resolve()) in line


def test_installed_harness_runs_and_reports_the_mini_suite(
    installed: dict[str, Path], env: dict[str, str]
) -> None:
    harness, work = str(installed["harness"]), installed["work"]
    out = _check(
        [harness, "--device", "cpu", "run", "--method", "identity", "--suite", "mini"]
        + ["--no-report"],
        cwd=work,
        env=env,
    )
    for bench in MINI_TASK_BENCHMARKS:
        (row,) = [
            line
            for line in out.splitlines()
            if line.startswith(f"| {bench} [diffuir-online] psnr |")
        ]
        assert float(row.split("|")[2].split()[0]) > 0, row
    _check([harness, "report", "-f", "html", "-f", "json", "-o", "rep"], cwd=work, env=env)
    html = (work / "rep" / "index.html").read_text()
    assert "identity" in html and "mini-derain" in html
    report = json.loads((work / "rep" / "report.json").read_text())
    (run,) = report["runs"]
    assert (run["method"], run["suite"]) == ("identity", "mini")
    scored = {b["benchmark"]: b for b in report["benchmarks"]}
    for bench in MINI_TASK_BENCHMARKS:
        # Verified against the locks shipped inside the wheel, five pairs each.
        assert (scored[bench]["verified"], scored[bench]["n_pairs"]) == (1, 5), bench
