"""The airnet plugin: All.pth (plain state_dict, MoCo entries set aside and counted) through the
CLI, exact parameter counts, the FLOPs the counter misses, the contract, refusals by name and by
the publisher's git blob SHA-1."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.ops import deform_conv2d
from typer.testing import CliRunner

from baselines.airnet.restorer import AirNetRestorer
from harness.checkpoints import CheckpointMismatchError, ChecksumMismatchError
from harness.cli import app
from harness.complexity import measure
from harness.contract import run_contract, synthetic_images
from harness.errors import MissingFileError
from harness.restorer import ImageBatch
from harness.store import Store
from harness.weights import add_weights, manifest_entries
from tests.baselines.keyfiles import read_key_file
from tests.baselines.synthetic_weights import parameter_count, synthetic_state_dict
from tests.runner import fakes

# BASELINES.md section 1: stored 8,930,313; used at test: restorer 6,290,441 + encoder_q 1,319,936
STORED, USED = 8_930_313, 6_290_441 + 1_319_936
PUBLISHED_BLOB = "9eb4389b8e340133841e4f9884e3fabc3a92e3c2"  # BASELINES.md: ckpt/All.pth


@pytest.fixture(scope="module")
def entries():
    return read_key_file("airnet_all").entries


@pytest.fixture(scope="module")
def checkpoint(entries, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic All.pth in the official container: every key of the key file, plain."""
    path = tmp_path_factory.mktemp("airnet") / "All.pth"
    torch.save(synthetic_state_dict(entries, seed=101, gain=0.5), path)
    return path


@pytest.fixture
def fixture_benchmarks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's fake 16x16 benchmarks (the real mini suite is 256x256: minutes on a CPU)."""
    fakes.install(monkeypatch.setattr, tmp_path / "fixtures")


@pytest.fixture(scope="module")
def restorer(checkpoint: Path) -> AirNetRestorer:
    return AirNetRestorer(weights=str(checkpoint))


def test_synthetic_file_has_the_key_files_keys_shapes_and_dtypes(entries, checkpoint) -> None:
    state = torch.load(checkpoint, weights_only=True)
    assert [(k, tuple(v.shape), v.dtype) for k, v in state.items()] == [
        (e.key, e.shape, e.dtype) for e in entries
    ]
    assert parameter_count(entries) == STORED


def test_loads_strictly_sets_training_only_entries_aside_and_counts_them(
    restorer, checkpoint, entries
) -> None:
    state = torch.load(checkpoint, weights_only=True)
    loaded = restorer.module().state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    assert sorted(set(state) - set(loaded)) == sorted(
        e.key for e in entries if e.key.startswith(("E.E.encoder_k.", "E.E.queue"))
    )
    info = restorer.provenance()
    assert info["params_stored"] == STORED
    assert restorer.params_detail() == {
        "used at inference": USED,
        "stored in the checkpoint": STORED,
    }
    assert AirNetRestorer.params == {"base": USED}
    assert AirNetRestorer.inspect_weights(checkpoint) == "base"


def test_restore_is_the_network_unpadded_and_clamped(restorer) -> None:
    x = synthetic_images(2, 13, 11)
    out = restorer.restore(ImageBatch(images=x, ids=("a", "b")))
    with torch.inference_mode():
        want = restorer.module()(x).clamp(0, 1)
    assert out.shape == x.shape and torch.equal(out, want)


