"""Generic training machinery: EMA schedule, patch sampling, checkpoint round trip and resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.errors import HarnessError
from harness.training import (
    EMA,
    PatchSampler,
    TaskImages,
    TrainConfig,
    fit,
    learning_rate,
    load_checkpoint_dir,
)


def _reference_ema(values: list[float], beta: float, every: int, after: int, power: float) -> float:
    """ema_pytorch's documented rule, written out step by step for one scalar weight."""
    shadow = values[0]
    for counter, online in enumerate(values):
        if counter % every:
            continue
        if counter <= after:
            shadow = online
            continue
        epoch = counter - after - 1
        gamma = 0.0 if epoch <= 0 else min(beta, 1 - (1 + epoch) ** -power)
        shadow = shadow - (1 - gamma) * (shadow - online)
    return shadow


def test_ema_follows_the_ema_pytorch_rule() -> None:
    model = nn.Linear(1, 1, bias=False)
    ema = EMA(model, beta=0.995, update_every=10, update_after_step=100, power=2 / 3)
    values = [float(i) * 0.01 for i in range(1, 1500)]
    for v in values:
        with torch.no_grad():
            model.weight.fill_(v)
        ema.update(model)
    expected = _reference_ema(values, 0.995, 10, 100, 2 / 3)
    assert ema.shadow["weight"].item() == pytest.approx(expected, rel=1e-5)
    # the decay reaches beta after about 2.9k counts, as the spec says
    assert ema.decay(2950) == pytest.approx(0.995, abs=2e-4)
    assert ema.decay(100) == 0.0


def _tasks(size: int = 40) -> list[TaskImages]:
    g = torch.Generator().manual_seed(0)
    return [
        TaskImages(
            task,
            [
                torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8)
                for _ in range(3)
            ],
            [
                torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8)
                for _ in range(3)
            ],
        )
        for task in ("derain", "dehaze")
    ]


def test_patch_sampler_mixes_tasks_and_keeps_pairs_aligned() -> None:
    tasks = _tasks()
    # make target = input so alignment of crops and flips can be checked exactly
    for t in tasks:
        t.targets = [x.clone() for x in t.inputs]
    sampler = PatchSampler(tasks, crop=16, batch_per_task=3)
    cond, clean = sampler.sample(torch.Generator().manual_seed(1))
    assert cond.shape == (6, 3, 16, 16) and cond.dtype == torch.float32
    assert torch.equal(cond, clean)
    assert 0.0 <= float(cond.min()) and float(cond.max()) <= 1.0


def test_patch_sampler_refuses_crop_larger_than_images() -> None:
    with pytest.raises(HarnessError, match="crop"):
        PatchSampler(_tasks(size=20), crop=32, batch_per_task=1)


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _loss(model, cond, clean, gen):
    jitter = torch.rand((), generator=gen)  # consumes the generator like a real objective
    return (model(cond) - clean).abs().mean() + 0 * jitter


def _config(steps: int) -> TrainConfig:
    return TrainConfig(
        method="tiny",
        variant="default",
        steps=steps,
        crop=16,
        batch_per_task=2,
        lr=1e-2,
        ema_update_every=1,
        ema_update_after_step=2,
        checkpoint_every=3,
    )


def test_fit_lowers_the_loss_on_a_learnable_problem(tmp_path) -> None:
    tasks = _tasks()
    for t in tasks:  # identity mapping is learnable by a 3x3 conv
        t.targets = [x.clone() for x in t.inputs]
    torch.manual_seed(0)
    _, history = fit(
        _Tiny(), _loss, PatchSampler(tasks, 16, 2), _config(60), tmp_path, progress=False
    )
    assert sum(history[-10:]) / 10 < 0.5 * sum(history[:10]) / 10


def test_checkpoint_round_trip_is_bit_exact_and_resume_matches(tmp_path) -> None:
    tasks = _tasks()
    torch.manual_seed(0)
    straight = _Tiny()
    init = {k: v.clone() for k, v in straight.state_dict().items()}
    ema_a, hist_a = fit(
        straight, _loss, PatchSampler(tasks, 16, 2), _config(9), tmp_path / "a", progress=False
    )

    interrupted = _Tiny()
    interrupted.load_state_dict(init)
    fit(interrupted, _loss, PatchSampler(tasks, 16, 2), _config(6), tmp_path / "b", progress=False)
    resumed = _Tiny()  # a fresh process: other initial weights, restored from the checkpoint
    ema_b, hist_b = fit(
        resumed, _loss, PatchSampler(tasks, 16, 2), _config(9), tmp_path / "b", progress=False
    )
    assert hist_a == hist_b
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k])
    for k, v in ema_a.shadow.items():
        assert torch.equal(v, ema_b.shadow[k])

    # loading the saved directory into fresh objects gives exactly the saved tensors
    model = _Tiny()
    opt = torch.optim.Adam(model.parameters())
    ema = EMA(model, 0.995, 1, 2, 2 / 3)
    gen = torch.Generator()
    step, history, config = load_checkpoint_dir(tmp_path / "a", model, ema, opt, gen)
    assert step == 9 and history == hist_a and config["steps"] == 9
    for k, v in straight.state_dict().items():
        assert torch.equal(v, model.state_dict()[k])


