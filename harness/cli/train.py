"""``harness train``: train a method on a training suite (resumable, seeded)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, get_args

import typer

from harness.train_config import TrainConfig


def _default(field: str) -> Any:
    """The default of a TrainConfig field: the one owner of every training default."""
    return TrainConfig.model_fields[field].default


LR_SCHEDULES: tuple[str, ...] = get_args(TrainConfig.model_fields["lr_schedule"].annotation)
LOSSES: tuple[str, ...] = get_args(TrainConfig.model_fields["loss"].annotation)


def register(app: typer.Typer) -> None:
    """Attach the ``train`` verb to the app."""

    @app.command("train")
    def train(
        ctx: typer.Context,
        method: Annotated[str, typer.Option("--method", help="Method to train (e.g. diffuir).")],
        out: Annotated[Path, typer.Option("--out", help="Run directory (checkpoints, weights).")],
        variant: Annotated[str | None, typer.Option("--variant", help="Model variant.")] = None,
        preset: Annotated[
            str | None,
            typer.Option(
                "--preset",
                help="A reduced-size variant the method declares for small budgets (e.g. tiny); "
                "`harness ls methods` lists them.",
            ),
        ] = None,
        train_suite: Annotated[
            str,
            typer.Option(
                "--train-suite",
                "--suite",
                help="Suite or benchmark of training pairs (e.g. mini-train, universal-train).",
            ),
        ] = _default("train_suite"),
        steps: Annotated[int, typer.Option("--steps", help="Optimizer steps in total.")] = _default(
            "steps"
        ),
        seed: Annotated[int, typer.Option("--seed", help="Seed of every random draw.")] = _default(
            "seed"
        ),
        crop: Annotated[int, typer.Option("--crop", help="Square training crop size.")] = _default(
            "crop"
        ),
        batch_per_task: Annotated[
            int, typer.Option("--batch-per-task", help="Crops per task in each batch.")
        ] = _default("batch_per_task"),
        lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = _default("lr"),
        lr_warmup_steps: Annotated[
            int,
            typer.Option(
                min=0, help="Linear learning-rate warm-up over N steps (for fine-tuning)."
            ),
        ] = _default("lr_warmup_steps"),
        lr_schedule: Annotated[
            str, typer.Option(help="constant, or cosine (decays to 0 at --steps).")
        ] = _default("lr_schedule"),
        ema_update_every: Annotated[int, typer.Option(help="EMA acts every N steps.")] = _default(
            "ema_update_every"
        ),
        ema_update_after_step: Annotated[
            int, typer.Option(help="EMA copies the weights until this counter.")
        ] = _default("ema_update_after_step"),
        checkpoint_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = _default(
            "checkpoint_every"
        ),
        task_batch: Annotated[
            list[str] | None,
            typer.Option("--task-batch", help="TASK=N: crops of that task per batch (repeatable)."),
        ] = None,
        init_weights: Annotated[
            Path | None,
            typer.Option("--init-weights", help="Start from these weights (fine-tuning)."),
        ] = None,
        fresh: Annotated[
            bool, typer.Option("--fresh", help="Ignore an existing checkpoint in --out.")
        ] = False,
        loss: Annotated[
            str,
            typer.Option(
                "--loss",
                help="l1: the method's own objective; l1+diffloss: plus DiffLoss (a frozen "
                "diffusion model's constraint, docs/methods/diffloss.md).",
            ),
        ] = _default("loss"),
        diffusion_weights: Annotated[
            Path | None,
            typer.Option(
                "--diffusion-weights",
                help="DiffLoss's frozen model: guided-diffusion 256x256_diffusion_uncond.pt.",
            ),
        ] = None,
        diffloss_upstream_nograd: Annotated[
            bool,
            typer.Option(
                "--diffloss-upstream-nograd",
                help="DiffLoss terms without gradient, as its official code (they train nothing).",
            ),
        ] = _default("diffloss_upstream_nograd"),
    ) -> None:
        """Train a method (DiffUIR's objective for diffuir); resumes from --out when it holds a run."""
        from harness.cli import settings_of
        from harness.registry import method_class
        from harness.settings import resolve_device

        settings = settings_of(ctx)
        overrides: dict[str, int] = {}
        for item in task_batch or []:
            task, sep, count = item.partition("=")
            if not sep or not count.isdigit() or int(count) < 1:
                raise typer.BadParameter(
                    f"{item!r}: expected TASK=N with N >= 1", param_hint="--task-batch"
                )
            overrides[task] = int(count)
        if lr_schedule not in LR_SCHEDULES:
            raise typer.BadParameter(
                f"{lr_schedule!r}: expected {' or '.join(LR_SCHEDULES)}", param_hint="--lr-schedule"
            )
        if loss not in LOSSES:
            raise typer.BadParameter(
                f"{loss!r}: expected {' or '.join(LOSSES)}", param_hint="--loss"
            )
        if loss == _default("loss") and (diffusion_weights or diffloss_upstream_nograd):
            raise typer.BadParameter(
                f"DiffLoss options need --loss l1+diffloss (got --loss {loss})", param_hint="--loss"
            )
        cls = method_class(method)
        if preset is not None:
            if preset not in cls.presets:
                known = ", ".join(cls.presets) or "none"
                raise typer.BadParameter(
                    f"{method} has no preset {preset!r} (presets: {known})", param_hint="--preset"
                )
            if variant not in (None, preset):
                raise typer.BadParameter(
                    f"--preset {preset} is a variant itself; drop --variant {variant}",
                    param_hint="--preset",
                )
            variant = preset
        config = TrainConfig(
            method=method,
            variant=variant or cls.default_variant,
            train_suite=train_suite,
            steps=steps,
            seed=seed,
            crop=crop,
            batch_per_task=batch_per_task,
            task_batch=overrides,
            lr=lr,
            lr_warmup_steps=lr_warmup_steps,
            lr_schedule=lr_schedule,
            ema_update_every=ema_update_every,
            ema_update_after_step=ema_update_after_step,
            checkpoint_every=checkpoint_every,
            device=resolve_device(settings.device),
            loss=loss,
            diffusion_weights=str(diffusion_weights) if diffusion_weights else None,
            diffloss_upstream_nograd=diffloss_upstream_nograd,
        )
        weights = cls.train(
            config,
            out,
            settings.data_root,
            resume=not fresh,
            progress=settings.verbosity >= 0,
            init_weights=init_weights,
        )
        typer.echo(f"EMA weights written to {weights}")
