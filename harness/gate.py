"""The regression gate: compare a run's per-image PSNR/SSIM with a committed baseline.

Rule, per benchmark and metric (PSNR, SSIM), on the images present in both (paired by image id),
with d = new - baseline per image:

- *mean drop*: ``-mean(d)``; *p*: one-sided Wilcoxon signed-rank test of "new < baseline"
  (``scipy.stats.wilcoxon(d, alternative="less")``, zero differences dropped, exact for small n);
- a **regression** when the mean drop exceeds the tolerance (``--tolerance`` dB for PSNR,
  ``--ssim-tolerance`` for SSIM; defaults ``harness.tolerances.MEAN_TOLERANCE``) *and* the drop is
  significant (p < alpha, default ``GATE_ALPHA``) - so image-level noise cannot trip it; with fewer
  than ``MIN_PAIRED`` non-zero differences the test has no power and the mean drop alone decides;
- also a regression, whatever the mean: any single image dropping more than the per-image tolerance
  (``harness.tolerances.IMAGE_TOLERANCE``) - a real drop cannot hide in the mean;
- and any baseline image that the run did not score (failed or missing).

The gate passes only when it compared at least one number and found no regression.

Refusals (HarnessError, before any verdict):

- a baseline file that is not UTF-8 JSON, repeats a key, or fails the :class:`Baseline` model (no
  benchmark, a benchmark without images, a missing field, a string or a non-finite value where a
  number belongs): the error names the file and the field;
- a run benchmark scored under another protocol signature than the baseline's, or on data with
  another digest (both digests are named), or on data that did not match its lock (run_benchmarks
  ``verified`` = 0). Data that was not pinned (``verified`` NULL) is compared on its digest alone.

Non-finite values: a baseline holds finite numbers only (JSON has none other). In a run, +inf PSNR
is legitimate - an exact reconstruction (MSE 0): the image counts as compared with no drop and is
left out of the mean drop and the test, so it cannot hide drops elsewhere; ``--update`` refuses to
make a baseline of it. Any other non-finite run value (NaN, -inf, an infinite SSIM) is not a
score: its benchmark fails, naming the images.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import HarnessError
from harness.store import Store
from harness.tolerances import GATE_ALPHA, IMAGE_TOLERANCE, MEAN_TOLERANCE

BaselineFormat = Literal["uir-harness-gate-baseline/1"]
BASELINE_FORMAT: str = get_args(BaselineFormat)[0]
GATED_METRICS = ("psnr", "ssim")
MIN_PAIRED = 5
_SHOWN_IDS = 5

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class ImageScores(BaseModel):
    """One image's baseline values: finite numbers, at least one gated metric."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    psnr: FiniteFloat | None = None
    ssim: FiniteFloat | None = None

    @model_validator(mode="after")
    def _some_metric(self) -> ImageScores:
        if self.psnr is None and self.ssim is None:
            raise ValueError(f"an image needs a value of {' or '.join(GATED_METRICS)}")
        return self


class BenchmarkBaseline(BaseModel):
    """One benchmark of a baseline: how it was scored, on which data, and per-image values."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    protocol: str = Field(min_length=1)
    protocol_signature: str = Field(min_length=1)
    data_digest: str = Field(min_length=1)
    images: dict[str, ImageScores] = Field(min_length=1)


class Baseline(BaseModel):
    """A gate baseline document: the run it came from and at least one benchmark."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    format: BaselineFormat
    method: str | None = None
    variant: str | None = None
    suite: str | None = None
    seed: int | None = None
    device: str | None = None
    package_version: str | None = None
    git_commit: str | None = None
    created: str | None = None
    benchmarks: dict[str, BenchmarkBaseline] = Field(min_length=1)


@dataclass(frozen=True)
class RunBenchmark:
    """What a stored run holds for one benchmark: protocol, data identity, per-image values."""

    protocol: str
    protocol_signature: str
    data_digest: str | None
    verified: bool | None
    """run_benchmarks.verified: True / False, or None when the data was not pinned."""
    images: dict[str, dict[str, float]]
    """image id -> gated metric -> value as stored (NaN where the store holds no number)."""


@dataclass
class Comparison:
    """The verdict for one benchmark and metric."""

    benchmark: str
    metric: str
    n: int
    baseline_mean: float
    new_mean: float
    mean_drop: float
    worst_drop: float
    p_value: float
    missing: int
    regression: bool
    reason: str


