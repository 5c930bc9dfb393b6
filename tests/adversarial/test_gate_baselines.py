"""Gates that could pass with nothing compared: empty, NaN, malformed or foreign baselines and runs.

Every store and baseline here is written by the test itself: the store through harness.store.Store
(one run, one benchmark of six images), the baseline as JSON text by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.store import ImageResult, Store

BENCH = "adv-bench"
SIGNATURE = "psnr+ssim:adv"
DIGEST = "a" * 64
PSNR = [30.0, 31.0, 32.0, 33.0, 34.0, 35.0]
SSIM = [0.90, 0.91, 0.92, 0.93, 0.94, 0.95]


def _store(
    path: Path,
    psnr: list[float] = PSNR,
    *,
    digest: str | None = DIGEST,
    verified: bool | None = True,
) -> Path:
    with Store(path) as store:
        run_id, _ = store.start_run(
            "key",
            {"method": "m", "suite": "adv", "seed": 0, "device": "cpu", "batch_size": 1},
            {},
            {},
        )
        store.upsert_benchmark(
            run_id,
            BENCH,
            {
                "task": "derain",
                "setting": "universal",
                "protocol": "adv",
                "protocol_signature": SIGNATURE,
                "metrics": ("psnr", "ssim"),
                "data_digest": digest,
                "pinned": verified is not None,
                "verified": verified,
                "n_pairs": len(psnr),
            },
        )
        for i, (p, s) in enumerate(zip(psnr, SSIM, strict=True)):
            store.add_result(
                run_id, ImageResult(BENCH, f"{i:03d}", "ok", metrics={"psnr": p, "ssim": s})
            )
    return path


def _baseline_doc(psnr: list[float] = PSNR, digest: str = DIGEST) -> dict:
    return {
        "format": "uir-harness-gate-baseline/1",
        "method": "m",
        "suite": "adv",
        "benchmarks": {
            BENCH: {
                "protocol": "adv",
                "protocol_signature": SIGNATURE,
                "data_digest": digest,
                "images": {
                    f"{i:03d}": {"psnr": p, "ssim": s}
                    for i, (p, s) in enumerate(zip(psnr, SSIM, strict=True))
                },
            }
        },
    }


def _gate(store: Path, baseline: Path, *args: str) -> tuple[int, str]:
    """Exit code and everything printed or raised, the test's folder written as ``<tmp>``."""
    result = CliRunner().invoke(
        app, ["gate", "--store", str(store), "--baseline", str(baseline), *args]
    )
    text = result.output + (str(result.exception) if result.exception else "")
    # the folder's name holds the test's name, whose words must not satisfy the asserts
    return result.exit_code, text.replace(str(baseline.parent), "<tmp>")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return _store(tmp_path / "s.sqlite")