def test_run_through_the_cli_loads_the_file_and_records_it(
    checkpoint, tmp_path, fixture_benchmarks
) -> None:
    store = tmp_path / "s.sqlite"
    args = ["-q", "--device", "cpu", "run", "--method", "airnet", "--weights", str(checkpoint)]
    args += ["--suite", "fx-derain", "--limit", "1", "--no-report", "--workers", "0", "--no-flops"]
    result = CliRunner().invoke(app, [*args, "--store", str(store)])
    assert result.exit_code == 0, result.output
    with Store(store, readonly=True) as s:
        (run,) = s.runs()
        (bench,) = s.benchmarks([run["run_id"]])
    prov = run["provenance"]
    assert prov["weights_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert prov["params_stored"] == STORED and prov["random_init"] is False
    assert bench["complexity"]["params"] == USED


def test_contract_passes_on_small_images(checkpoint) -> None:
    """The checks of `harness check` (its CLI crops of 48x64 take minutes on a CPU here)."""
    report = run_contract(
        lambda: AirNetRestorer(weights=str(checkpoint)),
        synthetic_images(2, 8, 8),
        benchmark="mini-derain",
    )
    failed = [(c.name, c.detail) for c in report.checks if c.passed is False]
    assert not failed and {c.name for c in report.checks} >= {"blind", "batch-invariant"}


def test_another_methods_checkpoint_is_refused_by_name(tmp_path) -> None:
    keys = ("enc_cond.0.fc.weight", "dec_cond.0.fc.weight", "intro.weight")
    torch.save({k: torch.zeros(2) for k in keys}, tmp_path / "im.pt")
    with pytest.raises(CheckpointMismatchError, match="holds InstructIR weights, not AirNet"):
        AirNetRestorer(weights=str(tmp_path / "im.pt"))


def test_deformable_convolution_counts_no_flops_so_the_report_says_so() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    x, weight = torch.rand(1, 4, 5, 6), torch.rand(4, 4, 3, 3)
    offset, mask = torch.rand(1, 18, 5, 6), torch.rand(1, 9, 5, 6)
    with FlopCounterMode(display=False) as counter:
        deform_conv2d(x, offset, weight, padding=(1, 1), mask=mask)
    assert counter.get_total_flops() == 0
    assert "deform_conv2d" in AirNetRestorer.flops_not_counted[0]


def test_complexity_reports_both_counts_and_the_uncounted_op(restorer) -> None:
    report = measure(restorer, [(8, 12)], repeats=0, memory=False).to_dict()
    assert report["params"] == USED
    assert report["params_detail"] == {
        "used at inference": USED,
        "stored in the checkpoint": STORED,
    }
    assert report["flops_not_counted"] and "deform_conv2d" in report["flops_not_counted"][0]
    # counted: every nn.Conv2d that runs (all stride 1, 'same' padding), none of the deformable
    # convolutions; one output pixel costs weight.numel() multiply-adds of each conv
    net = restorer.module()
    running = [net.R, net.E.E.encoder_q.E_pre]
    per_pixel = sum(
        m.weight.numel() for part in running for m in part.modules() if isinstance(m, nn.Conv2d)
    )
    assert report["sizes"][0]["macs_per_image"] == 8 * 12 * per_pixel


def test_complexity_cli_shows_both_counts_and_the_note_without_weights() -> None:
    args = ["--device", "cpu", "complexity", "airnet", "--size", "8x8", "--repeats", "0"]
    text = CliRunner().invoke(app, [*args, "--warmup", "0"]).output
    assert f"params: {USED:,}" in text and f"stored in the checkpoint: {STORED:,}" in text
    assert "note: FLOPs not counted: AirNet's 50 modulated deformable" in text
    assert "measured with random init" in text


def test_manifest_pins_the_publishers_blob_and_the_3task_setting() -> None:
    (entry,) = manifest_entries("airnet")
    assert entry.file == "All.pth" and entry.git_blob_sha1 == PUBLISHED_BLOB
    assert entry.sha256 is None and entry.setting is not None
    assert set(entry.setting.tasks) == {"denoise", "derain", "dehaze"}
    with pytest.raises(MissingFileError, match=PUBLISHED_BLOB):
        AirNetRestorer()


def test_a_file_that_is_not_the_published_all_pth_is_refused_on_add(checkpoint) -> None:
    blob = subprocess.run(
        ["git", "hash-object", "--no-filters", str(checkpoint)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with pytest.raises(ChecksumMismatchError) as info:
        add_weights("airnet", checkpoint)  # named All.pth, but not the publisher's bytes
    assert PUBLISHED_BLOB in str(info.value) and blob in str(info.value)
