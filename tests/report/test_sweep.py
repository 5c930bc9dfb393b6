"""harness sweep: one stored run per value, the printed table from the stored rows, the report's
sweep figure with reference points, and which stored runs form a sweep."""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from harness.report import write_report
from harness.report.sweeps import find_sweeps
from harness.report.tables import load_report_data
from harness.runner import RunConfig, run
from harness.store import Store
from harness.sweep import plan_sweep
from tests.report.browser import render


def _sweep(tmp_path: Path, *args: str) -> str:
    cli = ["-q", "--device", "cpu", "sweep", "--workers", "0", "--limit", "1"]
    cli += ["--store", str(tmp_path / "s.sqlite"), "--report-dir", str(tmp_path / "rep"), *args]
    result = CliRunner().invoke(app, cli)
    assert result.exit_code == 0, result.output
    return result.output


def _stored(store: Path) -> tuple[dict[int, dict], dict[int, dict[str, list[float]]], dict]:
    """Runs' config, each run's ok PSNRs per benchmark and latencies, read with sqlite3 alone."""
    db = sqlite3.connect(store)
    configs = {rid: json.loads(c) for rid, c in db.execute("SELECT run_id, config_json FROM runs")}
    psnr: dict[int, dict[str, list[float]]] = {}
    latency: dict[int, list[float]] = {}
    rows = db.execute(
        "SELECT run_id, benchmark, metrics_json, latency_ms FROM results WHERE status = 'ok'"
    )
    for rid, bench, metrics, ms in rows:
        values = json.loads(metrics)
        if "psnr" in values:
            psnr.setdefault(rid, {}).setdefault(bench, []).append(values["psnr"])
        latency.setdefault(rid, []).append(ms)
    db.close()
    return configs, psnr, latency


def _printed_table(output: str) -> pd.DataFrame:
    lines = [line for line in output.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return pd.DataFrame(rows, columns=header)


@pytest.mark.browser
def test_sweep_on_mini_stores_one_run_per_value_prints_their_means_and_reports_them(tmp_path):
    args = ["--method", "median", "--option", "size=3,5", "--suite", "mini", "--no-flops"]
    output = _sweep(tmp_path, *args)
    configs, psnr, latency = _stored(tmp_path / "s.sqlite")
    assert sorted(c["options"]["size"] for c in configs.values()) == [3, 5]
    assert all(c["method"] == "median" and c["limit"] == 1 for c in configs.values())
    run_of = {c["options"]["size"]: rid for rid, c in configs.items()}
    assert re.findall(r"size=(\d): run (\d+) \(new\)", output) == [
        ("3", str(run_of[3])),
        ("5", str(run_of[5])),
    ]

    table = _printed_table(output).set_index("size")
    assert list(table.index) == ["3", "5"]
    for size, rid in run_of.items():
        row = table.loc[str(size)]
        means = {bench: float(np.mean(v)) for bench, v in psnr[rid].items()}
        assert len(means) == 6  # five tasks and the zero-shot mix; mini-real has no PSNR
        for bench, mean in means.items():
            assert row[f"{bench} PSNR"] == f"{mean:.2f}"
        assert row["mean PSNR"] == f"{np.mean(list(means.values())):.2f}"
        assert row["network calls/image"] == "n/a"  # a median filter calls no network
        assert row["model s/image"] == f"{np.mean(latency[rid]) / 1000:.3g}"
        assert row["run"] == str(rid)

    again = _sweep(tmp_path, *args)
    assert re.findall(r"size=\d: run (\d+) \(resumed\)", again) == [
        str(run_of[3]),
        str(run_of[5]),
    ]

    dom, console = render(tmp_path / "rep" / "index.html", tmp_path / "profile")
    assert console == [], console
    section = dom[dom.index('id="sweeps"') : dom.index('id="complexity"')]
    assert section.count("<h3>") == 1 and "median on mini: size swept" in section
    (png,) = re.findall(
        r'class="sweep"><img alt="[^"]*" src="data:image/png;base64,([^"]+)"', section
    )
    Image.open(io.BytesIO(base64.b64decode(png))).verify()
    assert f"Runs {run_of[3]}, {run_of[5]} on suite mini differ only in option size" in section


def test_diffuir_steps_sweep_records_network_calls_and_draws_reference_points(tmp_path):
    args = ["--method", "diffuir", "--option", "steps=1,2", "--suite", "mini-lowlight"]
    output = _sweep(tmp_path, *args, "--no-flops", "--no-report")
    table = _printed_table(output).set_index("steps")
    assert list(table["network calls/image"]) == ["1", "2"]

    configs, psnr, _ = _stored(tmp_path / "s.sqlite")
    run_of = {c["options"]["steps"]: rid for rid, c in configs.items()}
    measured = float(np.mean(psnr[run_of[2]]["mini-lowlight"]))
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "r.csv").write_text(
        "method,variant,benchmark,metric,value,source,tolerance,options\n"
        "diffuir,t,mini-lowlight,psnr,20.5,steps table,0.1,steps=2\n"
        "diffuir,t,mini-lowlight,psnr,30.25,other option,0.1,ema=false\n"
    )
    files = write_report(
        tmp_path / "s.sqlite",
        sorted(run_of.values()),
        tmp_path / "r2",
        ("html", "csv"),
        reference_dir=ref,
    )
    html = files["html"][0].read_text()
    assert "Reference points (x): mini-lowlight at steps=2: 20.50 (steps table)." in html
    assert "30.25" not in html.split('id="sweeps"')[1].split('id="complexity"')[0]
    paper = pd.read_csv(tmp_path / "r2" / "paper_vs_measured.csv")
    (row,) = paper.itertuples()  # the steps=2 row matches run steps=2 only; ema=false none
    assert row.options == "steps=2" and row.measured == pytest.approx(measured)


