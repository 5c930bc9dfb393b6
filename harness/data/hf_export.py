"""Export a benchmark as a local Hugging Face ``datasets`` dataset (extra ``hf``).

The records carry the id, the image bytes, the benchmark name and the lock digest, so a lab can share
a pinned copy and the receiver can check it scored the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.data.benchmark import Benchmark
from harness.errors import HarnessError


def build_records(bench: Benchmark) -> list[dict[str, object]]:
    """One record per pair: id, input/target bytes and file names, benchmark, digest."""
    records: list[dict[str, object]] = []
    for pair in bench.pairs:
        records.append(
            {
                "id": pair.id,
                "benchmark": bench.name,
                "task": bench.task,
                "digest": bench.digest,
                "input": {"bytes": pair.input.read_bytes(), "path": pair.input.name},
                "target": (
                    {"bytes": pair.target.read_bytes(), "path": pair.target.name}
                    if pair.target is not None
                    else None
                ),
            }
        )
    return records


def export_metadata(bench: Benchmark) -> dict[str, object]:
    """What is written next to the dataset: where it came from and which bytes it pins."""
    return {
        "benchmark": bench.name,
        "task": bench.task,
        "protocol": bench.protocol,
        "has_gt": bench.has_gt,
        "preprocess": sorted(bench.preprocess),
        "digest": bench.digest,
        "pinned": bench.pinned,
        "verified": bench.verified,
        "pairs": len(bench.pairs),
        "ids": [p.id for p in bench.pairs],
    }


def export_to_hf(bench: Benchmark, out_dir: Path) -> Path:
    """Write ``bench`` with ``datasets.Dataset.save_to_disk`` under ``out_dir``."""
    try:
        import datasets
    except ImportError:
        raise HarnessError(
            "exporting to Hugging Face datasets needs the optional dependency group 'hf'",
            hint="install it with: pip install 'uir-harness[hf]'",
        ) from None
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "benchmark": datasets.Value("string"),
            "task": datasets.Value("string"),
            "digest": datasets.Value("string"),
            "input": datasets.Image(decode=False),
            "target": datasets.Image(decode=False),
        }
    )
    dataset = datasets.Dataset.from_list(build_records(bench), features=features)
    out_dir = Path(out_dir)
    dataset.save_to_disk(str(out_dir))
    (out_dir / "harness-export.json").write_text(json.dumps(export_metadata(bench), indent=2))
    return out_dir
