"""harness explain: saved outputs of a real mini-suite run re-scored under protocols and single
convention changes; every expected number is computed here from the store and the image files."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shlex
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from harness.explain import single_changes
from harness.metrics.protocols import PROTOCOLS
from harness.report import write_report
from tests.report.browser import render

RGB_CHANGE = "colour: y-bt601-float -> rgb"
JPEG_CHANGE = "quantisation: round-even -> jpeg75"


def _harness(*args: str):
    return CliRunner().invoke(app, [*map(str, args)])


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory) -> Path:
    """``harness run --method identity --suite mini --save-images --limit 2``; its store."""
    cache = tmp_path_factory.mktemp("explain-cache")
    r = _harness(
        "--cache-dir", cache, "--device", "cpu", "run", "--method", "identity", "--suite", "mini",
        "--save-images", "--limit", "2", "--no-report", "--no-flops",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return cache / "results.sqlite"


@pytest.fixture(scope="module")
def explained(mini_run, tmp_path_factory) -> dict:
    """``harness explain 1 --json`` against an empty reference folder."""
    empty = tmp_path_factory.mktemp("no-reference")
    r = _harness("explain", "1", "--store", mini_run, "--reference", empty, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _rows(store: Path, run_id: int = 1) -> list[dict]:
    db = sqlite3.connect(store)
    db.row_factory = sqlite3.Row
    rows = db.execute(
        "SELECT benchmark, image_id, metrics_json, output_path, target_path FROM results "
        "WHERE run_id = ? AND status = 'ok' ORDER BY benchmark, image_id",
        (run_id,),
    ).fetchall()
    db.close()
    return [dict(r) for r in rows]


def _stored_mean(store: Path, benchmark: str, metric: str) -> float:
    values = [
        json.loads(r["metrics_json"])[metric] for r in _rows(store) if r["benchmark"] == benchmark
    ]
    return sum(values) / len(values)


def _rgb(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _psnr_unit(x: np.ndarray, y: np.ndarray) -> float:
    mse = np.mean((x.astype(np.float64) / 255.0 - y.astype(np.float64) / 255.0) ** 2)
    return float(10.0 * np.log10(1.0 / mse))


def _luma(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _jpeg75(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=75)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _bench(doc: dict, name: str) -> dict:
    (bench,) = [b for b in doc["benchmarks"] if b["benchmark"] == name]
    return bench


def _own(bench: dict) -> dict:
    (own,) = [p for p in bench["protocols"] if p["own"]]
    return own


def _change(bench: dict, metric: str, label: str) -> dict:
    (change,) = [c for c in bench["changes"][metric] if c["label"] == label]
    return change


def test_own_protocol_reproduces_the_stored_means(mini_run, explained):
    benches = {r["benchmark"] for r in _rows(mini_run)}
    assert {b["benchmark"] for b in explained["benchmarks"]} == benches and len(benches) == 7
    for bench in explained["benchmarks"]:
        assert bench["n_images"] == bench["n_scored"] == 2
        for metric in bench["metrics"]:
            stored = _stored_mean(mini_run, bench["benchmark"], metric)
            assert _own(bench)["means"][metric] == pytest.approx(stored, rel=1e-12)
            assert bench["stored"][metric] == pytest.approx(stored, rel=1e-12)


def test_rgb_and_jpeg_changes_equal_numpy_psnr_of_the_saved_files(mini_run, explained):
    paired = [b for b in explained["benchmarks"] if b["protocol"] == "diffuir-online"]
    assert len(paired) == 6
    for bench in paired:
        pairs = [
            (_rgb(r["output_path"]), _rgb(r["target_path"]))
            for r in _rows(mini_run)
            if r["benchmark"] == bench["benchmark"]
        ]
        rgb = np.mean([_psnr_unit(out, gt) for out, gt in pairs])
        assert _change(bench, "psnr", RGB_CHANGE)["value"] == pytest.approx(rgb, abs=1e-9)
        by_name = {p["protocol"]: p["means"] for p in bench["protocols"]}
        assert by_name["basicsr-rgb"]["psnr"] == pytest.approx(rgb, abs=1e-9)
        jpeg = np.mean(
            [
                10 * np.log10(255.0**2 / np.mean((_luma(_jpeg75(out)) - _luma(gt)) ** 2))
                for out, gt in pairs
            ]
        )
        assert _change(bench, "psnr", JPEG_CHANGE)["value"] == pytest.approx(jpeg, abs=1e-9)


def test_changes_are_single_and_ranked_by_absolute_effect(explained):
    for bench in explained["benchmarks"]:
        own = _own(bench)
        parts = set(bench["signature"].split("|"))
        for metric, changes in bench["changes"].items():
            assert changes, (bench["benchmark"], metric)
            effects = [abs(c["effect"]) for c in changes]
            assert effects == sorted(effects, reverse=True)
            for c in changes:
                assert c["effect"] == pytest.approx(c["value"] - own["means"][metric], abs=1e-12)
                theirs = set(c["signature"].split("|"))
                assert len(parts - theirs) <= 1 and len(theirs - parts) <= 1 and parts != theirs
            if metric != "ssim":
                assert not any(c["label"].startswith("ssim:") for c in changes)
        conventions = {c["convention"] for cs in bench["changes"].values() for c in cs}
        if bench["protocol"] == "diffuir-online":
            expected = {"colour", "quantisation", "ssim", "gt resize", "border crop"}
        else:
            expected = {"colour", "quantisation", "border crop"}
        assert conventions == expected


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_each_change_differs_from_its_protocol_in_one_convention(name):
    base = PROTOCOLS[name].model_dump()
    for change in single_changes(PROTOCOLS[name]):
        other = change.protocol.model_dump()
        differing = {k for k in base if base[k] != other[k]} - {"name", "summary"}
        # the JPEG re-save is one convention stored in two fields
        assert differing in ({"color"}, {"ssim"}, {"gt_resize"}, {"crop_border"}) or differing in (
            {"quantize", "jpeg_quality"},
            {"quantize"},
        ), (change.label, differing)


def test_reference_number_ranks_changes_by_the_gap_they_close(mini_run, tmp_path):
    rows = [r for r in _rows(mini_run) if r["benchmark"] == "mini-derain"]
    rgb = np.mean([_psnr_unit(_rgb(r["output_path"]), _rgb(r["target_path"])) for r in rows])
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "t.csv").write_text(
        "method,variant,benchmark,metric,value,source\n"
        f"identity,,mini-derain,psnr,{rgb:.10f},test table A\n"
        "identity,other,mini-derain,ssim,0.5,a variant this run is not\n"
        "identity,,mini-derain,ssim,0.9,test table B\n"
    )
    r = _harness(
        "explain", "1", "--store", mini_run, "--benchmark", "mini-derain", "--reference", ref,
        "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    (bench,) = json.loads(r.output)["benchmarks"]
    refs = {g["metric"]: g for g in bench["references"]}
    assert set(refs) == {"psnr", "ssim"} and refs["ssim"]["source"] == "test table B"

    psnr = refs["psnr"]
    measured = _stored_mean(mini_run, "mini-derain", "psnr")
    assert psnr["measured"] == pytest.approx(measured, rel=1e-12)
    assert psnr["gap"] == pytest.approx(rgb - measured, abs=1e-9)
    top = psnr["closing"][0]
    assert top["label"] == RGB_CHANGE  # the RGB change lands on the reference
    assert top["remaining"] == pytest.approx(0.0, abs=1e-9)
    assert top["closes"] == pytest.approx(abs(rgb - measured), abs=1e-9)

    for metric, gap in refs.items():
        by_hand = sorted(
            (
                abs(gap["reference"] - gap["measured"]) - abs(gap["reference"] - c["value"]),
                gap["reference"] - c["value"],
                c["label"],
            )
            for c in bench["changes"][metric]
        )[::-1]
        assert [g["label"] for g in gap["closing"]] == [label for _, _, label in by_hand]
        for g, (closes, remaining, _) in zip(gap["closing"], by_hand, strict=True):
            assert g["closes"] == pytest.approx(closes, abs=1e-12)
            assert g["remaining"] == pytest.approx(remaining, abs=1e-12)
    text = _harness(
        "explain", "1", "--store", mini_run, "--benchmark", "mini-derain", "--reference", ref
    )  # fmt: skip
    assert text.exit_code == 0, text.output
    assert "moves it most: psnr: " + bench["changes"]["psnr"][0]["label"] in text.output
    assert f"remaining {0.0:+.4f}  {RGB_CHANGE}" in text.output


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_saved_outputs_are_only_read(mini_run, tmp_path):
    outputs = mini_run.parent / "outputs"
    before = _tree(outputs)
    r = _harness("explain", "1", "--store", mini_run, "--benchmark", "mini-dehaze")
    assert r.exit_code == 0, r.output
    assert _tree(outputs) == before and len(before) == 14


def test_refuses_a_run_without_saved_images_and_its_advice_works(tmp_path):
    store = tmp_path / "s.sqlite"
    args = ["--cache-dir", tmp_path, "--device", "cpu"]
    first = _harness(*args, "run", "-m", "identity", "-s", "mini-derain", "--limit", "1",
                     "--store", store, "--no-report", "--no-flops")  # fmt: skip
    assert first.exit_code == 0, first.output
    refused = _harness("explain", "1", "--store", store)
    assert isinstance(refused.exception, HarnessError)
    message = str(refused.exception)
    assert "saved no restored images" in message and "--save-images" in message
    command = message.split("rerun it with --save-images: ")[1].split(" (")[0]
    assert command.startswith("harness run ")
    rerun = _harness(*args, *shlex.split(command)[1:], "--limit", "1", "--no-report", "--no-flops")
    assert rerun.exit_code == 0, rerun.output
    new_id = re.search(r"^run (\d+) \(new\)", rerun.output, re.M).group(1)
    after = _harness("explain", new_id, "--store", store, "--json")
    assert after.exit_code == 0, after.output
    (bench,) = json.loads(after.output)["benchmarks"]
    assert bench["benchmark"] == "mini-derain" and bench["n_images"] == 1


def test_unknown_benchmark_is_refused(mini_run):
    r = _harness("explain", "1", "--store", mini_run, "--benchmark", "mini-nothing")
    assert isinstance(r.exception, HarnessError) and "mini-derain" in str(r.exception)


@pytest.mark.browser
def test_report_explain_section_renders_in_headless_chromium(mini_run, tmp_path):
    index = write_report(mini_run, [1], tmp_path / "rep", ("html",))["html"][0]
    dom, console = render(index, tmp_path / "profile")
    assert console == [], console
    section = dom[dom.index('<h2 id="explain">') :]
    assert section.count("<h3>Run 1 (identity) / mini-") == 7
    assert f"Moves psnr most: {RGB_CHANGE}".replace(">", "&gt;") in section
    assert "nr-niqe" in section and "single change" in section
    assert f"{_stored_mean(mini_run, 'mini-derain', 'psnr'):.4f}" in section
