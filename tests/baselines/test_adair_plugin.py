"""The AdaIR plugin: official Lightning files load strictly through the CLI; padding is measured.

Independent expectations: keys, shapes and the parameter count come from the key file of the
official architecture (``data/adair.txt``, 587 entries, 28,784,824 elements); outputs come from the
official module run on the same synthetic weights (``data/restormer_family_reference.npz``); the
checkpoint names and the download folder from the official README and ``test.py`` (c-yn/AdaIR).
The network is built from a file at most three times here (restorer fixture, ``run``, ``check``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from baselines.adair.network import AdaIR
from baselines.adair.restorer import AdaIRRestorer
from harness.checkpoints import CheckpointMismatchError
from harness.errors import HarnessError
from harness.restorer import ImageBatch
from harness.store import Store
from harness.weights import resolve_weights
from tests.baselines.keyfiles import read_key_file
from tests.baselines.lightning_plugins import (
    harness,
    official_state,
    write_lightning_checkpoint,
    zeros_state,
)
from tests.baselines.restormer_family import (
    TOL,
    fixed_images,
    key_shapes,
    load_reference,
    synthetic_state_dict,
)

KEYS = read_key_file("adair")
DRIVE_FOLDER = "https://drive.google.com/drive/folders/1x2LN4kWkO3S65jJlH-1INUFiYt8KFzPH"
SMALL = {"dim": 8, "num_blocks": (1, 1, 1, 1), "num_refinement_blocks": 1}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A synthetic AdaIR checkpoint in the official Lightning container: (path, sha256)."""
    path = tmp_path_factory.mktemp("adair") / "synthetic-adair.ckpt"
    return path, write_lightning_checkpoint(path, official_state("adair"))


@pytest.fixture(scope="module")
def restorer(
    checkpoint: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> AdaIRRestorer:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(tmp_path_factory.mktemp("cache")))
        return AdaIRRestorer(weights=str(checkpoint[0]))


def _diff(a: torch.Tensor, b: object) -> float:
    return (a - torch.as_tensor(b)).abs().max().item()


def _restore(method: AdaIRRestorer, images: torch.Tensor) -> torch.Tensor:
    ids = tuple(f"img-{i}" for i in range(images.shape[0]))
    return method.restore(ImageBatch(images=images, ids=ids))


def test_lightning_file_loads_strictly_with_provenance(
    restorer: AdaIRRestorer, checkpoint: tuple[Path, str]
) -> None:
    state = restorer.module().state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == [
        (e.key, e.shape) for e in KEYS.entries
    ]
    want = official_state("adair")
    assert all(torch.equal(state[k], v) for k, v in want.items())
    info = restorer.provenance()
    assert info["weights_sha256"] == checkpoint[1]
    assert info["params_stored"] == KEYS.declared_elements == 28_784_824
    assert info["pad"] == "reflect to a multiple of 8, cropped back"


def test_harness_padding_equals_the_official_module_padded_by_hand(
    restorer: AdaIRRestorer,
) -> None:
    # reference: the official module on the input reflect-padded to x8 at bottom/right, cropped
    want = torch.as_tensor(load_reference()["adair_27x37_padded"])
    assert want.min() < 0 or want.max() > 1  # the clamp is part of what is compared
    out = _restore(restorer, fixed_images(1, 27, 37, seed=3))
    assert out.shape == (1, 3, 27, 37)
    assert _diff(out, want.clamp(0, 1)) < TOL


def test_a_multiple_of_8_reaches_the_network_unpadded(restorer: AdaIRRestorer) -> None:
    # the official test feeds centre crops to a multiple of 16 without padding: same input here
    want = torch.as_tensor(load_reference()["adair_32x48"])
    assert _diff(_restore(restorer, fixed_images(1, 32, 48, seed=1)), want.clamp(0, 1)) < TOL


def test_output_does_not_depend_on_batch_composition(restorer: AdaIRRestorer) -> None:
    pair = fixed_images(2, 27, 37, seed=11)
    together = _restore(restorer, pair)
    alone = torch.cat([_restore(restorer, pair[:1]), _restore(restorer, pair[1:])])
    assert _diff(together[0], together[1]) > 0.1  # two different images
    assert _diff(together, alone) < TOL


def _small_network() -> AdaIR:
    """AdaIR at dim 8 with every mask rate exactly sigmoid(0) = 0.5."""
    net = AdaIR(**SMALL).eval()
    net.load_state_dict(synthetic_state_dict(key_shapes(net)), strict=True)
    with torch.no_grad():
        for block in (net.fre1, net.fre2, net.fre3):
            block.rate_conv[2].weight.zero_()
    return net


