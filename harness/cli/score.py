"""``harness score``: score a folder of restored images against ground truth under a protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.errors import HarnessError


def _by_stem(folder: Path, role: str) -> dict[str, Path]:
    """Image files of ``folder`` keyed by file stem (duplicate stems are an error)."""
    from harness.images import IMAGE_EXTENSIONS

    if not folder.is_dir():
        raise HarnessError(f"{role} folder not found: {folder}")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            if path.stem in files:
                raise HarnessError(
                    f"{role} folder has two images with stem {path.stem!r}: "
                    f"{files[path.stem].name} and {path.name}"
                )
            files[path.stem] = path
    if not files:
        raise HarnessError(f"{role} folder {folder} holds no images")
    return files


def _pair(outputs: dict[str, Path], others: dict[str, Path], role: str) -> None:
    """Fail with the unmatched stems listed when the restored and ``role`` sets differ."""
    missing = sorted(set(outputs) - set(others))
    extra = sorted(set(others) - set(outputs))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no {role} for: {', '.join(missing[:20])}")
        if extra:
            parts.append(f"{role} without a restored image: {', '.join(extra[:20])}")
        raise HarnessError(
            "unmatched file stems; " + "; ".join(parts),
            hint="images are paired by file name without extension",
        )


def register(app: typer.Typer) -> None:
    """Attach the ``score`` verb to the app."""

    @app.command("score")
    def score(
        output_dir: Annotated[Path, typer.Argument(help="Folder of restored images.")],
        gt_dir: Annotated[
            Path | None, typer.Argument(help="Folder of ground-truth images (same stems).")
        ] = None,
        protocol: Annotated[
            str, typer.Option("--protocol", "-p", help="Metric protocol (harness ls protocols).")
        ] = "diffuir-online",
        degraded_dir: Annotated[
            Path | None,
            typer.Option("--degraded", help="Folder of degraded inputs (for LOE)."),
        ] = None,
        csv: Annotated[
            Path | None,
            typer.Option(
                "--csv", help="Per-image CSV (default ./scores-PROTOCOL.csv, never in OUTPUT_DIR)."
            ),
        ] = None,
    ) -> None:
        """Score a folder of restored images against ground truth under a protocol."""
        import pandas as pd
        from rich.progress import Progress

        from harness.images import read_image
        from harness.metrics.compute import pooled_psnr, score_image, summarize
        from harness.metrics.protocols import get_protocol

        proto = get_protocol(protocol)
        outputs = _by_stem(output_dir, "restored")
        targets = degraded = None
        if proto.needs_target:
            if gt_dir is None:
                raise HarnessError(f"protocol {proto.name} needs GT_DIR (ground truth)")
            targets = _by_stem(gt_dir, "ground-truth")
            _pair(outputs, targets, "ground truth")
        if proto.needs_degraded:
            if degraded_dir is None:
                raise HarnessError(f"protocol {proto.name} needs --degraded DIR for LOE")
            degraded = _by_stem(degraded_dir, "degraded")
            _pair(outputs, degraded, "degraded input")
        rows = []
        with Progress(transient=True) as progress:
            task = progress.add_task(f"scoring ({proto.name})", total=len(outputs))
            for stem, path in outputs.items():
                restored = read_image(path)
                target = read_image(targets[stem]) if targets else None
                deg = read_image(degraded[stem]) if degraded else None
                values = score_image(proto, restored, target, deg, name=path.name)
                rows.append({"image": stem, **values})
                progress.advance(task)
        table = pd.DataFrame(rows)
        table["protocol"] = proto.name
        table["signature"] = proto.signature
        csv_path = csv or Path.cwd() / f"scores-{proto.name}.csv"
        table.to_csv(csv_path, index=False)
        typer.echo(f"protocol {proto.name}: {proto.signature}")
        if proto.aggregation == "pooled-mse":
            pooled = pooled_psnr(table["mse"].tolist(), proto.data_range)
            typer.echo(f"psnr (pooled MSE over {len(table)} images): {pooled:.6f}")
        for metric in proto.metrics:
            s = summarize(table[metric].tolist())
            inf = f" ({s['n_inf']} infinite, excluded from the mean)" if s["n_inf"] else ""
            typer.echo(f"{metric}: mean {s['mean']:.6f} over {s['n']} images{inf}")
        typer.echo(f"per-image scores: {csv_path}")
