"""nr-niqe-diffuir against DiffUIR's own metrics/niqe.py, run once upstream on shipped photographs;
the zero-shot manifests use it; it is not the MATLAB-compatible nr-niqe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from harness.cli import app
from harness.data.catalog import benchmark_names, load_manifest
from harness.metrics import get_protocol
from harness.metrics.color import rgb_to_y_bt601, rgb_to_y_bt601_float32
from harness.metrics.compute import score_image

REPO = Path(__file__).resolve().parents[2]

# Expected values: DiffUIR's metrics/niqe.py, github.com/iSEE-Laboratory/DiffUIR at commit
# c71437ce86ad1b098aa9be4678dc82e8b99649df (MIT), run once outside the repository: metrics/niqe.py,
# metrics/metric_util.py and matlab_functions.py copied unchanged to /tmp/diffuir_niqe (with an
# empty metrics/__init__.py and the shipped metrics/niqe_pris_params.npz at the path the file
# loads, basicsr/metrics/niqe_pris_params.npz); numpy 2.4.6, scipy 1.17.1, opencv 5.1.0. For each
# case: img = cv2.imread(path) (BGR uint8), cropped to rows r0:r1, columns c0:c1 where given, then
# calculate_niqe(img, crop_border=0, input_order="HWC", convert_to="y").item(); command:
# `cd /tmp/diffuir_niqe && OMP_NUM_THREADS=1 python3 run_upstream.py`.
UPSTREAM = [
    ("manifests/embedded/mini-real/input/astronaut-00.png", None, 8.252665012265833),
    ("manifests/embedded/mini-real/input/coffee-00.png", None, 11.13380845587407),
    ("manifests/embedded/mini-real/input/motorcycle-00.png", None, 8.194509369843795),
    ("manifests/embedded/mini-real/input/rocket-00.png", None, 15.119818815885697),
    ("manifests/embedded/mini-lowlight/input/chelsea-00.png", None, 9.035262828574064),
    ("manifests/embedded/mini-dehaze/input/motorcycle-00.png", None, 5.009191902108977),
    ("manifests/embedded/mini-deblur/target/coffee-00.png", None, 10.116613646349574),
    ("manifests/embedded/mini-derain/input/astronaut-00.png", (3, 254, 5, 216), 15.35893808627721),
    ("manifests/embedded/mini-desnow/input/rocket-00.png", (0, 255, 1, 191), 13.433440657293406),
    ("tests/metrics/data/baboon.png", None, 5.85182989569526),  # 480x492
]
TOLERANCE = 1e-6


def _photo(path: str, box: tuple[int, int, int, int] | None) -> np.ndarray:
    with Image.open(REPO / path) as im:
        rgb = np.asarray(im.convert("RGB"))
    if box is not None:
        r0, r1, c0, c1 = box
        rgb = rgb[r0:r1, c0:c1]
    return np.ascontiguousarray(rgb)


@pytest.mark.parametrize(("path", "box", "expected"), UPSTREAM)
def test_equals_diffuir_metrics_niqe(path: str, box: tuple | None, expected: float) -> None:
    out = score_image(get_protocol("nr-niqe-diffuir"), _photo(path, box), None)
    assert out["niqe"] == pytest.approx(expected, abs=TOLERANCE)


def test_loe_twin_has_the_same_niqe_and_nr_niqe_loe_s_loe() -> None:
    photo = _photo(*UPSTREAM[4][:2])
    dark = photo // 3
    twin = score_image(get_protocol("nr-niqe-diffuir-loe"), photo, None, dark)
    assert twin["niqe"] == pytest.approx(UPSTREAM[4][2], abs=TOLERANCE)
    assert twin["loe"] == score_image(get_protocol("nr-niqe-loe"), photo, None, dark)["loe"]


def test_differs_from_the_matlab_compatible_nr_niqe() -> None:
    gaps = [
        abs(
            score_image(get_protocol("nr-niqe"), _photo(p, b), None)["niqe"]
            - score_image(get_protocol("nr-niqe-diffuir"), _photo(p, b), None)["niqe"]
        )
        for p, b, _ in UPSTREAM[:4]
    ]
    assert max(gaps) > 0.1
    assert get_protocol("nr-niqe").signature != get_protocol("nr-niqe-diffuir").signature


def test_float32_luma_is_bt601_y_to_float32_precision() -> None:
    photo = _photo(*UPSTREAM[0][:2])
    y32 = rgb_to_y_bt601_float32(photo)
    assert y32.dtype == np.float32
    exact = rgb_to_y_bt601(photo)
    # three float32 roundings (x/255, Y/255, x255) stay within a few ulps of the float64 Y
    np.testing.assert_allclose(y32, exact, rtol=4 * np.finfo(np.float32).eps, atol=0)
    assert not np.array_equal(y32.astype(np.float64), exact)


def test_full_zero_shot_no_reference_manifests_use_it() -> None:
    seen = {}
    for name in benchmark_names():
        m = load_manifest(name)
        if m.setting == "zero-shot" and not m.has_gt and not m.embedded:
            seen[name] = m.protocol
    lowlight = {"dicm", "lime", "mef", "npe", "vv"}
    assert set(seen) == lowlight | {"practical", "snow100k-real"}
    for name, protocol in seen.items():
        want = "nr-niqe-diffuir-loe" if name in lowlight else "nr-niqe-diffuir"
        assert protocol == want, name
    assert load_manifest("mini-real").protocol == "nr-niqe"  # the gate baseline's protocol


def test_harness_score_with_the_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for path, _, _ in UPSTREAM[:2]:
        (out / Path(path).name).write_bytes((REPO / path).read_bytes())
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["score", "--protocol", "nr-niqe-diffuir", str(out)])
    assert result.exit_code == 0, result.output
    assert "niqe:basicsr-f32-linear-96px" in result.output
    table = pd.read_csv(tmp_path / "scores-nr-niqe-diffuir.csv").set_index("image")
    for path, _, expected in UPSTREAM[:2]:
        assert table.loc[Path(path).stem, "niqe"] == pytest.approx(expected, abs=TOLERANCE)