def test_plan_reads_one_swept_option_and_types_every_value():
    plan = plan_sweep("diffuir", ["steps=1, 2,10", "ema=false"])
    assert (plan.key, plan.values, plan.fixed) == ("steps", (1, 2, 10), {"ema": False})
    assert plan.options(10) == {"ema": False, "steps": 10}
    for pairs, says in (
        (["steps=3"], "exactly one --option with a comma list"),
        (["steps=1,2", "ema=true,false"], "exactly one --option with a comma list"),
        (["steps=1,,2"], "an empty value"),
        (["steps=1,1"], "listed twice"),
        (["kernel=3,5"], "has no option 'kernel'"),
        (["steps=1,2", "steps=4"], "given twice"),
        (["device=cpu,cuda"], "reserved"),
    ):
        with pytest.raises(HarnessError, match=says):
            plan_sweep("diffuir", pairs)


def test_only_runs_that_differ_in_one_option_form_a_sweep(tmp_path, fixture_benchmarks):
    store = tmp_path / "s.sqlite"
    ids = {}
    for foo, scale in ((1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0)):
        config = RunConfig(
            method="jitter",
            suite="fx-derain",
            device="cpu",
            workers=0,
            limit=1,
            store_path=store,
            options={"foo": foo, "scale": scale},
        )
        ids[foo] = run(config).run_id
    other_seed = RunConfig(
        method="jitter",
        suite="fx-derain",
        device="cpu",
        workers=0,
        limit=1,
        seed=1,
        store_path=store,
        options={"foo": 5, "scale": 1.0},
    )
    ids[5] = run(other_seed).run_id
    with Store(store, readonly=True) as s:
        data = load_report_data(s, list(ids.values()))
    found = {(w.key, w.run_ids, tuple(w.fixed.items())) for w in find_sweeps(data)}
    assert found == {
        ("foo", (ids[1], ids[2]), (("scale", 1.0),)),
        ("foo", (ids[3], ids[4]), (("scale", 2.0),)),
    }
