"""Generic training machinery: mixed-task patch sampling, EMA, resumable checkpoints, the loop.

Method-specific parts (the loss) live with the method; a Restorer class opts in by implementing
``train(config)``. Checkpoints are safetensors (tensors) plus a JSON state (step, config, RNG
state), so a resumed run continues bit-exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError
from harness.train_config import TrainConfig

CHECKPOINT_FILE = "checkpoint.safetensors"
STATE_FILE = "state.json"


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based): warm-up, then constant or cosine."""
    warmup = config.lr_warmup_steps
    if step < warmup:
        return config.lr * (step + 1) / warmup
    if config.lr_schedule == "constant":
        return config.lr
    span = max(config.steps - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class TaskImages:
    """The training pairs of one task, decoded once: uint8 tensors [3, H, W]."""

    task: str
    inputs: list[torch.Tensor]
    targets: list[torch.Tensor]


class PatchSampler:
    """Draws mixed-task batches of random crops with a shared horizontal flip per pair."""

    def __init__(
        self,
        tasks: list[TaskImages],
        crop: int,
        batch_per_task: int,
        task_batch: dict[str, int] | None = None,
    ) -> None:
        unknown = set(task_batch or {}) - {t.task for t in tasks}
        if unknown:
            raise HarnessError(
                f"--task-batch names tasks not in the training data: {', '.join(sorted(unknown))}"
            )
        for task in tasks:
            for img in task.inputs:
                if min(img.shape[-2:]) < crop:
                    raise HarnessError(
                        f"training crop {crop} is larger than an image of task {task.task!r} "
                        f"({tuple(img.shape[-2:])})",
                        hint="pass a smaller --crop",
                    )
        self.tasks = tasks
        self.crop = crop
        self.batch_per_task = batch_per_task
        self.task_batch = dict(task_batch or {})

    def sample(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: (degraded, clean) float32 [N, 3, crop, crop] in [0, 1]."""
        cond, clean = [], []
        c = self.crop
        for task in self.tasks:
            for _ in range(self.task_batch.get(task.task, self.batch_per_task)):
                i = int(torch.randint(len(task.inputs), (1,), generator=gen))
                x, y = task.inputs[i], task.targets[i]
                h, w = x.shape[-2:]
                top = int(torch.randint(h - c + 1, (1,), generator=gen))
                left = int(torch.randint(w - c + 1, (1,), generator=gen))
                flip = bool(torch.rand((), generator=gen) < 0.5)
                xc = x[:, top : top + c, left : left + c]
                yc = y[:, top : top + c, left : left + c]
                if flip:
                    xc, yc = xc.flip(-1), yc.flip(-1)
                cond.append(xc)
                clean.append(yc)
        return torch.stack(cond).float() / 255.0, torch.stack(clean).float() / 255.0


class EMA:
    """Exponential moving average of weights with ema_pytorch's warm-up schedule.

    Called once per optimizer step; acts every ``update_every`` calls; copies the weights while the
    counter is <= ``update_after_step``; then decays with
    ``gamma = min(beta, 1 - (1 + counter - update_after_step - 1) ** -power)``.
    """

    def __init__(
        self, model: nn.Module, beta: float, update_every: int, update_after_step: int, power: float
    ) -> None:
        self.beta, self.update_every = beta, update_every
        self.update_after_step, self.power = update_after_step, power
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.counter = 0

    def decay(self, counter: int) -> float:
        """The decay used at a given counter value (0 while still copying)."""
        epoch = counter - self.update_after_step - 1
        if epoch <= 0:
            return 0.0
        return min(self.beta, max(0.0, 1.0 - (1.0 + epoch) ** -self.power))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Advance the counter and fold the current weights in when it is this call's turn."""
        counter = self.counter
        self.counter += 1
        if counter % self.update_every != 0:
            return
        current = model.state_dict()
        if counter <= self.update_after_step:
            for k, v in current.items():
                self.shadow[k].copy_(v)
            return
        gamma = self.decay(counter)
        for k, v in current.items():
            if v.dtype.is_floating_point:
                self.shadow[k].lerp_(v, 1.0 - gamma)
            else:
                self.shadow[k].copy_(v)


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for idx, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"opt.{idx}.{key}"] = torch.as_tensor(value).clone()
    return out


def _load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    sd["state"] = state
    opt.load_state_dict(sd)


def save_checkpoint(
    out: Path,
    model: nn.Module,
    ema: EMA,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    step: int,
    config: TrainConfig,
    history: list[float],
) -> None:
    """Write the resumable state atomically (tensors to safetensors, the rest to JSON)."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.cpu().contiguous() for k, v in ema.shadow.items()})
    tensors.update(_optimizer_tensors(opt))
    tensors["rng.torch"] = gen.get_state()
    tmp = out / (CHECKPOINT_FILE + ".tmp")
    save_file(tensors, str(tmp))
    state = {
        "step": step,
        "ema_counter": ema.counter,
        "config": config.model_dump(mode="json"),
        "loss_history": history,
    }
    tmp_state = out / (STATE_FILE + ".tmp")
    tmp_state.write_text(json.dumps(state, indent=1))
    tmp.replace(out / CHECKPOINT_FILE)
    tmp_state.replace(out / STATE_FILE)


def load_checkpoint_dir(
    out: Path, model: nn.Module, ema: EMA, opt: torch.optim.Optimizer, gen: torch.Generator
) -> tuple[int, list[float], dict[str, Any]]:
    """Restore a run saved by ``save_checkpoint``; return (step, loss history, saved config)."""
    from safetensors.torch import load_file

    tensors = load_file(str(out / CHECKPOINT_FILE))
    state = json.loads((out / STATE_FILE).read_text())
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    for k in ema.shadow:
        ema.shadow[k].copy_(tensors[f"ema.{k}"])
    ema.counter = int(state["ema_counter"])
    _load_optimizer_tensors(opt, tensors)
    gen.set_state(tensors["rng.torch"])
    return int(state["step"]), list(state["loss_history"]), state["config"]


LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    sampler: PatchSampler,
    config: TrainConfig,
    out: Path,
    *,
    resume: bool = True,
    progress: bool = True,
) -> tuple[EMA, list[float]]:
    """Train ``model`` with Adam, gradient clipping and EMA; checkpoint to ``out``; resumable.

    Returns the EMA and the per-step loss history. Randomness (crops, flips, the loss's draws) comes
    from one seeded CPU generator whose state is checkpointed, so a resumed run is bit-identical to an
    uninterrupted one on the same device.
    """
    device = torch.device(config.device)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas)
    ema = EMA(
        model,
        config.ema_beta,
        config.ema_update_every,
        config.ema_update_after_step,
        config.ema_power,
    )
    gen = torch.Generator().manual_seed(config.seed)
    step, history = 0, []
    if resume and (out / STATE_FILE).is_file():
        step, history, saved = load_checkpoint_dir(out, model, ema, opt, gen)
        # fields a run saved before they existed take their defaults
        saved = TrainConfig.model_validate(saved).model_dump(mode="json")
        # a cosine schedule is laid out over ``steps``: changing it would change the run;
        # the diffusion weights' path may change, their sha256 (checked) may not
        free = {"checkpoint_every", "device", "diffusion_weights"} | (
            {"steps"} if config.lr_schedule != "cosine" else set()
        )
        mismatched = {
            k
            for k, v in config.model_dump(mode="json").items()
            if k not in free and saved.get(k) != v
        }
        if mismatched:
            raise HarnessError(
                f"{out} holds a run with a different configuration ({', '.join(sorted(mismatched))})",
                hint="use another --out directory, or the same options to resume",
            )
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[rate]:.2f} it/s"),
        TimeRemainingColumn(),
    )
    started, start_step = time.perf_counter(), step
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("train", total=config.steps, completed=step, loss=math.nan, rate=0.0)
        while step < config.steps:
            cond, clean = sampler.sample(gen)
            loss = loss_fn(model, cond.to(device), clean.to(device), gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            for group in opt.param_groups:
                group["lr"] = learning_rate(config, step)
            opt.step()
            ema.update(model)
            step += 1
            history.append(float(loss.detach()))
            rate = (step - start_step) / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=step, loss=history[-1], rate=rate)
            if step % config.checkpoint_every == 0 or step == config.steps:
                save_checkpoint(out, model, ema, opt, gen, step, config, history)
    return ema, history


Preprocess = Callable[[Any, frozenset[str]], Any]


def load_task_images(
    suite: str, data_root: Path, preprocess: Preprocess | None = None
) -> list[TaskImages]:
    """Decode every pair of a training suite once, grouped by task (inputs preprocessed per flags)."""
    from harness.data.benchmark import open_benchmark
    from harness.data.catalog import resolve_suite
    from harness.images import read_image

    by_task: dict[str, TaskImages] = {}
    for name in resolve_suite(suite):
        bench = open_benchmark(name, data_root)
        if not bench.has_gt:
            raise HarnessError(f"training benchmark {name!r} has no ground truth")
        group = by_task.setdefault(bench.task, TaskImages(bench.task, [], []))
        for pair in bench.pairs:
            x = read_image(pair.input, convert=True)
            y = read_image(pair.target, convert=True)
            if x.shape != y.shape:
                raise HarnessError(
                    f"{pair.input}: size {x.shape} differs from its target {y.shape}"
                )
            if preprocess is not None:
                x = preprocess(x, bench.preprocess)
            group.inputs.append(torch.from_numpy(x.transpose(2, 0, 1).copy()))
            group.targets.append(torch.from_numpy(y.transpose(2, 0, 1).copy()))
    if not by_task:
        raise HarnessError(f"training suite {suite!r} has no benchmarks")
    return [by_task[t] for t in sorted(by_task)]


def l1_loss(
    model: nn.Module, cond: torch.Tensor, clean: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """Mean absolute error between the network's output and the clean image."""
    return (model(cond) - clean).abs().mean()


def train_supervised(
    network: nn.Module,
    config: TrainConfig,
    out: Path,
    data_root: Path,
    *,
    name: str,
    loss_fn: LossFn = l1_loss,
    preprocess: Preprocess | None = None,
    resume: bool = True,
    progress: bool = True,
) -> Path:
    """Train ``network`` on (degraded, clean) crops of ``config.train_suite``; return the weights.

    The generic objective of the learned baselines (L1 by default): mixed-task batches of random
    crops with flips, Adam, gradient clipping, EMA, resumable checkpoints in ``out``. Writes the EMA
    weights as ``out/<name>.safetensors`` (a plain state_dict) and ``out/training.json``.
    """
    from safetensors.torch import save_file

    from harness import __version__

    tasks = load_task_images(config.train_suite, data_root, preprocess)
    sampler = PatchSampler(tasks, config.crop, config.batch_per_task, config.task_batch)
    started = time.time()
    ema, history = fit(network, loss_fn, sampler, config, out, resume=resume, progress=progress)
    weights = out / f"{name}.safetensors"
    save_file({k: v.detach().cpu().contiguous() for k, v in ema.shadow.items()}, str(weights))
    tail = history[-100:]
    record = {
        "config": config.model_dump(mode="json"),
        "final_loss_mean_last_100": float(sum(tail) / len(tail)) if tail else None,
        "pairs_per_task": {t.task: len(t.inputs) for t in tasks},
        "wall_time_s_this_session": round(time.time() - started, 1),
        "hardware": f"{platform.machine()} {platform.processor() or ''} torch {torch.__version__} "
        f"threads={torch.get_num_threads()} device={config.device}".strip(),
        "harness_version": __version__,
    }
    (out / "training.json").write_text(json.dumps(record, indent=1))
    return weights
