"""The mprnet plugin: official files (``state_dict``, with or without ``module.``) load strictly
through the CLI, exact parameter counts, the contract, refusal of other methods' files, routing by
task and the shared PReLU.

Expected values are independent of the plugin: parameter counts from BASELINES.md, keys from the
official key files, the routed outputs from each clean-room network run directly on the same
synthetic weights behind the official padding (reflect to a multiple of 8, first output, crop).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from baselines.mprnet.network import MPRNet
from baselines.mprnet.restorer import MPRNetRestorer
from harness.checkpoints import CheckpointMismatchError
from harness.errors import HarnessError
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

BASELINES_PARAMS = {"derain": 3_637_249, "deblur": 20_127_073}  # BASELINES.md section 2
KEY_FILES = {"derain": "mprnet_deraining", "deblur": "mprnet_deblurring"}
SEEDS = {"derain": 311, "deblur": 312}
PREFIX = {"derain": "module.", "deblur": ""}
SLOPES = {"derain": 0.21, "deblur": 0.27}  # DataParallel files carry module., others do not
TOL = 1e-5


def _official_state(task: str) -> dict[str, torch.Tensor]:
    """Synthetic weights as an official file holds them: one PReLU value under all 55 keys."""
    state = synthetic_state_dict(read_key_file(KEY_FILES[task]).entries, SEEDS[task], 0.5)
    aliases = [k for k, v in state.items() if tuple(v.shape) == (1,)]
    assert len(aliases) == 55
    for key in aliases:
        state[key] = torch.tensor([SLOPES[task]])
    return state


@pytest.fixture(scope="module")
def states() -> dict[str, dict[str, torch.Tensor]]:
    return {task: _official_state(task) for task in KEY_FILES}


@pytest.fixture(scope="module")
def files(states, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("mprnet-weights")
    out = {}
    for task, state in states.items():
        out[task] = folder / f"model_{'deraining' if task == 'derain' else 'deblurring'}.pth"
        write_official(out[task], state, "state_dict", PREFIX[task])
    return out


@pytest.fixture(scope="module")
def routed(files) -> MPRNetRestorer:
    return MPRNetRestorer(weights=f"derain={files['derain']},deblur={files['deblur']}")


def _official_padded(network: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Upstream's test convention written out: reflect-pad to x8, first output, crop, clamp."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (0, (8 - w % 8) % 8, 0, (8 - h % 8) % 8), mode="reflect")
    with torch.inference_mode():
        return network(padded)[0][..., :h, :w].clamp(0, 1)


def _images(batch: int, seed: int) -> torch.Tensor:
    return torch.rand(batch, 3, 20, 27, generator=torch.Generator().manual_seed(seed))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_run_loads_the_official_file_strictly(files, tmp_path) -> None:
    row = run_mini(
        tmp_path / "s.sqlite", "mprnet", "--variant", "derain", "--weights", files["derain"],
        "--suite", "mini-derain",
    )  # fmt: skip
    assert row["variant"] == "derain" and row["weights_sha256"] == _sha(files["derain"])
    assert [r["status"] for r in row["results"]] == ["ok"]
    assert row["provenance"]["params_stored"] == BASELINES_PARAMS["derain"]


def test_cli_routed_run_records_both_files_and_fails_other_tasks_by_name(
    files, tmp_path, monkeypatch
) -> None:
    from tests.runner import fakes  # 16x16 fixture benchmarks: fx-derain and fx-dehaze

    fakes.install(monkeypatch.setattr, tmp_path / "fixtures")
    weights = f"derain={files['derain']},deblur={files['deblur']}"
    row = run_mini(tmp_path / "s.sqlite", "mprnet", "--weights", weights, "--suite", "fx")
    shas = {task: _sha(path) for task, path in files.items()}
    assert row["weights_sha256"] == f"derain={shas['derain']},deblur={shas['deblur']}"
    routes = row["provenance"]["routes"]
    assert {t: r["weights_sha256"] for t, r in routes.items()} == shas
    by_bench = {r["benchmark"]: r for r in row["results"]}
    assert by_bench["fx-derain"]["status"] == "ok"
    assert by_bench["fx-dehaze"]["status"] == "failed"
    assert "no checkpoint for task 'dehaze'" in by_bench["fx-dehaze"]["reason"]


@pytest.mark.parametrize("variant", ["derain", "deblur"])
def test_complexity_reports_the_exact_parameters(variant: str) -> None:
    assert complexity_params("mprnet", variant) == BASELINES_PARAMS[variant]


def test_check_passes_with_the_routed_checkpoints(files) -> None:
    weights = f"derain={files['derain']},deblur={files['deblur']}"
    result = harness("check", "mprnet", "--weights", weights)
    assert result.exit_code == 0, result.output
    assert "contract passed" in result.output


def test_other_methods_checkpoints_are_refused_by_name(tmp_path) -> None:
    for name, signature in (("restormer", "Restormer"), ("nafnet_gopro_width64", "NAFNet")):
        keys = [e.key for e in read_key_file(name).entries]
        path = tmp_path / f"{name}.pth"
        write_official(path, {k: torch.zeros(1) for k in keys}, "state_dict", "module.")
        with pytest.raises(CheckpointMismatchError, match=f"holds {signature} weights, not "):
            MPRNetRestorer(variant="deblur", weights=str(path))


def test_the_deblurring_file_is_refused_as_the_deraining_variant(files) -> None:
    with pytest.raises(CheckpointMismatchError, match="wrong shape for MPRNet \\(derain\\)"):
        MPRNetRestorer(variant="derain", weights=str(files["deblur"]))
    assert MPRNetRestorer.inspect_weights(files["deblur"]) == "deblur"


def test_each_task_goes_to_its_own_network(routed, states) -> None:
    x = _images(2, seed=1)
    outs = {}
    for task in ("derain", "deblur"):
        got = outs[task] = routed.restore(ImageBatch(images=x, ids=("a", "b"), task=task))
        direct = load_synthetic(lambda t=task: MPRNet(t), states[task])
        assert max_diff(got, _official_padded(direct, x)) < TOL
        alone = [
            routed.restore(ImageBatch(images=x[i : i + 1], ids=("a",), task=task)) for i in (0, 1)
        ]
        assert max_diff(got, torch.cat(alone)) < TOL  # independent of the batch
    assert max_diff(outs["derain"], outs["deblur"]) > 1e-2  # the two routes are distinguishable


def test_the_shared_prelu_holds_the_files_value(routed, states) -> None:
    for task in ("derain", "deblur"):
        network = routed.module()[task]
        slopes = {v.data_ptr() for k, v in network.state_dict().items() if tuple(v.shape) == (1,)}
        assert len(slopes) == 1
        assert network.shallow_feat1[1].body[1].weight.item() == pytest.approx(SLOPES[task])


def test_a_task_without_checkpoint_is_refused_naming_task_and_variants(routed) -> None:
    with pytest.raises(HarnessError, match="no checkpoint for task 'lowlight'") as err:
        routed.restore(ImageBatch(images=_images(1, seed=3), ids=("a",), task="lowlight"))
    assert "--variant derain or --variant deblur" in (err.value.hint or "")


def test_training_loss_is_l1_over_the_three_stages(states) -> None:
    network = load_synthetic(lambda: MPRNet("derain"), states["derain"])
    x, y = _images(1, seed=4)[..., :16, :16], _images(1, seed=5)[..., :16, :16]
    with torch.no_grad():
        want = sum(float((out - y).abs().mean()) for out in network(x))
        got = float(MPRNetRestorer.training_loss(network, x, y, torch.Generator()))
    assert got == pytest.approx(want, rel=1e-6)


def test_flops_of_the_routed_variant_are_those_of_the_task_s_network() -> None:
    from harness.complexity import flops_per_image

    routed = MPRNetRestorer(variant="routed", random_init=True)
    single = {t: MPRNetRestorer(variant=t, random_init=True) for t in ("derain", "deblur")}
    counts = {t: flops_per_image(routed, 32, 32, "cpu", t).per_image for t in single}
    for task, restorer in single.items():
        assert counts[task] == flops_per_image(restorer, 32, 32, "cpu", task).per_image
    assert counts["deblur"] > counts["derain"]  # 20.1M against 3.6M parameters
