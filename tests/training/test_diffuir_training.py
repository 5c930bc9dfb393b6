"""DiffUIR's training objective through ``harness train``: the loss goes down, and a resumed run
is bit-identical to an uninterrupted one (checkpoints round-trip exactly)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from baselines.diffuir.network import build_unet
from baselines.diffuir.schedule import Schedule
from baselines.diffuir.training import diffuir_loss
from harness.cli import app
from harness.training import PatchSampler, TrainConfig, fit, load_task_images


def _fixed_batch_loss(unet, schedule, cond, clean) -> float:
    with torch.no_grad():
        return float(diffuir_loss(unet, schedule, cond, clean, torch.Generator().manual_seed(123)))


def test_training_lowers_the_diffuir_loss_on_a_fixed_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    unet, schedule = build_unet("t"), Schedule()
    tasks = load_task_images("mini-train", tmp_path)
    sampler = PatchSampler(tasks, crop=32, batch_per_task=1)
    cond, clean = sampler.sample(torch.Generator().manual_seed(7))
    unet.eval()
    before = _fixed_batch_loss(unet, schedule, cond, clean)
    config = TrainConfig(
        method="diffuir",
        variant="t",
        steps=25,
        crop=32,
        batch_per_task=1,
        lr=1e-3,
        checkpoint_every=25,
    )
    fit(
        unet,
        lambda m, c, y, g: diffuir_loss(m, schedule, c, y, g),
        sampler,
        config,
        tmp_path / "run",
        progress=False,
    )
    unet.eval()
    after = _fixed_batch_loss(unet, schedule, cond, clean)
    assert after < 0.8 * before, (before, after)


def _train(out: Path, steps: int) -> None:
    result = CliRunner().invoke(
        app,
        [
            "--device",
            "cpu",
            "-q",
            "train",
            "--method",
            "diffuir",
            "--variant",
            "t",
            "--steps",
            str(steps),
            "--crop",
            "32",
            "--batch-per-task",
            "1",
            "--lr",
            "1e-3",
            "--ema-update-every",
            "1",
            "--ema-update-after-step",
            "1",
            "--checkpoint-every",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output


def test_resumed_training_is_bit_identical_to_an_uninterrupted_one(tmp_path: Path) -> None:
    _train(tmp_path / "straight", 4)
    _train(tmp_path / "resumed", 2)
    _train(tmp_path / "resumed", 4)
    a = load_file(str(tmp_path / "straight" / "diffuir-t.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "diffuir-t.safetensors"))
    assert a.keys() == b.keys() and len(a) == 276
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_init_weights_starts_training_from_that_file(tmp_path: Path) -> None:
    """``--init-weights`` must reach the model: one near-zero step keeps the shipped weights."""
    import hashlib
    import json

    from harness.paths import REPO_ROOT

    shipped = REPO_ROOT / "baselines" / "diffuir" / "weights" / "diffuir-t-mini.safetensors"
    out = tmp_path / "ft"
    args = [
        "--device", "cpu", "-q", "train", "--method", "diffuir", "--variant", "t",
        "--steps", "1", "--crop", "32", "--batch-per-task", "1", "--lr", "1e-12",
        "--ema-update-every", "1", "--checkpoint-every", "1",
        "--init-weights", str(shipped), "--out", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    start = load_file(str(shipped))
    after = load_file(str(out / "diffuir-t.safetensors"))  # EMA still copies the weights
    assert after.keys() == start.keys()
    worst = max(float((after[k].float() - start[k].float()).abs().max()) for k in start)
    assert worst < 1e-8
    record = json.loads((out / "training.json").read_text())
    assert (
        record["config"]["init_weights_sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    )
    # a fresh initialisation is nowhere near the shipped weights, so the check above can fail
    torch.manual_seed(10)
    fresh = build_unet("t").state_dict()
    assert max(float((fresh[k] - start[k]).abs().max()) for k in start) > 1e-2


def test_bad_schedule_options_are_usage_errors_not_tracebacks(tmp_path: Path) -> None:
    base = ["train", "--method", "diffuir", "--steps", "1", "--out", str(tmp_path / "x")]
    for extra, hint in (
        (["--lr-schedule", "linear"], "--lr-schedule"),
        (["--lr-warmup-steps", "-1"], "--lr-warmup-steps"),
    ):
        result = CliRunner().invoke(app, [*base, *extra])
        assert result.exit_code == 2, result.output
        assert hint in result.output and "Traceback" not in result.output
        assert not (tmp_path / "x").exists()
