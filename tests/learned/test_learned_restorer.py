"""The shared learned-restorer life: resolve, adapt, strict load, padded restore, inspect, train."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness import registry
from harness.checkpoints import CheckpointLayout, CheckpointMismatchError
from harness.learned_restorer import LearnedRestorer
from harness.restorer import ImageBatch
from harness.train_config import TrainConfig


class TwoConv(nn.Module):
    """A tiny network that needs H, W divisible by 4 (a stride-4 conv and a 4x upsample)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, width, 4, stride=4)
        self.up = nn.ConvTranspose2d(width, 3, 4, stride=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * self.up(torch.tanh(self.down(x)))


class Tiny(LearnedRestorer):
    name = "tiny-learned"
    signature = "TinyNet"
    variants = ("w4", "w8")
    default_variant = "w4"
    pad_multiple = 4
    checkpoint_layout = CheckpointLayout(
        containers=("state_dict",), prefixes=("net.",), train_only=("queue",)
    )
    params: ClassVar[dict[str, int]] = {}

    @classmethod
    def build_network(cls, variant: str) -> nn.Module:
        return TwoConv(int(variant[1:]))


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry.method_class
    monkeypatch.setattr(registry, "method_class", lambda n: Tiny if n == Tiny.name else real(n))


def _lightning_file(path: Path, width: int, seed: int, extra: dict | None = None) -> TwoConv:
    torch.manual_seed(seed)
    net = TwoConv(width)
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": {**state, **(extra or {})}, "epoch": 7}, path)
    return net


def test_official_container_loads_strictly_and_restores_padded(tmp_path: Path) -> None:
    reference = _lightning_file(tmp_path / "w.ckpt", 8, seed=1, extra={"queue": torch.zeros(5, 5)})
    restorer = Tiny(variant="w8", weights=str(tmp_path / "w.ckpt"))
    x = torch.rand(2, 3, 10, 13, generator=torch.Generator().manual_seed(0))
    out = restorer.restore(ImageBatch(images=x, ids=("a", "b")))
    padded = F.pad(x, (0, 3, 0, 2), mode="reflect")  # 10x13 -> 12x16, bottom and right
    with torch.no_grad():
        expected = reference(padded)[..., :10, :13].clamp(0, 1)
    assert torch.allclose(out, expected, atol=1e-6)
    info = restorer.provenance()
    assert info["weights_sha256"] and info["random_init"] is False
    used = sum(p.numel() for p in reference.parameters())
    assert info["params_stored"] == used + 25  # the training-only queue is counted, not loaded


def test_other_methods_checkpoint_is_refused_by_name(tmp_path: Path) -> None:
    keys = ["patch_embed.proj.weight", "latent.0.attn.qkv.weight", "down.weight"]
    torch.save({"state_dict": {f"net.{k}": torch.zeros(1) for k in keys}}, tmp_path / "r.ckpt")
    with pytest.raises(CheckpointMismatchError, match="holds Restormer weights, not TinyNet"):
        Tiny(weights=str(tmp_path / "r.ckpt"))


def test_wrong_width_names_the_shapes(tmp_path: Path) -> None:
    _lightning_file(tmp_path / "w4.ckpt", 4, seed=2)
    with pytest.raises(CheckpointMismatchError, match=r"down.weight \(4, 3, 4, 4\) != \(8, 3"):
        Tiny(variant="w8", weights=str(tmp_path / "w4.ckpt"))


def test_inspect_weights_finds_the_variant(tmp_path: Path) -> None:
    _lightning_file(tmp_path / "w8.ckpt", 8, seed=3)
    assert Tiny.inspect_weights(tmp_path / "w8.ckpt") == "w8"
    torch.save({"state_dict": {"net.other.weight": torch.zeros(1)}}, tmp_path / "x.ckpt")
    with pytest.raises(CheckpointMismatchError, match="does not match TinyNet"):
        Tiny.inspect_weights(tmp_path / "x.ckpt")


def test_random_init_is_seeded_and_recorded() -> None:
    a, b = Tiny(random_init=True), Tiny(random_init="true")
    for (ka, va), (kb, vb) in zip(
        a.module().state_dict().items(), b.module().state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb)
    assert a.provenance()["random_init"] is True and a.provenance()["weights_sha256"] is None


def test_train_writes_weights_that_load_back(tmp_path: Path) -> None:
    config = TrainConfig(method=Tiny.name, variant="w4", steps=3, crop=32, checkpoint_every=3)
    weights = Tiny.train(config, tmp_path / "run", Path("unused"), progress=False)
    record = json.loads((tmp_path / "run" / "training.json").read_text())
    assert record["config"]["steps"] == 3 and set(record["pairs_per_task"]) == {
        "derain",
        "desnow",
        "dehaze",
        "deblur",
        "lowlight",
    }
    restorer = Tiny(weights=str(weights))
    from safetensors.torch import load_file

    saved = load_file(str(weights))
    for key, value in restorer.module().state_dict().items():
        assert torch.equal(value, saved[key])


def test_train_refuses_crops_the_network_cannot_take(tmp_path: Path) -> None:
    from harness.errors import HarnessError

    config = TrainConfig(method=Tiny.name, variant="w4", steps=1, crop=30)
    with pytest.raises(HarnessError, match="divisible by 4"):
        Tiny.train(config, tmp_path / "run", Path("unused"), progress=False)
