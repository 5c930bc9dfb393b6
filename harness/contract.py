"""The plugin contract every restorer must meet, checked by ``harness check METHOD``.

Checks (each passes, fails, or does not apply):
- runs: ``restore()`` returns a tensor without raising;
- shape: the output has the input's shape [B, 3, H, W];
- dtype: float32;
- range: every value in [0, 1];
- finite: no NaN or infinity;
- input-unchanged: ``restore()`` does not modify the input tensor in place;
- deterministic: two calls with the same batch and seed give identical outputs;
- batch-invariant: a batch of two equals each image restored alone (max abs diff <= 1e-5);
- blind: for blind methods (``blind=True``), the batch has ``task=None`` and the output does not
  depend on the ``benchmark`` field either (same output for the real name, another name and None);
- odd-size: a 37x53 image comes back 37x53, finite and in range.

The images are centre crops of the first inputs of the method's mini-suite benchmark; synthetic
images stand in only where that benchmark's data is missing, and the report says which were used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.restorer import ImageBatch, Restorer

if TYPE_CHECKING:
    from pathlib import Path

    import torch

BATCH_ATOL = 1e-5
ODD_SIZE = (37, 53)
CHECK_SIZE = (48, 64)


@dataclass
class CheckResult:
    """One contract check: passed is None when the check does not apply."""

    name: str
    passed: bool | None
    detail: str = ""


@dataclass
class ContractReport:
    """Outcome of the contract for one method variant."""

    method: str
    variant: str
    images: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return all(c.passed is not False for c in self.checks)


def benchmark_for(tasks: tuple[str, ...]) -> str:
    """The mini-suite benchmark used for a method: the first of its tasks that has one."""
    for task in tasks:
        if task in {"derain", "desnow", "dehaze", "deblur", "lowlight"}:
            return f"mini-{task}"
    return "mini-derain"


def synthetic_images(count: int, height: int, width: int) -> torch.Tensor:
    """Deterministic test images: gradients, blocks and seeded noise, in [0, 1]."""
    import torch

    gen = torch.Generator().manual_seed(1234)
    y = torch.linspace(0, 1, height).view(height, 1)
    x = torch.linspace(0, 1, width).view(1, width)
    images = []
    for i in range(count):
        base = torch.stack([0.2 + 0.6 * x * y, 0.8 - 0.5 * y + 0 * x, 0.3 + 0.4 * x + 0 * y])
        blocks = (torch.rand(3, height // 8 + 1, width // 8 + 1, generator=gen) - 0.5) * 0.3
        blocks = blocks.repeat_interleave(8, 1).repeat_interleave(8, 2)[:, :height, :width]
        noise = 0.03 * torch.randn(3, height, width, generator=gen)
        images.append((base + blocks + noise + 0.05 * i).clamp(0, 1))
    return torch.stack(images)


def mini_suite_images(
    benchmark: str, count: int, height: int, width: int, data_root: Path
) -> tuple[torch.Tensor, str]:
    """(images [count, 3, h, w], description): centre crops of the benchmark's first inputs.

    Only when the benchmark's data is missing (an installation without the embedded mini suite)
    does it fall back to deterministic synthetic images, and the description says so.
    """
    import torch

    from harness.data.benchmark import BenchmarkMissingError, open_benchmark
    from harness.images import read_image, to_tensor

    try:
        bench = open_benchmark(benchmark, data_root)
    except BenchmarkMissingError as exc:
        reason = exc.message.splitlines()[0]
        return synthetic_images(count, height, width), (
            f"synthetic images {height}x{width} (mini suite unavailable: {reason})"
        )
    if len(bench.pairs) < count:
        raise HarnessError(
            f"{benchmark} has {len(bench.pairs)} image(s); the contract needs {count}"
        )
    tensors = [to_tensor(read_image(pair.input, convert=True)) for pair in bench.pairs[:count]]
    h = min(height, *(t.shape[1] for t in tensors))
    w = min(width, *(t.shape[2] for t in tensors))
    crops = []
    for t in tensors:
        top, left = (t.shape[1] - h) // 2, (t.shape[2] - w) // 2
        crops.append(t[:, top : top + h, left : left + w])
    return torch.stack(crops).contiguous(), f"{benchmark} (centre crops {h}x{w})"


def _batch(images: torch.Tensor, ids: tuple[str, ...], **kw: object) -> ImageBatch:
    return ImageBatch(images=images, ids=ids, seed=0, **kw)  # type: ignore[arg-type]


def _output_checks(out: object, shape: tuple[int, ...], prefix: str = "") -> list[CheckResult]:
    import torch

    if not isinstance(out, torch.Tensor):
        return [CheckResult(f"{prefix}shape", False, f"returned {type(out).__name__}")]
    results = [
        CheckResult(
            f"{prefix}shape", tuple(out.shape) == shape, f"{tuple(out.shape)} for input {shape}"
        )
    ]
    if prefix:
        results = [replace(results[0], name="odd-size")]
    else:
        results.append(CheckResult("dtype", out.dtype == torch.float32, str(out.dtype)))
    finite = bool(torch.isfinite(out).all())
    results.append(CheckResult(f"{prefix}finite", finite, "" if finite else "NaN or inf"))
    vals = out[torch.isfinite(out)].float()
    lo = float(vals.min()) if vals.numel() else float("nan")
    hi = float(vals.max()) if vals.numel() else float("nan")
    in_range = finite and lo >= 0.0 and hi <= 1.0
    results.append(CheckResult(f"{prefix}range", in_range, f"min {lo:.4g}, max {hi:.4g}"))
    return results


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return float("inf")
    if not a.numel():
        return 0.0
    import torch

    diff = (a.double() - b.double()).abs()
    same = (a == b) | (torch.isnan(a) & torch.isnan(b))  # NaN is the "finite" check's business
    return float(torch.where(same, 0.0, diff.nan_to_num(nan=float("inf"))).max())


def run_contract(
    factory: Callable[[], Restorer],
    images: torch.Tensor,
    *,
    benchmark: str,
    images_note: str = "",
) -> ContractReport:
    """Run every contract check on restorers made by ``factory`` with ``images`` [2, 3, H, W]."""
    import torch

    restorer = factory()
    cls = type(restorer)
    report = ContractReport(cls.name, restorer.variant, images_note)
    task = None if cls.blind else (cls.tasks[0] if cls.tasks else None)
    device = restorer.device
    images = images.to(device)
    ids = tuple(f"check-{i}" for i in range(images.shape[0]))

    def run(x: torch.Tensor, idx: tuple[str, ...], bench: str | None = benchmark) -> torch.Tensor:
        # a fresh copy each call: one in-place fault must not spoil the other checks
        with torch.inference_mode():
            return restorer.restore(_batch(x.clone(), idx, benchmark=bench, task=task))

    original = images.clone()
    try:
        with torch.inference_mode():
            first = restorer.restore(_batch(images, ids, benchmark=benchmark, task=task))
    except Exception as exc:
        report.checks.append(CheckResult("runs", False, f"{type(exc).__name__}: {exc}"))
        return report
    report.checks.append(CheckResult("runs", True))
    report.checks += _output_checks(first, tuple(images.shape))
    unchanged = torch.equal(images, original)
    report.checks.append(
        CheckResult("input-unchanged", unchanged, "" if unchanged else "input modified in place")
    )
    if not isinstance(first, torch.Tensor):
        return report
    images = original

    second = run(images, ids)
    diff = _max_diff(first, second)
    report.checks.append(
        CheckResult("deterministic", diff == 0.0, f"max abs diff between two runs {diff:.3g}")
    )

    alone = torch.cat([run(images[i : i + 1], ids[i : i + 1]) for i in range(images.shape[0])])
    diff = _max_diff(first, alone)
    report.checks.append(
        CheckResult(
            "batch-invariant",
            diff <= BATCH_ATOL,
            f"max abs diff batch vs alone {diff:.3g} (atol {BATCH_ATOL:g})",
        )
    )

    if cls.blind:
        diffs = [_max_diff(first, run(images, ids, bench)) for bench in ("another-benchmark", None)]
        worst = max(diffs)
        report.checks.append(
            CheckResult(
                "blind",
                worst == 0.0,
                f"task=None; max abs diff across benchmark names {worst:.3g}",
            )
        )
    else:
        report.checks.append(
            CheckResult("blind", None, f"not blind: the method is given task={task!r}")
        )

    h, w = ODD_SIZE
    odd = synthetic_images(1, h, w).to(device)
    try:
        out = run(odd, ("check-odd",))
    except Exception as exc:
        report.checks.append(CheckResult("odd-size", False, f"{type(exc).__name__}: {exc}"))
        return report
    report.checks += _output_checks(out, (1, 3, h, w), prefix="odd-size ")
    return report


def check_method(
    name: str,
    variant: str | None = None,
    weights: str | None = None,
    device: str = "cpu",
    data_root: Path | None = None,
    options: dict[str, Any] | None = None,
) -> ContractReport:
    """Run the contract for a registered method on (crops of) its mini-suite benchmark."""
    from harness import registry
    from harness.paths import default_data_root

    cls = registry.method_class(name)
    benchmark = benchmark_for(tuple(cls.tasks))
    images, note = mini_suite_images(benchmark, 2, *CHECK_SIZE, data_root or default_data_root())

    def factory() -> Restorer:
        return cls(variant=variant, weights=weights, device=device, **(options or {}))

    return run_contract(factory, images, benchmark=benchmark, images_note=note)