def test_resume_with_other_options_is_refused(tmp_path) -> None:
    tasks = _tasks()
    fit(_Tiny(), _loss, PatchSampler(tasks, 16, 2), _config(3), tmp_path, progress=False)
    other = _config(6).model_copy(update={"lr": 0.5})
    with pytest.raises(HarnessError, match="different configuration"):
        fit(_Tiny(), _loss, PatchSampler(tasks, 16, 2), other, tmp_path, progress=False)


def test_task_batch_overrides_the_per_task_count() -> None:
    tasks = _tasks()
    for t in tasks:  # tag each task's images with a distinct constant so counts can be read back
        value = 10 if t.task == "derain" else 200
        t.inputs = [torch.full_like(x, value) for x in t.inputs]
        t.targets = [x.clone() for x in t.inputs]
    sampler = PatchSampler(tasks, crop=8, batch_per_task=1, task_batch={"derain": 3})
    cond, _ = sampler.sample(torch.Generator().manual_seed(0))
    firsts = [round(float(c[0, 0, 0]) * 255) for c in cond]
    assert sorted(firsts) == [10, 10, 10, 200]
    with pytest.raises(HarnessError, match="task-batch"):
        PatchSampler(tasks, crop=8, batch_per_task=1, task_batch={"deblur": 2})


def _torch_schedule(lr: float, warmup: int, steps: int, cosine: bool) -> list[float]:
    """The same schedule built from torch's own LR schedulers (an independent implementation)."""
    from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, LinearLR, SequentialLR

    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    after = (
        CosineAnnealingLR(opt, T_max=steps - warmup, eta_min=0.0)
        if cosine
        else ConstantLR(opt, factor=1.0, total_iters=0)
    )
    if warmup:
        ramp = LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1)
        scheduler = SequentialLR(opt, [ramp, after], milestones=[warmup])
    else:
        scheduler = after
    values = []
    for _ in range(steps):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return values


@pytest.mark.parametrize(
    ("warmup", "schedule"), [(0, "constant"), (7, "constant"), (0, "cosine"), (5, "cosine")]
)
def test_learning_rate_matches_torch_schedulers(warmup: int, schedule: str) -> None:
    config = _config(40).model_copy(
        update={"lr": 3e-4, "lr_warmup_steps": warmup, "lr_schedule": schedule}
    )
    ours = [learning_rate(config, step) for step in range(40)]
    expected = _torch_schedule(3e-4, warmup, 40, schedule == "cosine")
    assert ours == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_fit_applies_the_schedule_to_the_optimizer(tmp_path) -> None:
    seen: list[float] = []
    config = _config(6).model_copy(update={"lr_warmup_steps": 3, "lr_schedule": "cosine"})
    original = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = recording_step
    try:
        fit(_Tiny(), _loss, PatchSampler(_tasks(), 16, 2), config, tmp_path, progress=False)
    finally:
        torch.optim.Adam.step = original
    assert seen == pytest.approx(_torch_schedule(config.lr, 3, 6, cosine=True))


def test_resume_of_a_cosine_run_with_other_steps_is_refused(tmp_path) -> None:
    tasks = _tasks()
    config = _config(3).model_copy(update={"lr_schedule": "cosine"})
    fit(_Tiny(), _loss, PatchSampler(tasks, 16, 2), config, tmp_path, progress=False)
    longer = config.model_copy(update={"steps": 6})
    with pytest.raises(HarnessError, match="steps"):
        fit(_Tiny(), _loss, PatchSampler(tasks, 16, 2), longer, tmp_path, progress=False)
    # a constant schedule may be extended: the lr of the steps already taken does not change
    constant = tmp_path / "constant"
    fit(_Tiny(), _loss, PatchSampler(tasks, 16, 2), _config(3), constant, progress=False)
    _, history = fit(
        _Tiny(), _loss, PatchSampler(tasks, 16, 2), _config(6), constant, progress=False
    )
    assert len(history) == 6
