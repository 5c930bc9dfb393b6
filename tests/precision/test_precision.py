"""What "fp32" means on every device, and the opt-in precisions (harness.precision)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from baselines.diffuir.restorer import DiffUIR
from harness.complexity import measure_size
from harness.errors import HarnessError
from harness.precision import check_precision, float32_math, network_precision
from harness.report.tables import _label
from harness.restorer import ImageBatch
from tests.precision.flags import tf32_flags


def test_fp32_turns_tf32_off_inside_and_restores_on_exit(tf32_allowed) -> None:
    with float32_math():
        assert tf32_flags() == (False, False)
        with float32_math("tf32"):
            assert tf32_flags() == (True, True)
        assert tf32_flags() == (False, False)
    assert tf32_flags() == (True, True)


def test_settings_come_back_after_an_error(tf32_allowed) -> None:
    with pytest.raises(RuntimeError, match="boom"), float32_math("bf16"):
        assert tf32_flags() == (False, False)
        raise RuntimeError("boom")
    assert tf32_flags() == (True, True)


@pytest.mark.parametrize(
    "value, device, expected",
    [(None, "cpu", "fp32"), ("BF16", "cpu", "bf16"), ("tf32", "cuda:0", "tf32")],
)
def test_check_precision_accepts(value, device: str, expected: str) -> None:
    assert check_precision(value, device) == expected


def test_check_precision_explains_refusals() -> None:
    with pytest.raises(HarnessError, match="one of fp32, tf32, bf16, got 'fp16'"):
        check_precision("fp16", "cpu")
    with pytest.raises(HarnessError, match="tf32 needs a CUDA device") as info:
        check_precision("tf32", "cpu")
    assert "--device cuda" in str(info.value)


def test_bf16_autocasts_the_network_only(tf32_allowed) -> None:
    with network_precision("bf16", "cpu"):
        assert torch.is_autocast_enabled("cpu")
        assert tf32_flags() == (False, False)
        assert (
            torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3)).dtype == torch.bfloat16
        )
    assert not torch.is_autocast_enabled("cpu")
    with network_precision("fp32", "cpu"):  # IEEE even when restore is called outside a run
        assert not torch.is_autocast_enabled("cpu") and tf32_flags() == (False, False)
    assert tf32_flags() == (True, True)


def test_complexity_times_under_ieee_float32(monkeypatch, tf32_allowed) -> None:
    seen: list[tuple[bool, bool]] = []
    restorer = DiffUIR("t", random_init=True)
    original = restorer.restore

    def recording(batch):
        seen.append(tf32_flags())
        return original(batch)

    monkeypatch.setattr(restorer, "restore", recording)
    measure_size(restorer, 16, 16, warmup=0, repeats=1, memory=False)
    assert seen and set(seen) == {(False, False)}


MINI_INPUT = Path(__file__).resolve().parents[2] / "manifests/embedded/mini-derain/input"


def _restore(restorer: DiffUIR, images: torch.Tensor) -> torch.Tensor:
    return restorer.restore(ImageBatch(images=images, ids=["a", "b"], seed=0))


def test_diffuir_bf16_runs_the_network_in_bfloat16_and_drifts_a_little() -> None:
    files = sorted(MINI_INPUT.glob("*.png"))[:2]
    crops = [np.asarray(Image.open(f).convert("RGB"))[:64, :64] for f in files]
    images = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255
    fp32 = DiffUIR("t")  # the shipped diffuir-t-mini weights
    bf16 = DiffUIR("t", precision="bf16")
    dtypes: set[torch.dtype] = set()
    bf16.unet.init_conv.register_forward_hook(lambda m, i, out: dtypes.add(out.dtype))
    a, b = _restore(fp32, images), _restore(bf16, images)
    assert dtypes == {torch.bfloat16}
    assert b.dtype == torch.float32 and torch.isfinite(b).all()
    assert (a - b).abs().max().item() > 1e-4  # really another precision
    # bfloat16 keeps 8 significant bits: each operation is off by up to 2^-9 (0.2%, ~54 dB); the
    # outputs must stay within 35 dB PSNR of each other (garbage or a float16 overflow would not)
    psnr = 10 * math.log10(1 / (a - b).pow(2).mean().item())
    assert psnr > 35
    assert bf16.provenance()["precision"] == "bf16" and fp32.provenance()["precision"] == "fp32"
    assert bf16.provenance()["options"] == {"precision": "bf16"}


def test_diffuir_refuses_tf32_on_cpu() -> None:
    with pytest.raises(HarnessError, match="tf32 needs a CUDA device"):
        DiffUIR("t", random_init=True, precision="tf32")


def test_report_labels_name_an_opt_in_precision() -> None:
    run_row = {"method": "diffuir", "variant": "t", "provenance": {"precision": "bf16"}}
    assert _label(run_row) == "diffuir (t, bf16)"
    assert _label({**run_row, "provenance": {"precision": "fp32"}}) == "diffuir (t)"
    assert _label({"method": "identity", "variant": "default", "provenance": {}}) == "identity"


def test_complexity_output_names_the_options() -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    args = ["--device", "cpu", "complexity", "diffuir", "--size", "16x16", "--repeats", "1"]
    result = CliRunner().invoke(app, [*args, "--option", "random_init=true", "--json"])
    assert result.exit_code == 0, result.output
    assert "options: random_init=True" in json.loads(result.output)["notes"]
    plain = CliRunner().invoke(app, ["--device", "cpu", "complexity", "identity", "--json"])
    assert not [n for n in json.loads(plain.output)["notes"] if n.startswith("options:")]
