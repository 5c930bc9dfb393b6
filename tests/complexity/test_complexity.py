"""The FLOP/MAC counter against hand-computed counts, parameters, and ``harness complexity``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from harness import registry
from harness.cli import app
from harness.complexity import count_flops, count_parameters, measure, parse_size
from harness.errors import HarnessError, MissingFileError
from harness.restorer import ImageBatch, Option, Restorer


class TinyNet(nn.Module):
    """conv 3->8 (3x3) -> depthwise 8 (3x3, stride 2) -> conv 8->3 (1x1) -> global mean -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False)
        self.conv2 = nn.Conv2d(8, 3, 1)
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.dw(self.conv1(x)))
        gate = torch.sigmoid(self.fc(y.mean(dim=(2, 3))))
        return (x * gate[:, :, None, None]).clamp(0, 1)


def tiny_macs(h: int, w: int) -> int:
    """Multiply-accumulates of one TinyNet call on a 1x3xHxW input, from the layer shapes."""
    h2, w2 = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
    conv1 = h * w * 8 * (3 * 3 * 3)  # every output element: Cin * kh * kw products
    dw = h2 * w2 * 8 * (1 * 3 * 3)  # groups=8: each output sees one input channel
    conv2 = h2 * w2 * 3 * 8
    fc = 3 * 3
    return conv1 + dw + conv2 + fc


TINY_PARAMS = (8 * 3 * 9 + 8) + (8 * 9) + (3 * 8 + 3) + (3 * 3 + 3)


class TinySampler(Restorer):
    """Calls its network ``steps`` times per restore, like a diffusion sampler."""

    name = "tiny"
    variants = ("a",)
    default_variant = "a"
    tasks = ("derain",)
    option_specs = {"steps": Option(int, 3, "network calls per restore")}

    def __init__(self, variant=None, weights=None, device="cpu", **options) -> None:
        super().__init__(variant, weights, device, **options)
        torch.manual_seed(0)
        self.net = TinyNet().eval()
        self.steps = int(options.get("steps", 3))

    def module(self) -> nn.Module:
        return self.net

    def calls_per_image(self) -> int:
        return self.steps

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        x = batch.images
        with torch.no_grad():
            for _ in range(self.steps):
                x = self.net(x)
        return x


def test_parameters_match_layer_shapes() -> None:
    assert count_parameters(TinyNet()) == TINY_PARAMS
    assert count_parameters(None) == 0


def test_shared_parameters_count_once() -> None:
    lin = nn.Linear(4, 4)
    assert count_parameters(nn.Sequential(lin, lin)) == 4 * 4 + 4


@pytest.mark.parametrize(("h", "w"), [(16, 16), (17, 23)])
def test_flops_per_call_match_analytic_macs(h: int, w: int) -> None:
    restorer = TinySampler(steps=1)
    network, calls, total = count_flops(restorer, torch.rand(1, 3, h, w))
    assert calls == 1
    assert network == 2 * tiny_macs(h, w) == total


def test_linear_layer_alone() -> None:
    class Lin(TinySampler):
        def __init__(self, **kw) -> None:
            super().__init__(**kw)
            self.net = nn.Linear(7, 5)

        def restore(self, batch: ImageBatch) -> torch.Tensor:
            self.net(torch.ones(4, 7))
            return batch.images

    network, calls, _ = count_flops(Lin(steps=1), torch.rand(1, 3, 4, 4))
    assert (network, calls) == (2 * 4 * 7 * 5, 1)


def test_per_image_is_per_call_times_calls_per_image() -> None:
    report = measure(TinySampler(steps=3), [(16, 20)], repeats=1, warmup=0)
    row = report.sizes[0]
    assert report.params == TINY_PARAMS
    assert row.network_calls_observed == 3 and row.calls_per_image == 3
    assert row.flops_per_call == 2 * tiny_macs(16, 20)
    assert row.macs_per_image == 3 * tiny_macs(16, 20)
    assert row.flops_scope == "network"
    assert row.latency_ms_median is not None and row.latency_ms_median > 0
    assert row.memory_kind in {"cpu-rss-sampled", "cpu-maxrss-increase"}


