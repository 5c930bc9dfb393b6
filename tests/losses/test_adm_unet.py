"""The clean-room ADM U-Net: the official 256x256 uncond key list and size, the official forward
on a tiny configuration, strict and safe loading."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from harness.checkpoints import CheckpointMismatchError
from harness.errors import MissingFileError
from harness.losses.adm_unet import ADM_256_UNCOND, ADMConfig, ADMUNet, parameter_count
from harness.losses.diffloss import load_adm
from tests.losses.tiny import TINY, tiny_adm

KEYS_FILE = Path(__file__).parent / "data" / "adm_256_uncond_keys.txt"
OFFICIAL_PARAMS = 552_814_086
"""sum(p.numel() for p in m.parameters()) of the official model (header of KEYS_FILE)."""


def _official_keys() -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    for line in KEYS_FILE.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, shape = line.split()
        rows.append((name, tuple(int(s) for s in shape.split("x"))))
    return rows


def test_full_size_keys_and_shapes_are_the_official_checkpoints() -> None:
    with torch.device("meta"):
        model = ADMUNet(ADM_256_UNCOND)
    ours = sorted((k, tuple(v.shape)) for k, v in model.state_dict().items())
    official = _official_keys()
    assert len(official) == 566
    assert ours == official


def test_full_size_parameter_count_is_the_official_one() -> None:
    with torch.device("meta"):
        model = ADMUNet(ADM_256_UNCOND)
    assert parameter_count(model) == OFFICIAL_PARAMS
    assert f"= {OFFICIAL_PARAMS}" in KEYS_FILE.read_text()


# Upstream run once, outside the repo: openai/guided-diffusion commit 22e0df8, guided_diffusion/
# unet.py UNetModel(image_size=16, in_channels=3, model_channels=32, out_channels=6,
# num_res_blocks=1, attention_resolutions=(2,), dropout=0.0, channel_mult=(1, 2),
# num_head_channels=32, use_scale_shift_norm=True, resblock_updown=True, use_fp16=False).eval();
# weights: for k in sorted(state_dict): 0.2 * torch.randn(shape, generator=Generator().manual_seed(0))
# drawn in that order; x = torch.randn((2, 3, 16, 16), generator=manual_seed(1)); t = [3, 700];
# h = middle_block's output (forward hook); sums in float64; torch threads 1.
UPSTREAM_OUT_SUM, UPSTREAM_OUT_ABS = 266.7160944065545, 1339.19731606415
UPSTREAM_H_SUM, UPSTREAM_H_ABS = -14007.708206888288, 61114.209467772394
UPSTREAM_OUT_1_5_7 = [0.43263325, -0.70971280, -0.57299358, 0.30094612, 0.24696954, 0.59373498]
UPSTREAM_H_0_1_2 = [7.36754036, -10.57173157, 9.74139118, -3.23016071]


def test_forward_matches_the_official_unet_on_a_tiny_configuration() -> None:
    assert TINY == ADMConfig(
        model_channels=32,
        channel_mult=(1, 2),
        num_res_blocks=1,
        attention_ds=(2,),
        num_head_channels=32,
    )
    model = ADMUNet(TINY).eval()
    state = model.state_dict()
    gen = torch.Generator().manual_seed(0)
    model.load_state_dict(
        {k: 0.2 * torch.randn(state[k].shape, generator=gen) for k in sorted(state)}
    )
    x = torch.randn((2, 3, 16, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out, h = model(x, torch.tensor([3, 700]))
    assert out.shape == (2, 6, 16, 16) and h.shape == (2, 64, 8, 8)
    assert out.double().sum().item() == pytest.approx(UPSTREAM_OUT_SUM, rel=1e-5)
    assert out.double().abs().sum().item() == pytest.approx(UPSTREAM_OUT_ABS, rel=1e-6)
    assert h.double().sum().item() == pytest.approx(UPSTREAM_H_SUM, rel=1e-6)
    assert h.double().abs().sum().item() == pytest.approx(UPSTREAM_H_ABS, rel=1e-6)
    assert out[1, :, 5, 7].tolist() == pytest.approx(UPSTREAM_OUT_1_5_7, abs=2e-5)
    assert h[0, :4, 1, 2].tolist() == pytest.approx(UPSTREAM_H_0_1_2, abs=2e-5)


def test_load_is_strict_frozen_and_exact(tiny_adm_file: Path) -> None:
    adm, sha = load_adm(tiny_adm_file, TINY)
    reference = tiny_adm()
    for key, value in reference.state_dict().items():
        assert torch.equal(adm.state_dict()[key], value), key
    assert not adm.training
    assert all(not p.requires_grad for p in adm.parameters())
    assert sha == hashlib.sha256(tiny_adm_file.read_bytes()).hexdigest()


def test_half_precision_file_is_cast_to_float32(tmp_path: Path) -> None:
    state = {k: v.half() for k, v in tiny_adm().state_dict().items()}
    path = tmp_path / "half.pt"
    torch.save(state, path)
    adm, _ = load_adm(path, TINY)
    for key, value in adm.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, state[key].float()), key


def test_a_file_of_another_architecture_is_refused(tmp_path: Path) -> None:
    state = tiny_adm().state_dict()
    state.pop("out.2.bias")
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError, match=r"1 missing key\(s\) \[out\.2\.bias\]"):
        load_adm(path, TINY)
    other = ADMConfig(**{**TINY.__dict__, "num_res_blocks": 2})
    torch.save(tiny_adm().state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match="missing key"):
        load_adm(path, other)


def test_missing_file_names_it_and_its_source(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "256x256_diffusion_uncond.pt"
    with pytest.raises(MissingFileError) as err:
        load_adm(path)
    text = str(err.value)
    assert str(path) in text
    assert "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/" in text
    assert "none is published" in text


def test_input_size_must_be_a_multiple_of_the_downsampling() -> None:
    model = tiny_adm()
    assert TINY.size_multiple == 2 and ADM_256_UNCOND.size_multiple == 32
    with pytest.raises(ValueError, match="multiple of 2"):
        model(torch.zeros(1, 3, 15, 16), torch.tensor([0]))
