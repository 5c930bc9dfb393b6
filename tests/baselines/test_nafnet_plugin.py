"""The nafnet plugin: official BasicSR files load strictly through the CLI, exact parameter
counts, the contract, refusal of other files, third-party sha256 pins, and local pooling that
depends only on each image.

Expected values are independent of the plugin: parameter counts from BASELINES.md, keys from the
official key file (width 32 derived from it), the sha256 values as BASELINES.md lists them, and
the outputs of the clean-room network run directly on the same synthetic weights.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from baselines.nafnet.network import nafnet_gopro
from baselines.nafnet.restorer import NAFNetRestorer
from harness.checkpoints import CheckpointMismatchError, ChecksumMismatchError
from harness.errors import MissingFileError
from harness.restorer import ImageBatch
from tests.baselines.keyfiles import read_key_file
from tests.baselines.plugin_checks import (
    complexity_params,
    harness,
    max_diff,
    run_mini,
    write_official,
)
from tests.baselines.synthetic_weights import derive_width, load_synthetic, synthetic_state_dict

BASELINES_PARAMS = {"width64": 67_888_835, "width32": 17_111_907}  # BASELINES.md section 1
THIRD_PARTY_SHA256 = {  # BASELINES.md section 1, "Third-party sha256 [M]"
    "width64": "329d3ab4077b8d6b7ff61de376e483714667960bf85be027bf4335cda701196f",
    "width32": "19394e6155d12ef6371d1d57496f87f0ec88f92bdffa27c0792690722d5d1a5c",
}
TOL = 1e-5


@pytest.fixture(scope="module")
def state32() -> dict[str, torch.Tensor]:
    entries = derive_width(read_key_file("nafnet_gopro_width64").entries, 64, 32)
    return synthetic_state_dict(entries, seed=212, gain=0.75)


@pytest.fixture(scope="module")
def file32(state32, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("nafnet-weights") / "nafnet-w32.pth"
    write_official(path, state32, "params")
    return path


@pytest.fixture(scope="module")
def restorer32(file32) -> NAFNetRestorer:
    return NAFNetRestorer(variant="width32", weights=str(file32))


def _wide(batch: int, width: int, seed: int) -> torch.Tensor:
    """16 px tall and wider than 384 px: the windows are smaller than the maps at every level;
    brightening from left to right, so local means differ from the global one."""
    noise = torch.rand(batch, 3, 16, width, generator=torch.Generator().manual_seed(seed))
    return noise * torch.linspace(0.05, 1.0, width)


def test_cli_run_loads_the_official_file_strictly(file32, tmp_path) -> None:
    row = run_mini(
        tmp_path / "s.sqlite", "nafnet", "--variant", "width32", "--weights", file32,
        "--suite", "mini-deblur",
    )  # fmt: skip
    assert row["weights_sha256"] == hashlib.sha256(file32.read_bytes()).hexdigest()
    assert [r["status"] for r in row["results"]] == ["ok"]
    assert row["provenance"]["params_stored"] == BASELINES_PARAMS["width32"]


@pytest.mark.parametrize("variant", ["width64", "width32"])
def test_complexity_reports_the_exact_parameters(variant: str) -> None:
    assert complexity_params("nafnet", variant) == BASELINES_PARAMS[variant]


def test_check_passes(file32) -> None:
    result = harness("check", "nafnet", "--variant", "width32", "--weights", file32)
    assert result.exit_code == 0, result.output
    assert "contract passed" in result.output and "PASS  blind" in result.output


def test_other_files_are_refused(tmp_path, file32) -> None:
    keys = [e.key for e in read_key_file("restormer").entries]
    path = tmp_path / "restormer.pth"
    write_official(path, {k: torch.zeros(1) for k in keys}, "params")
    with pytest.raises(CheckpointMismatchError, match="holds Restormer weights, not NAFNet"):
        NAFNetRestorer(variant="width32", weights=str(path))
    with pytest.raises(CheckpointMismatchError, match=r"wrong shape for NAFNet \(width64\)"):
        NAFNetRestorer(variant="width64", weights=str(file32))
    assert NAFNetRestorer.inspect_weights(file32) == "width32"


def test_the_output_is_the_network_run_directly(restorer32, state32) -> None:
    direct = load_synthetic(lambda: nafnet_gopro(32), state32)
    x = _wide(1, 400, seed=1)
    with torch.inference_mode():
        want = direct(x).clamp(0, 1)
    assert max_diff(restorer32.restore(ImageBatch(images=x, ids=("a",))), want) < TOL
    plain = load_synthetic(lambda: nafnet_gopro(32, tlc=False), state32)
    with torch.inference_mode():
        # the local windows are in use at this size: global pooling gives another image
        assert max_diff(plain(x).clamp(0, 1), want) > 1e-3


def test_local_pooling_depends_only_on_each_image(file32) -> None:
    """Upstream's pooling layer keeps the window of the first image it sees; here two fresh
    restorers that first see different sizes give the same output for the same image."""
    x, other = _wide(1, 400, seed=2), _wide(1, 400, seed=3)
    different_size = _wide(1, 272, seed=4)

    def restore(restorer: NAFNetRestorer, images: torch.Tensor) -> torch.Tensor:
        return restorer.restore(ImageBatch(images=images, ids=tuple("ab"[: len(images)])))

    first = NAFNetRestorer(variant="width32", weights=str(file32))
    alone = restore(first, x)  # x is the first image this restorer sees
    second = NAFNetRestorer(variant="width32", weights=str(file32))
    restore(second, different_size)  # another size first
    assert torch.equal(restore(second, x), alone)
    assert max_diff(restore(second, torch.cat([other, x]))[1:], alone) < TOL


def test_manifest_pins_the_third_party_sha256() -> None:
    from harness.weights import manifest_entries

    entries = {e.variant: e for e in manifest_entries("nafnet")}
    assert {v: e.sha256 for v, e in entries.items()} == THIRD_PARTY_SHA256
    assert {e.sha256_origin for e in entries.values()} == {"third-party"}
    assert {tuple(e.setting.tasks) for e in entries.values()} == {("deblur",)}


def test_a_mismatch_says_the_pin_is_third_party(file32, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "weights" / "nafnet"
    folder.mkdir(parents=True)
    (folder / "NAFNet-GoPro-width32.pth").write_bytes(file32.read_bytes())
    monkeypatch.setenv("HARNESS_WEIGHTS", str(tmp_path / "weights"))
    with pytest.raises(MissingFileError, match="a third-party record") as missing:
        NAFNetRestorer(variant="width64")
    assert f"expected sha256: {THIRD_PARTY_SHA256['width64']} (a" in missing.value.message
    with pytest.raises(ChecksumMismatchError, match="a third-party record") as err:
        NAFNetRestorer(variant="width32")
    assert THIRD_PARTY_SHA256["width32"] in err.value.message
    assert "harness weights add nafnet FILE --name NAME" in (err.value.hint or "")
    listing = harness("weights", "verify", "nafnet")
    assert listing.exit_code == 1
    assert "pinned sha256 (a third-party record, not published by the authors)" in listing.output
    assert f"!= pinned {THIRD_PARTY_SHA256['width32']} (a third-party" in listing.output
