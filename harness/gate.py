"""The regression gate: compare a run's per-image PSNR/SSIM with a committed baseline.

Rule, per benchmark and metric (PSNR, SSIM), on the images present in both (paired by image id),
with d = new - baseline per image:

- *mean drop*: ``-mean(d)``; *p*: one-sided Wilcoxon signed-rank test of "new < baseline"
  (``scipy.stats.wilcoxon(d, alternative="less")``, zero differences dropped, exact for small n);
- a **regression** when the mean drop exceeds the tolerance (``--tolerance`` dB for PSNR,
  ``--ssim-tolerance`` for SSIM) *and* the drop is significant (p < alpha, default 0.05) - so
  image-level noise cannot trip it; with fewer than ``MIN_PAIRED`` non-zero differences the test
  has no power and the mean drop alone decides;
- also a regression, whatever the mean: any single image dropping more than the per-image tolerance
  (``IMAGE_TOLERANCE``: 1 dB PSNR, 0.02 SSIM) - a real drop cannot hide in the mean;
- and any baseline image that the run did not score (failed or missing).

Baseline file: JSON with the method, suite, protocol signature per benchmark and per-image values.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.store import Store

BASELINE_FORMAT = "uir-harness-gate-baseline/1"
GATED_METRICS = ("psnr", "ssim")
DEFAULT_TOLERANCE = {"psnr": 0.1, "ssim": 0.002}
IMAGE_TOLERANCE = {"psnr": 1.0, "ssim": 0.02}
DEFAULT_ALPHA = 0.05
MIN_PAIRED = 5


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


def baseline_from_run(store: Store, run_id: int) -> dict[str, Any]:
    """The baseline document of one stored run (per-image PSNR/SSIM of every benchmark)."""
    (run,) = store.runs([run_id])
    doc: dict[str, Any] = {
        "format": BASELINE_FORMAT,
        "method": run["method"],
        "variant": run["variant"],
        "suite": run["suite"],
        "seed": run["seed"],
        "device": run["device"],
        "package_version": run["package_version"],
        "git_commit": run["git_commit"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "benchmarks": {},
    }
    for bench in store.benchmarks([run_id]):
        doc["benchmarks"][bench["benchmark"]] = {
            "protocol": bench["protocol"],
            "protocol_signature": bench["protocol_signature"],
            "data_digest": bench["data_digest"],
            "images": {},
        }
    for row in store.results([run_id]):
        if row["status"] != "ok":
            continue
        values = {m: row["metrics"][m] for m in GATED_METRICS if m in row["metrics"]}
        if values:
            doc["benchmarks"][row["benchmark"]]["images"][row["image_id"]] = values
    doc["benchmarks"] = {k: v for k, v in doc["benchmarks"].items() if v["images"]}
    return doc


def load_baseline(path: Path) -> dict[str, Any]:
    """Read and check a baseline file."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(
            f"no baseline at {path}",
            hint="create it from a good run with `harness gate --baseline PATH RUN --update`",
        ) from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}: not valid JSON ({exc})") from None
    if doc.get("format") != BASELINE_FORMAT:
        raise HarnessError(f"{path}: not a gate baseline (format {doc.get('format')!r})")
    return doc


def write_baseline(path: Path, doc: dict[str, Any]) -> None:
    """Write a baseline file (sorted keys, so diffs of committed baselines stay small)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _wilcoxon_less(diffs: list[float]) -> float:
    from scipy.stats import wilcoxon

    nonzero = [d for d in diffs if d != 0.0]
    if not nonzero:
        return 1.0
    return float(wilcoxon(nonzero, alternative="less").pvalue)


def compare(
    baseline: dict[str, Any],
    current: dict[str, Any],
    *,
    tolerance: dict[str, float] | None = None,
    image_tolerance: dict[str, float] | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> list[Comparison]:
    """Compare two baseline-shaped documents; one Comparison per benchmark x metric."""
    tol = {**DEFAULT_TOLERANCE, **(tolerance or {})}
    img_tol = {**IMAGE_TOLERANCE, **(image_tolerance or {})}
    out: list[Comparison] = []
    for name, base in sorted(baseline["benchmarks"].items()):
        new = current["benchmarks"].get(name)
        if new is None:
            out.append(
                Comparison(
                    name,
                    "*",
                    0,
                    math.nan,
                    math.nan,
                    math.nan,
                    math.nan,
                    math.nan,
                    len(base["images"]),
                    True,
                    "benchmark not in the run",
                )
            )
            continue
        if new["protocol_signature"] != base["protocol_signature"]:
            raise HarnessError(
                f"{name}: the run was scored under {new['protocol_signature']!r} but the baseline "
                f"under {base['protocol_signature']!r}; the numbers are not comparable",
                hint="re-run with the baseline's protocol, or --update the baseline on purpose",
            )
        metrics = [m for m in GATED_METRICS if any(m in v for v in base["images"].values())]
        for metric in metrics:
            ids = [i for i, v in base["images"].items() if metric in v]
            paired = [i for i in ids if metric in new["images"].get(i, {})]
            missing = len(ids) - len(paired)
            b = [float(base["images"][i][metric]) for i in paired]
            c = [float(new["images"][i][metric]) for i in paired]
            diffs = [
                y - x for x, y in zip(b, c, strict=True) if math.isfinite(x) and math.isfinite(y)
            ]
            mean_drop = -sum(diffs) / len(diffs) if diffs else 0.0
            worst = max((-d for d in diffs), default=0.0)
            p = _wilcoxon_less(diffs)
            nonzero = sum(1 for d in diffs if d != 0.0)
            reasons = []
            if missing:
                reasons.append(f"{missing} baseline image(s) not scored")
            if mean_drop > tol[metric] and (p < alpha or nonzero < MIN_PAIRED):
                reasons.append(
                    f"mean drop {mean_drop:.4g} > {tol[metric]:g}"
                    + (f" (p={p:.3g})" if nonzero >= MIN_PAIRED else " (too few images to test)")
                )
            if worst > img_tol[metric]:
                reasons.append(f"an image dropped {worst:.4g} > {img_tol[metric]:g}")
            out.append(
                Comparison(
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
            )
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
