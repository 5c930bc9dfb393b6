"""The PromptIR plugin: the official Lightning file loads strictly through the CLI, runs padded.

Independent expectations: keys, shapes and the parameter count come from the key file of the
official architecture (``data/promptir.txt``, 548 entries, 35,592,263 elements); outputs come from
the official module run on the same synthetic weights (``data/restormer_family_reference.npz``);
the file name and its URL from the official README (va1shn9v/PromptIR, release v1.0). The official
model does not pad inside: its ``demo.py`` reflect-pads to a multiple of 8 at the bottom and right
and crops back, which is what the harness does. The network is built from a file at most three
times here (restorer fixture, ``run``, ``check``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from baselines.promptir.restorer import PromptIRRestorer
from harness.checkpoints import CheckpointMismatchError
from harness.restorer import ImageBatch
from harness.store import Store
from tests.baselines.keyfiles import read_key_file
from tests.baselines.lightning_plugins import (
    harness,
    official_state,
    write_lightning_checkpoint,
    zeros_state,
)
from tests.baselines.restormer_family import TOL, fixed_images, load_reference

KEYS = read_key_file("promptir")
RELEASE_URL = "https://github.com/va1shn9v/PromptIR/releases/download/v1.0/model.ckpt"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A synthetic PromptIR checkpoint in the official Lightning container: (path, sha256)."""
    path = tmp_path_factory.mktemp("promptir") / "synthetic-promptir.ckpt"
    return path, write_lightning_checkpoint(path, official_state("promptir"))


@pytest.fixture(scope="module")
def restorer(
    checkpoint: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> PromptIRRestorer:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(tmp_path_factory.mktemp("cache")))
        return PromptIRRestorer(weights=str(checkpoint[0]))


def _diff(a: torch.Tensor, b: object) -> float:
    return (a - torch.as_tensor(b)).abs().max().item()


def _restore(method: PromptIRRestorer, images: torch.Tensor) -> torch.Tensor:
    ids = tuple(f"img-{i}" for i in range(images.shape[0]))
    return method.restore(ImageBatch(images=images, ids=ids))


def test_lightning_file_loads_strictly_with_provenance(
    restorer: PromptIRRestorer, checkpoint: tuple[Path, str]
) -> None:
    state = restorer.module().state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == [
        (e.key, e.shape) for e in KEYS.entries
    ]
    want = official_state("promptir")
    assert all(torch.equal(state[k], v) for k, v in want.items())
    info = restorer.provenance()
    assert info["weights_sha256"] == checkpoint[1]
    assert info["params_stored"] == KEYS.declared_elements == 35_592_263
    assert info["pad"] == "reflect to a multiple of 8, cropped back"


def test_harness_padding_equals_the_official_demo_padding(restorer: PromptIRRestorer) -> None:
    # reference: the official module on the input reflect-padded to x8 at bottom/right (the rule
    # of demo.py's pad_input and Restormer's test scripts), cropped back
    want = torch.as_tensor(load_reference()["promptir_27x37_padded"])
    assert want.min() < 0 or want.max() > 1  # the clamp is part of what is compared
    out = _restore(restorer, fixed_images(1, 27, 37, seed=3))
    assert out.shape == (1, 3, 27, 37)
    assert _diff(out, want.clamp(0, 1)) < TOL


def test_a_multiple_of_8_reaches_the_network_unpadded(restorer: PromptIRRestorer) -> None:
    want = torch.as_tensor(load_reference()["promptir_32x48"])
    assert _diff(_restore(restorer, fixed_images(1, 32, 48, seed=1)), want.clamp(0, 1)) < TOL


def test_output_does_not_depend_on_batch_composition(restorer: PromptIRRestorer) -> None:
    pair = fixed_images(2, 27, 37, seed=11)
    together = _restore(restorer, pair)
    alone = torch.cat([_restore(restorer, pair[:1]), _restore(restorer, pair[1:])])
    assert _diff(together[0], together[1]) > 0.1  # two different images
    assert _diff(together, alone) < TOL


def test_run_cli_loads_the_lightning_file(checkpoint: tuple[Path, str], tmp_path: Path) -> None:
    store = tmp_path / "results.sqlite"
    result = harness(
        "run", "-m", "promptir", "--weights", str(checkpoint[0]), "-s", "mini-derain",
        "--limit", "1", "--no-report", "--no-flops", "--workers", "0", "--store", str(store),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with Store(store) as s:
        (run,) = s.runs()
        rows = s.results([run["run_id"]])
    assert (run["method"], run["variant"]) == ("promptir", "base")
    assert run["weights_sha256"] == checkpoint[1]
    assert [r["status"] for r in rows] == ["ok"]


def test_check_cli_passes(checkpoint: tuple[Path, str]) -> None:
    result = harness("check", "promptir", "--weights", str(checkpoint[0]))
    assert result.exit_code == 0, result.output
    for name in ("batch-invariant", "blind", "odd-size", "deterministic", "range"):
        assert f"PASS  {name}" in result.output
    assert "contract passed" in result.output


def test_complexity_counts_the_published_parameters() -> None:
    result = harness(
        "complexity", "promptir", "--variant", "base", "--size", "16x16",
        "--repeats", "0", "--warmup", "0", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["variant"] == "base"
    assert report["params"] == KEYS.declared_elements == 35_592_263


@pytest.mark.parametrize(
    ("key_file", "container", "signature"),
    [("adair", "state_dict", "AdaIR"), ("restormer", "params", "Restormer")],
)
def test_other_methods_checkpoints_are_refused_by_name(
    key_file: str, container: str, signature: str, tmp_path: Path
) -> None:
    # the other method's official container: Lightning (prefix net.) or BasicSR params
    path = tmp_path / "other.ckpt"
    if container == "state_dict":
        write_lightning_checkpoint(path, zeros_state(key_file))
    else:
        torch.save({"params": zeros_state(key_file)}, path)
    result = harness("run", "-m", "promptir", "--weights", str(path), "-s", "mini-derain")
    assert isinstance(result.exception, CheckpointMismatchError)
    assert f"holds {signature} weights, not PromptIR weights" in str(result.exception)


def test_missing_weights_name_the_file_and_where_it_comes_from() -> None:
    # the console script, as a user sees it, with the test's empty cache (conftest)
    out = subprocess.run(
        [sys.executable, "-m", "harness", "--device", "cpu", "run", "--method", "promptir",
         "--suite", "mini", "--no-report"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode != 0
    assert "missing weights 'promptir-3task' (promptir variant base)" in out.stderr
    assert "/weights/promptir/model.ckpt" in out.stderr
    assert f"get it from: {RELEASE_URL}" in out.stderr
    assert "none is published" in out.stderr


def test_ls_methods_lists_promptir_with_its_licence() -> None:
    rows = {r["name"]: r for r in json.loads(harness("ls", "methods", "--json").output)}
    promptir = rows["promptir"]
    assert promptir["license"] == "Academic Public License (non-commercial)"
    assert promptir["blind"] is True and promptir["params"]["base"] == 35_592_263
    assert promptir["presets"] == {"tiny": "dim 16, blocks 1-1-1-2, 1 refinement block"}