def _recording_low_part(net: AdaIR) -> list[float]:
    """Make ``net.fre3`` record the float64 sum of |low-frequency part| of each call."""
    seen: list[float] = []
    split = net.fre3.split

    def recording(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low, high = split(image)
        seen.append(low.double().abs().sum().item())
        return low, high

    net.fre3.split = recording  # type: ignore[method-assign]
    return seen


def test_frequency_mask_follows_the_padded_size_and_the_harness_pads_to_8() -> None:
    # a 500x500 image: padded to x8 (504) fre3 sees 252x252 and 252 // 128 * 0.5 = 0, an empty
    # mask; padded to x16 (512) it sees 256x256 and 256 // 128 * 0.5 = 1, a non-empty low band
    net = _small_network()
    low_sums = _recording_low_part(net)
    method = AdaIRRestorer(random_init=True)
    method.network = net  # the plugin's padding around a small network (same forward)
    x = fixed_images(1, 500, 500, seed=12)
    got = _restore(method, x)  # padded by the harness
    with torch.inference_mode():
        out_16 = net(F.pad(x, (0, 12, 0, 12), mode="reflect"))[..., :500, :500].clamp(0, 1)
    assert low_sums[0] == 0  # the harness's padding (to 504) keeps every mask empty
    assert low_sums[1] > 1.0  # padding the same pixels to 512 switches fre3's split on
    assert _diff(got, out_16) > 1e-3


def test_run_cli_loads_the_lightning_file(checkpoint: tuple[Path, str], tmp_path: Path) -> None:
    store = tmp_path / "results.sqlite"
    result = harness(
        "run", "-m", "adair", "--weights", str(checkpoint[0]), "-s", "mini-derain",
        "--limit", "1", "--no-report", "--no-flops", "--workers", "0", "--store", str(store),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with Store(store) as s:
        (run,) = s.runs()
        rows = s.results([run["run_id"]])
    assert (run["method"], run["variant"]) == ("adair", "adair5d")
    assert run["weights_sha256"] == checkpoint[1]
    assert [r["status"] for r in rows] == ["ok"]


def test_check_cli_passes(checkpoint: tuple[Path, str]) -> None:
    result = harness("check", "adair", "--weights", str(checkpoint[0]))
    assert result.exit_code == 0, result.output
    for name in ("batch-invariant", "blind", "odd-size", "deterministic", "range"):
        assert f"PASS  {name}" in result.output
    assert "contract passed" in result.output


@pytest.mark.parametrize("variant", ["adair5d", "adair3d"])
def test_complexity_counts_the_published_parameters(variant: str) -> None:
    result = harness(
        "complexity", "adair", "--variant", variant, "--size", "16x16",
        "--repeats", "0", "--warmup", "0", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["variant"] == variant
    assert report["params"] == KEYS.declared_elements == 28_784_824


@pytest.mark.parametrize(
    ("key_file", "container", "signature"),
    [("promptir", "state_dict", "PromptIR"), ("restormer", "params", "Restormer")],
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
    result = harness("run", "-m", "adair", "--weights", str(path), "-s", "mini-derain")
    assert isinstance(result.exception, CheckpointMismatchError)
    assert f"holds {signature} weights, not AdaIR weights" in str(result.exception)


def test_missing_weights_name_the_file_and_where_it_comes_from() -> None:
    # the console script, as a user sees it, with the test's empty cache (conftest)
    for variant, file in (("adair5d", "adair5d.ckpt"), ("adair3d", "adair3d.ckpt")):
        out = subprocess.run(
            [sys.executable, "-m", "harness", "--device", "cpu", "run", "-m", "adair",
             "--variant", variant, "--suite", "mini", "--no-report"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert out.returncode != 0
        assert f"missing weights '{variant}'" in out.stderr
        assert f"/weights/adair/{file}" in out.stderr
        assert f"get it from: {DRIVE_FOLDER}" in out.stderr
        assert "none is published" in out.stderr


def test_added_file_takes_the_variant_of_its_name_and_keeps_it(
    checkpoint: tuple[Path, str], tmp_path: Path
) -> None:
    copy = tmp_path / "adair3d.ckpt"
    copy.write_bytes(checkpoint[0].read_bytes())
    result = harness("weights", "add", "adair", str(copy))
    assert result.exit_code == 0, result.output
    resolved = resolve_weights("adair", "adair3d", None)
    assert resolved.sha256 == checkpoint[1] and resolved.entry is not None
    assert resolved.entry.name == "adair3d" and resolved.entry.setting is not None
    assert set(resolved.entry.setting.tasks) == {"denoise", "derain", "dehaze"}
    # the same bytes are now known as the 3-task checkpoint: the 5-task variant refuses them
    with pytest.raises(HarnessError, match="weights 'adair3d' for adair variant 'adair3d'"):
        AdaIRRestorer(variant="adair5d", weights=str(copy))


def test_a_file_of_another_architecture_cannot_be_added(tmp_path: Path) -> None:
    path = tmp_path / "adair5d.ckpt"
    state = zeros_state("adair")
    del state["fre3.para1"]
    write_lightning_checkpoint(path, state)
    result = harness("weights", "add", "adair", str(path))
    assert isinstance(result.exception, CheckpointMismatchError)
    assert "fre3.para1" in str(result.exception)


def test_ls_methods_lists_adair_with_its_licence() -> None:
    rows = {r["name"]: r for r in json.loads(harness("ls", "methods", "--json").output)}
    adair = rows["adair"]
    assert adair["license"] == "MIT" and adair["blind"] is True
    assert adair["params"] == {"adair5d": 28_784_824, "adair3d": 28_784_824}
    assert adair["loads_weights"] is True