def test_method_without_network_counts_whole_restore() -> None:
    from baselines.classical.deconvolution import RichardsonLucy

    method = RichardsonLucy(iterations=2)
    h, w = 12, 10
    row = measure(method, [(h, w)], repeats=0, memory=False).sizes[0]
    k = method.kernel.shape[0] * method.kernel.shape[1]
    # 2 iterations x 2 depthwise convolutions, each H*W*3 outputs x k products
    assert row.macs_per_image == 2 * 2 * h * w * 3 * k
    assert row.flops_scope == "restore" and row.latency_ms_median is None


def test_parse_size() -> None:
    assert parse_size("256x128") == (256, 128)
    with pytest.raises(HarnessError):
        parse_size("256")
    with pytest.raises(HarnessError):
        parse_size("0x5")


@pytest.fixture
def tiny_registered(monkeypatch: pytest.MonkeyPatch):
    real = registry.method_class
    monkeypatch.setattr(
        registry, "method_class", lambda name: TinySampler if name == "tiny" else real(name)
    )


def test_cli_prints_params_and_json(tiny_registered) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["--device", "cpu", "complexity", "tiny", "--size", "8x8", "--repeats", "1"]
    )
    assert result.exit_code == 0, result.output
    assert f"params: {TINY_PARAMS:,}" in result.output
    result = runner.invoke(
        app,
        ["--device", "cpu", "complexity", "tiny", "--size", "8x8", "--size", "9x7", "--json"],
    )
    data = json.loads(result.output)
    assert [(r["height"], r["width"]) for r in data["sizes"]] == [(8, 8), (9, 7)]
    assert data["sizes"][1]["macs_per_image"] == 3 * tiny_macs(9, 7)


def test_cli_identity_has_zero_params() -> None:
    result = CliRunner().invoke(
        app, ["--device", "cpu", "complexity", "identity", "--size", "8x8", "--repeats", "1"]
    )
    assert result.exit_code == 0 and "params: 0" in result.output


def test_cli_falls_back_to_random_init_without_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    class NeedsWeights(TinySampler):
        option_specs = {**TinySampler.option_specs, "random_init": Option(bool, False, "no file")}

        def __init__(self, variant=None, weights=None, device="cpu", **options) -> None:
            if not options.get("random_init"):
                raise MissingFileError("weights", "/nowhere/model.pt")
            super().__init__(variant, weights, device, **options)

    real = registry.method_class
    monkeypatch.setattr(
        registry, "method_class", lambda name: NeedsWeights if name == "tiny" else real(name)
    )
    result = CliRunner().invoke(
        app, ["--device", "cpu", "complexity", "tiny", "--size", "8x8", "--repeats", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "random init" in result.output and f"params: {TINY_PARAMS:,}" in result.output


def test_cli_reports_missing_weights_of_a_method_without_random_init(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoFallback(TinySampler):  # declares no random_init option: nothing to fall back to
        def __init__(self, variant=None, weights=None, device="cpu", **options) -> None:
            raise MissingFileError("weights", "/nowhere/model.pt")

    real = registry.method_class
    monkeypatch.setattr(
        registry, "method_class", lambda name: NoFallback if name == "tiny" else real(name)
    )
    result = CliRunner().invoke(app, ["--device", "cpu", "complexity", "tiny", "--size", "8x8"])
    assert isinstance(result.exception, MissingFileError)
    assert "/nowhere/model.pt" in str(result.exception)


PEAK_SCRIPT = """
import torch
from harness.complexity import peak_memory
from harness.memory import keep_freed_memory
from harness.restorer import ImageBatch, Restorer

class Holds48MB(Restorer):
    name = "holds-48mb"
    tasks = ("derain",)

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        alive = [torch.ones(2 << 20) for _ in range(6)]  # six 8 MiB tensors at once
        return batch.images + sum(float(t[0]) for t in alive) * 0

assert keep_freed_memory()  # as the command line runs
restorer, images = Holds48MB(), torch.rand(1, 3, 8, 8)
print(" ".join(str(peak_memory(restorer, images, "cpu")[0]) for _ in range(3)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS sampling from /proc")
def test_cpu_peak_memory_does_not_hide_memory_an_earlier_call_freed() -> None:
    """With freed memory kept for reuse, a second call's 48 MiB would come from the heap without
    growing the resident size; the measurement hands kept memory back first."""
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    peaks = [int(v) / 2**20 for v in out.split()]
    assert len(peaks) == 3
    assert all(40 <= mib <= 64 for mib in peaks), peaks
