"""The restormer plugin: official BasicSR files load strictly through the CLI, exact parameter
counts, the contract, refusal of other methods' files, and routing by task.

Expected values are independent of the plugin: parameter counts from BASELINES.md (and the key
file's element total), the checkpoints' keys from the official key file, the routed outputs from
each clean-room network run directly on the same synthetic weights with the official test's padding
(reflect to a multiple of 8, crop).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from baselines.restormer.network import Restormer
from baselines.restormer.restorer import RestormerRestorer
from harness.checkpoints import CheckpointMismatchError
from harness.errors import HarnessError
from harness.padding import run_padded
from harness.restorer import ImageBatch
from tests.baselines.keyfiles import read_key_file
from tests.baselines.plugin_checks import (
    complexity_params,
    harness,
    max_diff,
    run_mini,
    write_official,
)
from tests.baselines.synthetic_weights import load_synthetic, synthetic_state_dict

PUBLISHED_PARAMS = 26_126_644  # BASELINES.md section 1 (counted on the official module)
SEEDS = {"derain": 131, "deblur": 132}
FILES = {"derain": "deraining.pth", "deblur": "motion_deblurring.pth"}
TOL = 1e-5


@pytest.fixture(scope="module")
def states() -> dict[str, dict[str, torch.Tensor]]:
    entries = read_key_file("restormer").entries
    return {task: synthetic_state_dict(entries, seed, 0.5) for task, seed in SEEDS.items()}


@pytest.fixture(scope="module")
def files(states, tmp_path_factory) -> dict[str, Path]:
    """The two checkpoints in the official container, under their official names."""
    folder = tmp_path_factory.mktemp("restormer-weights")
    out = {}
    for task, state in states.items():
        out[task] = folder / FILES[task]
        write_official(out[task], state, "params")
    return out


@pytest.fixture(scope="module")
def direct(states) -> dict[str, torch.nn.Module]:
    """Each clean-room network holding its synthetic weights, built by the test itself."""
    return {task: load_synthetic(Restormer, state) for task, state in states.items()}


@pytest.fixture(scope="module")
def routed(files) -> RestormerRestorer:
    return RestormerRestorer(weights=f"derain={files['derain']},deblur={files['deblur']}")


def _images(batch: int, seed: int) -> torch.Tensor:
    return torch.rand(batch, 3, 20, 27, generator=torch.Generator().manual_seed(seed))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_run_loads_the_official_file_strictly(files, tmp_path) -> None:
    row = run_mini(
        tmp_path / "s.sqlite", "restormer", "--variant", "deblur", "--weights",
        files["deblur"], "--suite", "mini-deblur",
    )  # fmt: skip
    assert row["variant"] == "deblur" and row["weights_sha256"] == _sha(files["deblur"])
    assert [r["status"] for r in row["results"]] == ["ok"]
    assert row["provenance"]["params_stored"] == PUBLISHED_PARAMS


def test_cli_routed_run_records_both_files_and_fails_other_tasks_by_name(
    files, tmp_path, monkeypatch
) -> None:
    from tests.runner import fakes  # 16x16 fixture benchmarks: fx-derain and fx-dehaze

    fakes.install(monkeypatch.setattr, tmp_path / "fixtures")
    weights = f"derain={files['derain']},deblur={files['deblur']}"
    row = run_mini(tmp_path / "s.sqlite", "restormer", "--weights", weights, "--suite", "fx")
    shas = {task: _sha(path) for task, path in files.items()}
    assert row["variant"] == "routed"
    assert row["weights_sha256"] == f"derain={shas['derain']},deblur={shas['deblur']}"
    routes = row["provenance"]["routes"]
    assert {t: r["weights_sha256"] for t, r in routes.items()} == shas
    assert {t: r["weights"] for t, r in routes.items()} == {t: str(p) for t, p in files.items()}
    by_bench = {r["benchmark"]: r for r in row["results"]}
    assert by_bench["fx-derain"]["status"] == "ok"
    dehaze = by_bench["fx-dehaze"]
    assert dehaze["status"] == "failed"
    assert "no checkpoint for task 'dehaze'" in dehaze["reason"]


@pytest.mark.parametrize("variant", ["derain", "deblur"])
def test_complexity_reports_the_exact_parameters(variant: str) -> None:
    assert complexity_params("restormer", variant) == PUBLISHED_PARAMS
    assert read_key_file("restormer").declared_elements == PUBLISHED_PARAMS


def test_check_passes_with_the_routed_checkpoints(files) -> None:
    weights = f"derain={files['derain']},deblur={files['deblur']}"
    result = harness("check", "restormer", "--weights", weights)
    assert result.exit_code == 0, result.output
    assert "contract passed" in result.output
    assert "not blind: the method is given task='derain'" in result.output


def test_other_methods_checkpoints_are_refused_by_name(tmp_path) -> None:
    for name, signature in (("promptir", "PromptIR"), ("nafnet_gopro_width64", "NAFNet")):
        keys = [e.key for e in read_key_file(name).entries]
        path = tmp_path / f"{name}.pth"
        write_official(path, {k: torch.zeros(1) for k in keys}, "params")
        with pytest.raises(CheckpointMismatchError, match=f"holds {signature} weights, not "):
            RestormerRestorer(variant="derain", weights=str(path))


def test_each_task_goes_to_its_own_network(routed, direct) -> None:
    x = _images(2, seed=1)
    outs = {}
    for task in ("derain", "deblur"):
        outs[task] = routed.restore(ImageBatch(images=x, ids=("a", "b"), task=task))
        with torch.inference_mode():
            want = run_padded(direct[task], x, 8).clamp(0, 1)
        assert max_diff(outs[task], want) < TOL
    assert max_diff(outs["derain"], outs["deblur"]) > 1e-2  # the two routes are distinguishable


def test_routed_output_does_not_depend_on_batch_composition(routed) -> None:
    x = _images(2, seed=1)
    for task in ("derain", "deblur"):
        together = routed.restore(ImageBatch(images=x, ids=("a", "b"), task=task))
        alone = [
            routed.restore(ImageBatch(images=x[i : i + 1], ids=("a",), task=task)) for i in (0, 1)
        ]
        assert max_diff(together, torch.cat(alone)) < TOL


def test_a_task_without_checkpoint_is_refused_naming_task_and_variants(routed) -> None:
    x = _images(1, seed=3)
    with pytest.raises(HarnessError, match="no checkpoint for task 'dehaze'") as err:
        routed.restore(ImageBatch(images=x, ids=("a",), task="dehaze"))
    assert "routes: derain -> derain, deblur -> deblur" in str(err.value)
    assert "--variant derain or --variant deblur" in (err.value.hint or "")
    with pytest.raises(HarnessError, match="by the batch's task, and no task was given") as err:
        routed.restore(ImageBatch(images=x, ids=("a",), task=None))
    assert (
        err.value.hint
        == "measure or run one checkpoint instead: --variant derain or --variant deblur"
    )


def test_default_files_give_the_union_of_both_settings(files, monkeypatch, tmp_path) -> None:
    folder = tmp_path / "weights" / "restormer"
    folder.mkdir(parents=True)
    for path in files.values():
        os.link(path, folder / path.name)  # a hard link: the cache refuses links out of it
    monkeypatch.setenv("HARNESS_WEIGHTS", str(tmp_path / "weights"))
    info = RestormerRestorer().provenance()  # variant routed, default entries
    assert info["variant"] == "routed" and info["params_stored"] == 2 * PUBLISHED_PARAMS
    setting = info["training_setting"]
    assert setting["tasks"] == ["derain", "deblur"]
    assert setting["datasets"] == ["Rain13K train", "GoPro train"]
    assert setting["label"] == (
        "task-routed (derain -> restormer-deraining, deblur -> restormer-motion-deblurring)"
    )
    assert info["weights_entry"] == (
        "derain=restormer-deraining,deblur=restormer-motion-deblurring"
    )
    entries = {t: r["weights_entry"] for t, r in info["routes"].items()}
    assert entries == {"derain": "restormer-deraining", "deblur": "restormer-motion-deblurring"}


def test_routed_weights_must_name_their_task(files) -> None:
    with pytest.raises(HarnessError, match="does not say which task a file is for") as err:
        RestormerRestorer(weights=str(files["derain"]))
    assert "--variant derain or --variant deblur" in (err.value.hint or "")
    with pytest.raises(HarnessError, match="routes no task 'dehaze'"):
        RestormerRestorer(weights=f"dehaze={files['derain']}")


def test_adding_a_file_pins_the_entry_its_name_and_variant_say(files) -> None:
    from harness.weights import add_weights

    # both single variants share the architecture: the file itself cannot tell which it is
    assert RestormerRestorer.inspect_weights(files["deblur"]) is None
    added = add_weights("restormer", files["deblur"], variant="deblur")
    assert (added.outcome, added.entry.name) == ("pinned", "restormer-motion-deblurring")


def test_a_file_of_another_name_needs_its_variant(files, tmp_path) -> None:
    from harness.weights import add_weights

    renamed = tmp_path / "restormer-download.pth"
    os.link(files["derain"], renamed)
    with pytest.raises(HarnessError, match="fits several restormer variants") as err:
        add_weights("restormer", renamed)
    assert err.value.hint == "add it with --variant derain or --variant deblur"
    added = add_weights("restormer", renamed, variant="derain")
    assert (added.outcome, added.entry.variant) == ("added", "derain")


def test_the_routed_variant_is_not_trained(tmp_path) -> None:
    from harness.train_config import TrainConfig

    config = TrainConfig(method="restormer", variant="routed", steps=1, crop=32)
    with pytest.raises(HarnessError, match="routes several checkpoints by task") as err:
        RestormerRestorer.train(config, tmp_path / "run", tmp_path, progress=False)
    assert err.value.hint == "train --variant derain or --variant deblur"
