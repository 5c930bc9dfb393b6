"""Explain a stored run's numbers: which metric convention moves them, and how far.

The restored images a run saved (``harness run --save-images``) are re-scored with the scoring of
``harness score`` (``harness.metrics.compute.score_image``) under every built-in protocol that
applies (full-reference ones where every saved image has a ground truth, no-reference ones where
none has) and under every *single change* of the benchmark's own protocol: one field of the
:class:`~harness.metrics.protocols.Protocol` at a time (colour space, JPEG re-save, SSIM window and
padding, ground-truth resize, border crop). Changes are ranked by their absolute effect on the mean;
given a reference number (``reports/reference/*.csv``), by how much of the gap to it each closes.

A saved output is an 8-bit PNG; it is scored as the float image ``value / 255`` (what the runner
scores for an output that is exactly 8-bit), so the run's own protocol reproduces the stored numbers
whenever the outputs were 8-bit already or that protocol rounds half to even as the PNG writer does.
Rounding conventions (round-even, floor-half-up, none) cannot be told apart on 8-bit images and are
not isolated. Saved images, inputs and ground truths are only read, and the bytes of inputs and
ground truths are checked against the sha256 the run stored.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, get_args

import numpy as np
import pandas as pd

from harness.errors import HarnessError, UnknownNameError
from harness.metrics.protocols import (
    PROTOCOLS,
    ColorSpace,
    GTResize,
    Protocol,
    SSIMVariant,
    get_protocol,
)
from harness.store import Store

#: The JPEG re-save a single change tries: DiffUIR's eval/SOTS.m quality (``diffuir-sots``).
JPEG_RESAVE_QUALITY = PROTOCOLS["diffuir-sots"].jpeg_quality
#: Border crops a single change tries: none, and the 4 px habit of x4 super-resolution scripts.
BORDER_CROPS = (0, 4)

ROUNDING_NOTE = (
    "rounding (round-even, floor-half-up, none) is not isolated: the saved outputs are 8-bit PNGs, "
    "on which every rounding gives the same image"
)


class NoSavedImagesError(HarnessError):
    """The run saved no restored images, so there is nothing to re-score."""


@dataclass(frozen=True)
class Change:
    """One single-field change of a protocol, e.g. ``colour: y-bt601-float -> rgb``."""

    convention: str
    label: str
    protocol: Protocol
    metrics: frozenset[str] | None = None
    """The metrics the change can move (None: all of the protocol's)."""


def _changed(
    base: Protocol,
    convention: str,
    old: str,
    new: str,
    metrics: frozenset[str] | None = None,
    **fields: Any,
) -> Change:
    label = f"{convention}: {old} -> {new}"
    data = base.model_dump() | fields | {"name": f"{base.name} ({label})", "summary": label}
    return Change(convention, label, Protocol.model_validate(data), metrics)


def single_changes(base: Protocol) -> list[Change]:
    """Every protocol that differs from ``base`` in exactly one convention, with a readable label."""

    def quant(p: Protocol) -> str:
        return f"jpeg{p.jpeg_quality}" if p.quantize == "jpeg" else p.quantize

    changes = [
        _changed(base, "colour", base.color, color, color=color)
        for color in get_args(ColorSpace)
        if color != base.color
    ]
    if base.quantize == "jpeg":  # 'jpeg' is floor-half-up then the re-save: drop the re-save
        changes.append(
            _changed(
                base,
                "quantisation",
                quant(base),
                "floor-half-up",
                quantize="floor-half-up",
                jpeg_quality=None,
            )
        )
    else:
        changes.append(
            _changed(
                base,
                "quantisation",
                quant(base),
                f"jpeg{JPEG_RESAVE_QUALITY}",
                quantize="jpeg",
                jpeg_quality=JPEG_RESAVE_QUALITY,
            )
        )
    if base.ssim is not None:
        changes += [
            _changed(base, "ssim", base.ssim, variant, frozenset({"ssim"}), ssim=variant)
            for variant in get_args(SSIMVariant)
            if variant != base.ssim
        ]
    if base.needs_target:
        changes += [
            _changed(base, "gt resize", base.gt_resize, rule, gt_resize=rule)
            for rule in get_args(GTResize)
            if rule != base.gt_resize
        ]
    changes += [
        _changed(base, "border crop", f"{base.crop_border} px", f"{crop} px", crop_border=crop)
        for crop in BORDER_CROPS
        if crop != base.crop_border
    ]
    return changes


def applicable_protocols(paired: bool, has_inputs: bool) -> list[Protocol]:
    """Built-in protocols for a benchmark: full-reference ones if ``paired``, else no-reference
    ones (those comparing against the degraded input only when ``has_inputs``)."""
    return [
        p
        for p in PROTOCOLS.values()
        if p.needs_target == paired and (has_inputs or not p.needs_degraded)
    ]


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProtocolScore:
    """Mean of each metric over the saved images under one protocol (``error``: why none)."""

    protocol: str
    signature: str
    own: bool
    means: dict[str, float]
    error: str | None = None


@dataclass(frozen=True)
class ChangeEffect:
    """A single change's mean of one metric and its effect (value minus the own protocol's)."""

    label: str
    convention: str
    signature: str
    metric: str
    value: float
    effect: float


@dataclass(frozen=True)
class GapClosing:
    """How much of the gap to a reference one change closes: ``closes`` = |gap| - |remaining|."""

    label: str
    value: float
    closes: float
    remaining: float
    """reference minus the changed value (signed, like ``gap``)."""


@dataclass(frozen=True)
class ReferenceGap:
    """A reference number, the gap to the own protocol's mean, and the changes that close it."""

    metric: str
    reference: float
    source: str
    measured: float
    gap: float
    """reference minus measured."""
    closing: list[GapClosing]


@dataclass(frozen=True)
class BenchmarkExplanation:
    """Everything ``harness explain`` says about one benchmark of a run."""

    benchmark: str
    protocol: str
    signature: str
    metrics: list[str]
    n_images: int
    n_scored: int
    stored: dict[str, float]
    """Means of the run's stored per-image values over the same (saved) images."""
    protocols: list[ProtocolScore]
    changes: dict[str, list[ChangeEffect]]
    """Per metric of the own protocol: the single changes, largest absolute effect first."""
    not_applicable: dict[str, str]
    """Changes that cannot score these images, with why."""
    references: list[ReferenceGap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def own(self) -> ProtocolScore:
        """The score under the benchmark's own protocol, re-computed from the saved images."""
        return next(p for p in self.protocols if p.own)

    def largest(self, metric: str) -> ChangeEffect | None:
        """The single change that moves ``metric``'s mean most (None if none could be scored)."""
        ranked = [c for c in self.changes.get(metric, []) if math.isfinite(c.effect)]
        return ranked[0] if ranked else None


@dataclass(frozen=True)
class RunExplanation:
    """The explanation of every benchmark of one run with saved images."""

    run_id: int
    method: str
    variant: str | None
    suite: str
    benchmarks: list[BenchmarkExplanation]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (NaN and infinities as None)."""
        return _json_ready(asdict(self))


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


# --- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Saved:
    image_id: str
    restored: np.ndarray
    target: np.ndarray | None
    degraded: np.ndarray | None
    stored: Mapping[str, float]


def _read_checked(
    path: str, sha256: str | None, role: str, run_id: int, convert: bool
) -> np.ndarray:
    """A stored input or ground truth, refused if its bytes changed since the run scored it."""
    from harness.hashing import sha256_bytes
    from harness.images import decode_image, read_file

    data = read_file(path)
    if sha256 and sha256_bytes(data) != sha256:
        raise HarnessError(
            f"{role} {path} changed since run {run_id} scored it (sha256 differs)",
            hint="restore the benchmark's files (harness data) before explaining this run",
        )
    return decode_image(data, path, convert=convert)


def _load(rows: list[dict[str, Any]], run_id: int, *, targets: bool, inputs: bool) -> list[_Saved]:
    from harness.images import read_image

    saved = []
    for r in rows:
        output = read_image(r["output_path"])
        saved.append(
            _Saved(
                image_id=r["image_id"],
                restored=output.astype(np.float32) / np.float32(255.0),
                target=_read_checked(
                    r["target_path"], r["target_sha256"], "ground truth", run_id, False
                )
                if targets
                else None,
                degraded=_read_checked(r["input_path"], r["input_sha256"], "input", run_id, True)
                if inputs
                else None,
                stored=r["metrics"],
            )
        )
    return saved


def _means(protocol: Protocol, images: list[_Saved]) -> dict[str, float]:
    """Mean of each metric of ``protocol`` over ``images`` (finite values, as ``harness score``)."""
    from harness.metrics.compute import score_image, summarize

    values: dict[str, list[float]] = {m: [] for m in protocol.metrics}
    for im in images:
        scores = score_image(protocol, im.restored, im.target, im.degraded, name=im.image_id)
        for m in protocol.metrics:
            values[m].append(scores[m])
    return {m: float(summarize(v)["mean"]) for m, v in values.items()}


class _Scorer:
    """Means per protocol signature, computed once (a change may equal a named protocol)."""

    def __init__(self, images: list[_Saved]) -> None:
        self.images = images
        self._done: dict[str, dict[str, float] | str] = {}

    def __call__(self, protocol: Protocol) -> dict[str, float] | str:
        """The means, or why the protocol cannot score these images."""
        if protocol.signature not in self._done:
            try:
                self._done[protocol.signature] = _means(protocol, self.images)
            except (HarnessError, ValueError) as exc:  # e.g. 3-D SSIM of a one-channel image
                self._done[protocol.signature] = str(exc).splitlines()[0]
        return self._done[protocol.signature]


# --- references ---------------------------------------------------------------------------------


def _reference_row(
    reference: pd.DataFrame | None, run: Mapping[str, Any], benchmark: str, metric: str
) -> Any:
    """The first reference row for the run's method/variant, the benchmark and ``metric``."""
    from harness.report.tables import reference_applies

    if reference is None or reference.empty:
        return None
    for ref in reference.itertuples():
        if ref.benchmark == benchmark and ref.metric == metric:
            if reference_applies(ref, run["method"], run["variant"]):
                return ref
    return None


def gap_closing(
    reference: float, measured: float, effects: Iterable[ChangeEffect]
) -> list[GapClosing]:
    """Changes by how much of |reference - measured| they close (most first); one that moves
    the mean toward the reference by d closes d, one that moves it away or overshoots less."""
    gap = reference - measured
    rows = [
        GapClosing(e.label, e.value, abs(gap) - abs(reference - e.value), reference - e.value)
        for e in effects
        if math.isfinite(e.value)
    ]
    return sorted(rows, key=lambda r: -r.closes)


# --- the explanation ----------------------------------------------------------------------------


def _rerun_command(run: Mapping[str, Any], store: Store) -> str:
    args = ["harness", "run", "--method", run["method"]]
    if run.get("variant"):
        args += ["--variant", run["variant"]]
    args += ["--suite", run["suite"]]
    if run.get("protocol"):
        args += ["--protocol", run["protocol"]]
    args += ["--store", str(store.path), "--save-images", "--overwrite"]
    return shlex.join(args)


def explain_run(
    store: Store,
    run_id: int,
    *,
    benchmark: str | None = None,
    reference: pd.DataFrame | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunExplanation:
    """Re-score run ``run_id``'s saved outputs (one benchmark, or all; the first ``limit`` saved
    images of each) under the applicable protocols and the single changes of its own protocol.

    NoSavedImagesError when the run (or that benchmark) saved no restored image.
    """
    (run,) = store.runs([run_id])
    benches = {b["benchmark"]: b for b in store.benchmarks([run_id])}
    if benchmark is not None and benchmark not in benches:
        raise UnknownNameError(f"benchmark of run {run_id}", benchmark, benches)
    rows = [
        r
        for r in store.results([run_id])
        if r["status"] == "ok" and (benchmark is None or r["benchmark"] == benchmark)
    ]
    saved = [r for r in rows if r["output_path"]]
    if not saved:
        where = f" on {benchmark}" if benchmark else ""
        raise NoSavedImagesError(
            f"run {run_id} saved no restored images{where}, so there is nothing to re-score",
            hint=f"rerun it with --save-images: {_rerun_command(run, store)} "
            "(--overwrite replaces the run; explain the new run id it prints)",
        )
    out = []
    for name, info in benches.items():
        mine = [r for r in saved if r["benchmark"] == name]
        if not mine:
            continue
        if progress is not None:
            progress(name)
        scored = [r for r in rows if r["benchmark"] == name]
        out.append(
            _explain_benchmark(run, info, mine[:limit] if limit else mine, len(scored), reference)
        )
    return RunExplanation(run_id, run["method"], run["variant"], run["suite"], out)


def _explain_benchmark(
    run: Mapping[str, Any],
    info: Mapping[str, Any],
    rows: list[dict[str, Any]],
    n_scored: int,
    reference: pd.DataFrame | None,
) -> BenchmarkExplanation:
    from harness.metrics.compute import summarize

    own = get_protocol(info["protocol"])
    paired = all(r["target_path"] for r in rows)
    has_inputs = all(r["input_path"] for r in rows)
    candidates = [own, *(p for p in applicable_protocols(paired, has_inputs) if p != own)]
    changes = single_changes(own)
    needs = [*candidates, *(c.protocol for c in changes)]
    score = _Scorer(
        _load(
            rows,
            run["run_id"],
            targets=paired and any(p.needs_target for p in needs),
            inputs=has_inputs and any(p.needs_degraded for p in needs),
        )
    )
    notes = [ROUNDING_NOTE]
    if own.signature != info["protocol_signature"]:
        notes.append(
            f"the run stored signature {info['protocol_signature']}; protocol {own.name} now reads "
            f"{own.signature}"
        )
    protocols = []
    for p in candidates:
        result = score(p)
        if isinstance(result, str):
            protocols.append(ProtocolScore(p.name, p.signature, p is own, {}, result))
        else:
            protocols.append(ProtocolScore(p.name, p.signature, p is own, result))
        if p.input_crop and not own.input_crop:
            notes.append(
                f"{p.name} centre-crops the saved outputs; its upstream scripts crop the input "
                "before restoring"
            )
    base = protocols[0]
    if base.error:
        raise HarnessError(
            f"{info['benchmark']}: the saved images cannot be re-scored under {own.name}: "
            f"{base.error}"
        )
    effects, not_applicable = _change_effects(own, base.means, changes, score)
    references = []
    for m in own.metrics:
        ref = _reference_row(reference, run, info["benchmark"], m)
        if ref is not None:
            value, measured = float(ref.value), base.means[m]
            closing = gap_closing(value, measured, effects[m])
            references.append(
                ReferenceGap(m, value, str(ref.source), measured, value - measured, closing)
            )
    stored = {
        m: float(summarize([r["metrics"][m] for r in rows if m in r["metrics"]])["mean"])
        for m in own.metrics
    }
    return BenchmarkExplanation(
        benchmark=info["benchmark"],
        protocol=own.name,
        signature=own.signature,
        metrics=list(own.metrics),
        n_images=len(rows),
        n_scored=n_scored,
        stored=stored,
        protocols=protocols,
        changes=effects,
        not_applicable=not_applicable,
        references=references,
        notes=notes,
    )


def _change_effects(
    own: Protocol, base: Mapping[str, float], changes: list[Change], score: _Scorer
) -> tuple[dict[str, list[ChangeEffect]], dict[str, str]]:
    """Per metric, the effect of each change on the mean (largest first); and the changes that
    cannot score the images, with why."""
    effects: dict[str, list[ChangeEffect]] = {m: [] for m in own.metrics}
    not_applicable = {}
    for change in changes:
        result = score(change.protocol)
        if isinstance(result, str):
            not_applicable[change.label] = result
            continue
        for m in own.metrics:
            if change.metrics is None or m in change.metrics:
                value = result[m]
                effects[m].append(
                    ChangeEffect(
                        change.label,
                        change.convention,
                        change.protocol.signature,
                        m,
                        value,
                        value - base[m],
                    )
                )
    for ranked in effects.values():
        ranked.sort(key=lambda e: -abs(e.effect) if math.isfinite(e.effect) else math.inf)
    return effects, not_applicable