def test_a_matching_baseline_passes(store: Path, tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    base.write_text(json.dumps(_baseline_doc()))
    code, text = _gate(store, base)
    assert code == 0, text
    assert "gate passed" in text


def test_a_baseline_without_benchmarks_fails(store: Path, tmp_path: Path) -> None:
    base = tmp_path / "empty.json"
    base.write_text(json.dumps({"format": "uir-harness-gate-baseline/1", "benchmarks": {}}))
    code, text = _gate(store, base)
    assert code == 1
    assert "gate passed" not in text
    assert "<tmp>/empty.json" in text and "benchmarks" in text


def test_a_benchmark_without_images_fails(store: Path, tmp_path: Path) -> None:
    doc = _baseline_doc()
    doc["benchmarks"][BENCH]["images"] = {}
    base = tmp_path / "noimages.json"
    base.write_text(json.dumps(doc))
    code, text = _gate(store, base)
    assert code == 1 and "gate passed" not in text
    assert f"benchmarks.{BENCH}.images" in text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_baseline_holding_a_non_finite_value_fails(
    store: Path, tmp_path: Path, literal: str
) -> None:
    text = json.dumps(_baseline_doc()).replace('"psnr": 32.0', f'"psnr": {literal}')
    assert literal in text
    base = tmp_path / "nan.json"
    base.write_text(text)
    code, out = _gate(store, base)
    assert code == 1 and "gate passed" not in out
    assert f"benchmarks.{BENCH}.images.002.psnr" in out and "finite" in out


def test_a_run_holding_nan_fails_and_names_the_image(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.sqlite", [30.0, 31.0, math.nan, 33.0, 34.0, 35.0])
    base = tmp_path / "base.json"
    base.write_text(json.dumps(_baseline_doc()))
    code, text = _gate(store, base)
    assert code == 1 and "gate passed" not in text
    assert "002" in text and "not a number" in text


def test_an_infinite_run_psnr_is_no_drop_and_cannot_hide_a_drop(tmp_path: Path) -> None:
    # one exact reconstruction (PSNR +inf) while the five other images each lose 2 dB
    worse = [math.inf] + [p - 2.0 for p in PSNR[1:]]
    base = tmp_path / "base.json"
    base.write_text(json.dumps(_baseline_doc()))
    code, text = _gate(_store(tmp_path / "worse.sqlite", worse), base)
    assert code == 1 and "gate passed" not in text
    assert "mean drop 2 >" in text
    better = [math.inf, *PSNR[1:]]
    code, text = _gate(_store(tmp_path / "better.sqlite", better), base)
    assert code == 0, text


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("list.json", b"[1, 2, 3]", "(document)"),
        (
            "missing.json",
            json.dumps({"format": "uir-harness-gate-baseline/1"}).encode(),
            "benchmarks",
        ),
        ("wrongformat.json", json.dumps({"format": "other", "benchmarks": {}}).encode(), "format"),
        ("binary.json", bytes(range(256)), "UTF-8"),
        ("truncated.json", b'{"format": "uir-harness-gate-baseline/1", "bench', "not valid JSON"),
    ],
    ids=["list", "missing-keys", "wrong-format", "binary", "truncated"],
)
def test_malformed_baselines_give_a_clear_error(
    store: Path, tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    base = tmp_path / name
    base.write_bytes(content)
    code, text = _gate(store, base)
    assert code == 1 and "gate passed" not in text
    assert f"<tmp>/{name}" in text and expected in text
    assert "Traceback" not in text


def test_missing_keys_and_strings_for_numbers_name_the_field(store: Path, tmp_path: Path) -> None:
    doc = _baseline_doc()
    del doc["benchmarks"][BENCH]["protocol_signature"]
    doc["benchmarks"][BENCH]["images"]["001"]["ssim"] = "0.91"
    base = tmp_path / "fields.json"
    base.write_text(json.dumps(doc))
    code, text = _gate(store, base)
    assert code == 1 and "gate passed" not in text
    assert f"benchmarks.{BENCH}.protocol_signature" in text
    assert f"benchmarks.{BENCH}.images.001.ssim" in text


def test_duplicate_image_ids_in_a_baseline_are_refused(store: Path, tmp_path: Path) -> None:
    text = json.dumps(_baseline_doc()).replace('"001"', '"000"')
    base = tmp_path / "dup.json"
    base.write_text(text)
    code, out = _gate(store, base)
    assert code == 1 and "gate passed" not in out
    assert "duplicate key '000'" in out


def test_a_run_on_other_data_is_refused_naming_both_digests(tmp_path: Path) -> None:
    other = "b" * 64
    store = _store(tmp_path / "s.sqlite", digest=other)
    base = tmp_path / "base.json"
    base.write_text(json.dumps(_baseline_doc()))
    code, text = _gate(store, base)
    assert code == 1 and "gate passed" not in text
    assert DIGEST in text and other in text


def test_a_run_on_unverified_data_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.sqlite", verified=False)
    base = tmp_path / "base.json"
    base.write_text(json.dumps(_baseline_doc()))
    code, text = _gate(store, base)
    assert code == 1 and "gate passed" not in text
    assert BENCH in text and "verified" in text


def test_update_refuses_a_run_that_cannot_make_a_valid_baseline(tmp_path: Path) -> None:
    base = tmp_path / "new.json"
    nan_store = _store(tmp_path / "nan.sqlite", [math.nan, *PSNR[1:]])
    code, text = _gate(nan_store, base, "--update")
    assert code == 1 and not base.exists()
    assert "000" in text and "finite" in text
    unverified = _store(tmp_path / "unverified.sqlite", verified=False)
    code, text = _gate(unverified, base, "--update")
    assert code == 1 and not base.exists()
    assert "verified" in text