def _number(value: Any) -> float:
    """A stored metric value as a float; NaN for anything that is not a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def run_benchmarks(store: Store, run_id: int) -> dict[str, RunBenchmark]:
    """Per benchmark of a stored run: its provenance and the gated values of its ``ok`` images."""
    store.runs([run_id])  # raises a clear error for an unknown run id
    images: dict[str, dict[str, dict[str, float]]] = {}
    for row in store.results([run_id]):
        values = {m: _number(row["metrics"][m]) for m in GATED_METRICS if m in row["metrics"]}
        if row["status"] == "ok" and values:
            images.setdefault(row["benchmark"], {})[row["image_id"]] = values
    return {
        b["benchmark"]: RunBenchmark(
            protocol=b["protocol"],
            protocol_signature=b["protocol_signature"],
            data_digest=b["data_digest"],
            verified=None if b["verified"] is None else bool(b["verified"]),
            images=images.get(b["benchmark"], {}),
        )
        for b in store.benchmarks([run_id])
    }


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:_SHOWN_IDS])
    return shown + (f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else "")


def baseline_from_run(store: Store, run_id: int) -> Baseline:
    """The baseline of one stored run; refuses unverified data and non-finite values."""
    (run,) = store.runs([run_id])
    benches = {n: b for n, b in run_benchmarks(store, run_id).items() if b.images}
    if not benches:
        raise HarnessError(
            f"run {run_id} holds no scored {' or '.join(GATED_METRICS)}; nothing to make a "
            "baseline of",
            hint="make the baseline from a run of benchmarks with ground truth",
        )
    problems = []
    for name, bench in sorted(benches.items()):
        if bench.verified is False:
            problems.append(f"{name}: its data did not match the lock (verified = 0)")
        if bench.data_digest is None:
            problems.append(f"{name}: the store holds no data digest for it")
        bad = sorted(
            i for i, v in bench.images.items() if not all(math.isfinite(x) for x in v.values())
        )
        if bad:
            problems.append(
                f"{name}: non-finite value(s) on image(s) {_ids(bad)}; a baseline holds finite "
                "numbers only"
            )
    if problems:
        raise HarnessError(
            f"run {run_id} cannot become a gate baseline:\n  " + "\n  ".join(problems),
            hint="re-run on verified data (`harness data verify NAME`), or pick another run",
        )
    return Baseline(
        format=BASELINE_FORMAT,
        method=run["method"],
        variant=run["variant"],
        suite=run["suite"],
        seed=run["seed"],
        device=run["device"],
        package_version=run["package_version"],
        git_commit=run["git_commit"],
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        benchmarks={
            name: BenchmarkBaseline(
                protocol=b.protocol,
                protocol_signature=b.protocol_signature,
                data_digest=b.data_digest,
                images={i: ImageScores(**v) for i, v in b.images.items()},
            )
            for name, b in benches.items()
        },
    )


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    repeated = [k for k, n in Counter(k for k, _ in pairs).items() if n > 1]
    if repeated:
        raise _DuplicateKeyError(f"duplicate key {repeated[0]!r}")
    return dict(pairs)


def _field_errors(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in err['loc']) or '(document)'}: {err['msg']}"
        for err in exc.errors(include_url=False)
    ]


def load_baseline(path: Path) -> Baseline:
    """Read and validate a baseline file; every problem is a HarnessError naming file and field."""
    path = Path(path)
    hint = "fix the file, or make it again from a good run with `harness gate RUN --update`"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError(
            f"no baseline at {path}",
            hint="create it from a good run with `harness gate --baseline PATH RUN --update`",
        ) from None
    except OSError as exc:
        raise HarnessError(f"cannot read the baseline {path}: {exc.strerror}") from None
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as exc:
        raise HarnessError(
            f"{path}: not UTF-8 text (bad byte at offset {exc.start}); a baseline is a JSON file",
            hint=hint,
        ) from None
    except _DuplicateKeyError as exc:
        raise HarnessError(f"{path}: {exc}", hint=hint) from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}: not valid JSON ({exc})", hint=hint) from None
    except RecursionError:
        raise HarnessError(f"{path}: nested too deeply to be a gate baseline", hint=hint) from None
    try:
        return Baseline.model_validate(doc)
    except ValidationError as exc:
        raise HarnessError(
            f"{path}: not a valid gate baseline ({BASELINE_FORMAT}):\n  "
            + "\n  ".join(_field_errors(exc)),
            hint=hint,
        ) from None


def write_baseline(path: Path, baseline: Baseline) -> None:
    """Write a baseline file (sorted keys, so diffs of committed baselines stay small)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = baseline.model_dump(mode="json", exclude_none=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _wilcoxon_less(diffs: list[float]) -> float:
    from scipy.stats import wilcoxon

    nonzero = [d for d in diffs if d != 0.0]
    if not nonzero:
        return 1.0
    return float(wilcoxon(nonzero, alternative="less").pvalue)


def _refusals(baseline: Baseline, run: dict[str, RunBenchmark]) -> list[str]:
    out = []
    for name, base in sorted(baseline.benchmarks.items()):
        new = run.get(name)
        if new is None:
            continue
        if new.protocol_signature != base.protocol_signature:
            out.append(
                f"{name}: the run was scored under {new.protocol_signature!r} but the baseline "
                f"under {base.protocol_signature!r}; the numbers are not comparable"
            )
        if new.data_digest != base.data_digest:
            out.append(
                f"{name}: the run scored data with digest {new.data_digest} but the baseline was "
                f"made on data with digest {base.data_digest}; the run scored other data"
            )
        if new.verified is False:
            out.append(
                f"{name}: the run's data did not match the benchmark's lock (verified = 0), so "
                "its numbers are not the benchmark's"
            )
    return out


def _not_in_run(name: str, base: BenchmarkBaseline) -> Comparison:
    nan = math.nan
    missing = len(base.images)
    return Comparison(
        name, "*", 0, nan, nan, nan, nan, nan, missing, True, "benchmark not in the run"
    )


def _compare_metric(
    name: str,
    metric: str,
    base: BenchmarkBaseline,
    new: RunBenchmark,
    tol: float,
    img_tol: float,
    alpha: float,
) -> Comparison:
    ids = [i for i, v in base.images.items() if getattr(v, metric) is not None]
    paired = [i for i in ids if metric in new.images.get(i, {})]
    missing = len(ids) - len(paired)
    b: list[float] = []
    c: list[float] = []
    invalid: list[str] = []
    for i in paired:
        value = new.images[i][metric]
        if math.isfinite(value):
            b.append(getattr(base.images[i], metric))
            c.append(value)
        elif not (metric == "psnr" and value == math.inf):  # +inf PSNR: exact, no drop
            invalid.append(i)
    diffs = [y - x for x, y in zip(b, c, strict=True)]
    mean_drop = -sum(diffs) / len(diffs) if diffs else 0.0
    worst = max((-d for d in diffs), default=0.0)
    p = _wilcoxon_less(diffs)
    nonzero = sum(1 for d in diffs if d != 0.0)
    reasons = []
    if missing:
        reasons.append(f"{missing} baseline image(s) not scored")
    if invalid:
        reasons.append(f"{len(invalid)} run value(s) not a number (image(s) {_ids(invalid)})")
    if mean_drop > tol and (p < alpha or nonzero < MIN_PAIRED):
        reasons.append(
            f"mean drop {mean_drop:.4g} > {tol:g}"
            + (f" (p={p:.3g})" if nonzero >= MIN_PAIRED else " (too few images to test)")
        )
    if worst > img_tol:
        reasons.append(f"an image dropped {worst:.4g} > {img_tol:g}")
    return Comparison(
        name,
        metric,
        len(paired),
        sum(b) / len(b) if b else math.nan,
        sum(c) / len(c) if c else math.nan,
        mean_drop,
        worst,
        p,
        missing,
        bool(reasons),
        "; ".join(reasons) if reasons else "ok",
    )


def compare(
    baseline: Baseline,
    run: dict[str, RunBenchmark],
    *,
    tolerance: dict[str, float] | None = None,
    image_tolerance: dict[str, float] | None = None,
    alpha: float = GATE_ALPHA,
) -> list[Comparison]:
    """Compare a run with a baseline; one Comparison per benchmark x metric (refusals raise)."""
    refusals = _refusals(baseline, run)
    if refusals:
        raise HarnessError(
            "the run cannot be compared with the baseline:\n  " + "\n  ".join(refusals),
            hint="re-run on the pinned data (`harness data verify NAME`) under the baseline's "
            "protocol, or --update the baseline on purpose",
        )
    tol = {**MEAN_TOLERANCE, **(tolerance or {})}
    img_tol = {**IMAGE_TOLERANCE, **(image_tolerance or {})}
    out: list[Comparison] = []
    for name, base in sorted(baseline.benchmarks.items()):
        new = run.get(name)
        if new is None:
            out.append(_not_in_run(name, base))
            continue
        for metric in GATED_METRICS:
            if any(getattr(v, metric) is not None for v in base.images.values()):
                out.append(
                    _compare_metric(name, metric, base, new, tol[metric], img_tol[metric], alpha)
                )
    return out


def failures(rows: list[Comparison]) -> list[str]:
    """Why the gate fails, one line each; empty when it compared some number and none regressed."""
    out = [f"{r.benchmark} {r.metric}: {r.reason}" for r in rows if r.regression]
    if not any(r.n for r in rows):
        out.append("the gate compared no numbers: no baseline image was scored by the run")
    return out


def format_table(rows: list[Comparison]) -> str:
    """A plain-text table of the comparison (regressions marked FAIL)."""
    header = f"{'benchmark':<20} {'metric':<6} {'n':>4} {'baseline':>10} {'run':>10} {'drop':>9} {'worst':>9} {'p':>7}  verdict"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.benchmark:<20} {r.metric:<6} {r.n:>4} {r.baseline_mean:>10.4f} {r.new_mean:>10.4f} "
            f"{r.mean_drop:>9.4f} {r.worst_drop:>9.4f} {r.p_value:>7.3g}  "
            + ("FAIL: " + r.reason if r.regression else "ok")
        )
    return "\n".join(lines)
