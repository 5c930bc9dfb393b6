"""Audit of every metric protocol against the code its summary names, on real photographs
(the table in docs/protocols.md reports what each test here asserts).

Images: one degraded/clean pair per task of the embedded mini suite (scikit-image sample
photographs, 256x256). Each pair is scored twice: restored = the degraded input (uint8, as read
from disk) and restored = ``_blend``, a float32 image in [0, 1] (0.75 target + 0.25 input) that
goes through each protocol's quantisation; its x*255 values sit on quarter steps, so many pixels
are near round-half ties.

Expected values are of two kinds. UPSTREAM numbers were printed by the upstream code itself, run
once outside this repository on these very images (the recipe, files, patches and command are in
docs/protocols.md, "How the upstream numbers were produced"):

* DiffUIR   github.com/iSEE-Laboratory/DiffUIR  c71437ce86ad1b098aa9be4678dc82e8b99649df
* BasicSR   github.com/XPixelGroup/BasicSR      8d56e3a045f9fb3e1d8872f92ee4a4f07f886b0a
* PromptIR  github.com/va1shn9v/PromptIR        106159ab809101f2e25b6714195cd6fa9a938d36
  (AdaIR c-yn/AdaIR ccb8b98 has the same compute_psnr_ssim and crop_img)

The others are computed here: scikit-image (an independent library), torchvision's save_image
(DiffUIR's own save path) and the plain re-implementations in tests/metrics/reference.py of MATLAB
code that cannot run here (SOTS.m, psnr/ssim/rgb2gray/rgb2ycbcr/imresize, LOE).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torchvision.utils import save_image

from harness.metrics import get_protocol
from harness.metrics.compute import score_batch, score_image
from harness.metrics.protocols import OPTIONAL_PROTOCOLS, PROTOCOLS
from harness.metrics.quantize import quantize
from tests.metrics.reference import (
    gray_matlab,
    imresize_loop,
    loe_ref,
    psnr_ref,
    ssim_replicate_full,
    ssim_valid,
    y_bt601,
    y_matlab,
)

REPO = Path(__file__).resolve().parents[2]
EMBEDDED = REPO / "manifests" / "embedded"
BABOON = Path(__file__).with_name("data") / "baboon.png"
PROTOCOLS_DOC = REPO / "docs" / "protocols.md"
PAIRS = {
    "astronaut": "mini-deblur",
    "chelsea": "mini-dehaze",
    "coffee": "mini-derain",
    "motorcycle": "mini-desnow",
    "rocket": "mini-lowlight",
}
VARIANTS = ("input", "blend")

#: Protocols audited by another test file (added in parallel; the merger checks the row).
AUDITED_ELSEWHERE = {
    "nr-niqe-diffuir": "tests/metrics/test_niqe_diffuir.py",
    "nr-niqe-diffuir-loe": "tests/metrics/test_niqe_diffuir.py",
}

# (PSNR, SSIM) printed by the upstream code (see the module docstring) for restored = degraded
# input and restored = _blend, against the target:
# - diffuir-*: tensor2img (src/model.py) then metrics/psnr_ssim.py calculate_psnr/calculate_ssim
#   with crop_border=0, test_y_channel=True (online, src/model.py Trainer.test) / False (UDC,
#   src/model_udc.py Trainer.test; _ssim_3d run on the CPU in float32, '.cuda()' removed).
# - basicsr-*: basicsr/utils/img_util.py tensor2img then basicsr/metrics/psnr_ssim.py
#   calculate_psnr/calculate_ssim with crop_border=0, test_y_channel=True / False.
# - skimage-rgb: PromptIR utils/val_utils.py compute_psnr_ssim on [1,3,H,W] float32 tensors
#   (multichannel=True -> channel_axis=-1: scikit-image 0.26 rejects the removed argument).
# - official-crop16-skimage: the same after utils/image_utils.py crop_img(base=16) of a 249x253
#   crop (rows 3:252, columns 1:254) of each pair, as PromptIR test.py loads its test sets.
UPSTREAM: dict[str, dict[str, tuple[float, float]]] = {
    "diffuir-online": {
        "astronaut/input": (24.746456146240234, 0.7834856901091931),
        "astronaut/blend": (36.780086517333984, 0.9868072523138771),
        "chelsea/input": (12.941332817077637, 0.7518469493906852),
        "chelsea/blend": (24.981731414794922, 0.9806917017168713),
        "coffee/input": (19.7081356048584, 0.6172870380723018),
        "coffee/blend": (31.748048782348633, 0.884019830831329),
        "motorcycle/input": (24.375944137573242, 0.8259201442486521),
        "motorcycle/blend": (36.3909912109375, 0.9678328963600173),
        "rocket/input": (12.703384399414062, 0.4575863334688173),
        "rocket/blend": (24.744171142578125, 0.9735234895720458),
    },
    "diffuir-udc": {
        "astronaut/input": (23.313181010669368, 0.8500036597251892),
        "astronaut/blend": (35.33559077876933, 0.9882021546363831),
        "chelsea/input": (10.88914064144609, 0.5782719254493713),
        "chelsea/blend": (22.92926807899392, 0.9644989371299744),
        "coffee/input": (17.916654513034974, 0.8550967574119568),
        "coffee/blend": (29.955569732069655, 0.9752054810523987),
        "motorcycle/input": (22.978699401153925, 0.8509960174560547),
        "motorcycle/blend": (34.983102174811414, 0.9754441380500793),
        "rocket/input": (10.645609392776283, 0.13960114121437073),
        "rocket/blend": (22.685904317037327, 0.9506585597991943),
    },
    "basicsr-y": {
        "astronaut/input": (24.746455417166047, 0.7853861095551371),
        "astronaut/blend": (36.78008667204167, 0.9868497777379579),
        "chelsea/input": (12.941334164966419, 0.7502088476619129),
        "chelsea/blend": (24.98173187454887, 0.9804964906065947),
        "coffee/input": (19.70813509352, 0.6109090296099539),
        "coffee/blend": (31.748050183453053, 0.8823119410326923),
        "motorcycle/input": (24.375943314187438, 0.827980506792762),
        "motorcycle/blend": (36.39099200923497, 0.9685832528580554),
        "rocket/input": (12.703384606709418, 0.45583882727632263),
        "rocket/blend": (24.744173211812317, 0.9734371273138503),
    },
    "basicsr-rgb": {
        "astronaut/input": (23.313181010669368, 0.7374921780832827),
        "astronaut/blend": (35.33559077876933, 0.9800526618469086),
        "chelsea/input": (10.889140641446089, 0.6795146137623479),
        "chelsea/blend": (22.92926807899392, 0.9588314143354316),
        "coffee/input": (17.916654513034974, 0.5964902876242234),
        "coffee/blend": (29.955569732069655, 0.8502968812993447),
        "motorcycle/input": (22.978699401153925, 0.8150948898371144),
        "motorcycle/blend": (34.983102174811414, 0.9625014538570174),
        "rocket/input": (10.645609392776285, 0.21354851646899678),
        "rocket/blend": (22.685904317037327, 0.9591522429652665),
    },
    "skimage-rgb": {
        "astronaut/input": (23.313180805348587, 0.7392075657844543),
        "astronaut/blend": (35.354379513401014, 0.9807698130607605),
        "chelsea/input": (10.889140340582209, 0.6656572818756104),
        "chelsea/blend": (22.930341518132238, 0.9604289531707764),
        "coffee/input": (17.916654215298262, 0.5841754078865051),
        "coffee/blend": (29.957854700842912, 0.8402726054191589),
        "motorcycle/input": (22.978699236365866, 0.7961411476135254),
        "motorcycle/blend": (35.01990176633741, 0.9591083526611328),
        "rocket/input": (10.645609024225877, 0.21061713993549347),
        "rocket/blend": (22.686808514699905, 0.9597758650779724),
    },
    "official-crop16-skimage": {
        "astronaut/input": (23.377441937657398, 0.7396573424339294),
        "astronaut/blend": (35.41864063133581, 0.9803619980812073),
        "chelsea/input": (10.811529432665072, 0.66059410572052),
        "chelsea/blend": (22.85273060561018, 0.9591991901397705),
        "coffee/input": (17.81124123580456, 0.5707408785820007),
        "coffee/blend": (29.85244172271754, 0.8349952101707458),
        "motorcycle/input": (23.014321720101087, 0.8022816777229309),
        "motorcycle/blend": (35.05552419690547, 0.9616863131523132),
        "rocket/input": (10.584877793611188, 0.21131421625614166),
        "rocket/blend": (22.62607725087957, 0.9597640037536621),
    },
}

# DiffUIR metrics/psnr_ssim.py calculate_ssim (test_y_channel=False) with _ssim_3d patched to
# float64 (the Conv3d and both images '.double()' instead of '.float()'): the same formula
# without upstream's float32 rounding.
UPSTREAM_UDC_SSIM_FLOAT64 = {
    "astronaut/input": 0.84995426435272,
    "astronaut/blend": 0.9881625019461294,
    "chelsea/input": 0.5782566928371632,
    "chelsea/blend": 0.9644887501222869,
    "coffee/input": 0.8550951165864943,
    "coffee/blend": 0.9752048308207777,
    "motorcycle/input": 0.8509805656692394,
    "motorcycle/blend": 0.9754227053754096,
    "rocket/input": 0.1395995084842153,
    "rocket/blend": 0.950651968638761,
}

# BasicSR basicsr/metrics/niqe.py, a Python port of MATLAB niqe, on tensor2img of the restored
# image: calculate_niqe(img_bgr, crop_border=0, input_order='HWC', convert_to='y') as shipped
# (it casts to float32 first), and niqe(luma, mu, cov, window) fed the same rounded luma as
# float64 (to_y_channel(...).round() in float64; pristine parameters from niqe_pris_params.npz).
UPSTREAM_NIQE = {
    "baboon": 5.729572592446565,
    "astronaut/input": 11.66162732368268,
    "astronaut/blend": 7.115469293029942,
    "chelsea/input": 6.650743082250574,
    "chelsea/blend": 4.739731755693404,
    "coffee/input": 17.752933413546423,
    "coffee/blend": 10.52308468615672,
    "motorcycle/input": 8.465274868426649,
    "motorcycle/blend": 5.320806993747458,
    "rocket/input": 11.986124123262819,
    "rocket/blend": 13.254961453663642,
}
UPSTREAM_NIQE_FLOAT64 = {
    "baboon": 5.729962322050528,
    "astronaut/input": 11.661800772835518,
    "astronaut/blend": 7.114702890662826,
    "chelsea/input": 6.6521703364717375,
    "chelsea/blend": 4.739687908261963,
    "coffee/input": 17.75295238510759,
    "coffee/blend": 10.52307843518558,
    "motorcycle/input": 8.465271485018498,
    "motorcycle/blend": 5.320825630351111,
    "rocket/input": 11.986123368438488,
    "rocket/blend": 13.256454222598208,
}


@cache
def _pair(stem: str) -> tuple[np.ndarray, np.ndarray]:
    """(target, degraded) uint8 RGB of one embedded mini pair."""
    suite = EMBEDDED / PAIRS[stem]
    images = (Image.open(suite / role / f"{stem}-00.png") for role in ("target", "input"))
    return tuple(np.asarray(im.convert("RGB")) for im in images)  # type: ignore[return-value]


def _blend(target: np.ndarray, degraded: np.ndarray) -> np.ndarray:
    """A realistic float32 'restored' image in [0, 1], the same bits as the upstream runs saw."""
    t, d = target.astype(np.float32), degraded.astype(np.float32)
    return (0.75 * t + 0.25 * d) / np.float32(255.0)


def _cases(stem: str, crop: tuple[slice, slice] | None = None):
    """(key, restored, target) for both restored variants of one pair."""
    target, degraded = _pair(stem)
    if crop is not None:
        target, degraded = target[crop], degraded[crop]
    for variant, restored in zip(VARIANTS, (degraded, _blend(target, degraded)), strict=True):
        yield f"{stem}/{variant}", restored, target


def _round_even(x: np.ndarray) -> np.ndarray:
    """tensor2img (BasicSR, DiffUIR): clamp, float32 x * 255, numpy round half to even."""
    return np.round(np.clip(x, 0, 1) * np.float32(255.0)).astype(np.uint8)


def _saved(x: np.ndarray, path: Path) -> np.ndarray:
    """What torchvision save_image writes for a float RGB image (PNG, or JPEG at PIL's default
    quality 75 for .jpg), read back; uint8 images are already what a file holds."""
    if x.dtype == np.uint8:
        return x
    save_image(torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1), path)
    return np.asarray(Image.open(path).convert("RGB"))


def _scores(name: str, restored: np.ndarray, target: np.ndarray | None, degraded=None):
    return score_image(get_protocol(name), restored, target, degraded, name="audit")


def _assert_upstream(name: str, stem: str, psnr_tol: float, ssim_tol: float, crop=None) -> None:
    for key, restored, target in _cases(stem, crop):
        got = _scores(name, restored, target)
        psnr, ssim = UPSTREAM[name][key]
        assert got["psnr"] == pytest.approx(psnr, abs=psnr_tol), key
        assert got["ssim"] == pytest.approx(ssim, abs=ssim_tol), key


@pytest.mark.parametrize("stem", PAIRS)
def test_diffuir_online(stem: str) -> None:
    # Upstream to_y_channel returns float32 luma and calculate_psnr stays in float32 (the PSNR
    # itself is a float32: ~2e-6 dB at 36 dB); the harness is float64. Measured worst: 2.2e-6 dB,
    # 2.3e-8 SSIM.
    _assert_upstream("diffuir-online", stem, psnr_tol=5e-6, ssim_tol=5e-8)
    for key, restored, target in _cases(stem):  # the same formula in float64, written here
        got = _scores("diffuir-online", restored, target)
        y1, y2 = (
            y_bt601(_round_even(restored) if key.endswith("blend") else restored),
            y_bt601(target),
        )
        assert got["psnr"] == pytest.approx(psnr_ref(y1, y2), abs=1e-9), key
        assert got["ssim"] == pytest.approx(ssim_replicate_full(y1, y2), abs=1e-10), key


@pytest.mark.parametrize("stem", PAIRS)
def test_diffuir_udc(stem: str) -> None:
    # PSNR: float64 RGB in both. SSIM: upstream's 3-D SSIM runs in float32 (sigma = E[x^2] -
    # mu^2 on the 0..255 scale loses ~1e-3 absolute per pixel), the harness in float64; measured
    # worst 4.9e-5. The same upstream function in float64 agrees to 1e-10.
    _assert_upstream("diffuir-udc", stem, psnr_tol=1e-10, ssim_tol=1e-4)
    for key, restored, target in _cases(stem):
        got = _scores("diffuir-udc", restored, target)
        assert got["ssim"] == pytest.approx(UPSTREAM_UDC_SSIM_FLOAT64[key], abs=1e-10), key


@pytest.mark.parametrize("stem", PAIRS)
def test_basicsr_y(stem: str) -> None:
    # Upstream's luma is float32 (to_y_channel), then float64; measured worst 3.3e-7 dB, 2.3e-8.
    _assert_upstream("basicsr-y", stem, psnr_tol=1e-6, ssim_tol=5e-8)
    for key, restored, target in _cases(stem):
        got = _scores("basicsr-y", restored, target)
        y1, y2 = (
            y_bt601(_round_even(restored) if key.endswith("blend") else restored),
            y_bt601(target),
        )
        assert got["psnr"] == pytest.approx(psnr_ref(y1, y2), abs=1e-9), key
        assert got["ssim"] == pytest.approx(ssim_valid(y1, y2), abs=1e-10), key


@pytest.mark.parametrize("stem", PAIRS)
def test_basicsr_rgb(stem: str) -> None:
    # The same float64 computation on the same uint8 images: agreement to rounding (measured
    # worst: 0 dB, 7e-15).
    _assert_upstream("basicsr-rgb", stem, psnr_tol=1e-10, ssim_tol=1e-12)


def _skimage64(restored: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """scikit-image defaults on float64 [0, 1] RGB (what upstream calls, without its float32)."""
    gt = target / 255.0
    out = restored / 255.0 if restored.dtype == np.uint8 else np.clip(restored, 0, 1)
    out = out.astype(np.float64)
    return (
        peak_signal_noise_ratio(gt, out, data_range=1),
        structural_similarity(gt, out, data_range=1, channel_axis=2),
    )


# Upstream hands scikit-image float32 tensors, which it then computes in float32; the harness is
# float64. Measured worst: 2.4e-6 dB, 1.1e-6 SSIM. scikit-image in float64 agrees to rounding.
SKIMAGE_UPSTREAM_TOL = {"psnr_tol": 5e-6, "ssim_tol": 2e-6}


@pytest.mark.parametrize("stem", PAIRS)
def test_skimage_rgb(stem: str) -> None:
    _assert_upstream("skimage-rgb", stem, **SKIMAGE_UPSTREAM_TOL)
    for key, restored, target in _cases(stem):
        got = _scores("skimage-rgb", restored, target)
        psnr, ssim = _skimage64(restored, target)
        assert got["psnr"] == pytest.approx(psnr, abs=1e-9), key
        assert got["ssim"] == pytest.approx(ssim, abs=1e-10), key


CROP_249x253 = (slice(3, 252), slice(1, 254))
# crop_img(base=16) of 249x253 by hand: 249 % 16 = 9 -> rows 4:244; 253 % 16 = 13 -> cols 6:246
CROP16_OF_249x253 = (slice(4, 244), slice(6, 246))


@pytest.mark.parametrize("stem", PAIRS)
def test_official_crop16_skimage(stem: str) -> None:
    _assert_upstream("official-crop16-skimage", stem, crop=CROP_249x253, **SKIMAGE_UPSTREAM_TOL)
    for key, restored, target in _cases(stem, CROP_249x253):
        got = _scores("official-crop16-skimage", restored, target)
        psnr, ssim = _skimage64(restored[CROP16_OF_249x253], target[CROP16_OF_249x253])
        assert got["psnr"] == pytest.approx(psnr, abs=1e-9), key
        assert got["ssim"] == pytest.approx(ssim, abs=1e-10), key


def _sots_reference(restored: np.ndarray, target: np.ndarray, tmp: Path) -> tuple[float, float]:
    """DiffUIR's SOTS path: save_image to .jpg (src/model.py Trainer.test), then eval/SOTS.m:
    imread, gt = imresize(gt, [M, N]), rgb2ycbcr luma, compute_psnr and SSIM_index ('valid')."""
    out = _saved(restored, tmp / "restored.jpg")
    m, n = out.shape[:2]
    gt = target if target.shape[:2] == (m, n) else imresize_loop(target, m, n)
    y1, y2 = y_matlab(out), y_matlab(gt)
    return psnr_ref(y1, y2), ssim_valid(y1, y2)


@pytest.mark.parametrize("stem", PAIRS)
def test_diffuir_sots(stem: str, tmp_path: Path) -> None:
    # Independent re-implementation of eval/SOTS.m (MATLAB cannot run here); JPEG by torchvision
    # and PIL as DiffUIR writes it, decoded by PIL (MATLAB's decoder may differ). Measured worst:
    # 1e-14 dB, 1e-16.
    for key, restored, target in _cases(stem):
        got = _scores("diffuir-sots", restored, target)
        if key.endswith("blend"):  # the pixels scored are those torchvision's JPEG file holds
            jpeg = quantize(restored, "jpeg", get_protocol("diffuir-sots").jpeg_quality)
            np.testing.assert_array_equal(jpeg, _saved(restored, tmp_path / "restored.jpg"))
        psnr, ssim = _sots_reference(restored, target, tmp_path)
        assert got["psnr"] == pytest.approx(psnr, abs=1e-9), key
        assert got["ssim"] == pytest.approx(ssim, abs=1e-10), key


def test_diffuir_sots_resizes_a_larger_ground_truth(tmp_path: Path) -> None:
    # SOTS-indoor-like: the ground truth is larger than the output and imresize'd down to it.
    target, degraded = _pair("chelsea")
    crop = (slice(64, 192), slice(64, 192))
    path = tmp_path / "gt.png"
    Image.fromarray(target[crop]).resize((134, 138), Image.Resampling.BICUBIC).save(path)
    gt = np.asarray(Image.open(path).convert("RGB"))
    assert gt.shape == (138, 134, 3)
    for restored in (degraded[crop], _blend(target[crop], degraded[crop])):
        got = _scores("diffuir-sots", restored, gt)
        psnr, ssim = _sots_reference(restored, gt, tmp_path)
        assert got["psnr"] == pytest.approx(psnr, abs=1e-9)
        assert got["ssim"] == pytest.approx(ssim, abs=1e-10)


@pytest.mark.parametrize("stem", PAIRS)
def test_matlab(stem: str, tmp_path: Path) -> None:
    # Independent re-implementation of MATLAB psnr(A, ref) and ssim(A, ref) (Gaussian sigma 1.5,
    # 11x11, replicate padding, mean of the full map) on rgb2gray'd uint8 images; float outputs
    # written as torchvision save_image writes a PNG. Measured worst: 1e-14 dB, 1e-16.
    for key, restored, target in _cases(stem):
        got = _scores("matlab", restored, target)
        g1, g2 = gray_matlab(_saved(restored, tmp_path / "restored.png")), gray_matlab(target)
        assert got["psnr"] == pytest.approx(psnr_ref(g1, g2), abs=1e-9), key
        assert got["ssim"] == pytest.approx(ssim_replicate_full(g1, g2), abs=1e-10), key


# NIQE is ill-conditioned: in flat 7x7 windows the MSCN coefficient (x - mu)/(sigma + 1) is
# +-1e-14, its sign set by the filter's rounding, and it still counts in the AGGD fit's left or
# right side; a single luma tie rounded the other way moves it by 2e-4; upstream as shipped is
# float32 throughout. Measured worst against BasicSR's port: 1.5e-3 (as shipped) and 1.2e-3 (fed
# float64). The MATLAB value itself is checked in test_niqe_loe.py (baboon: 1.4e-4, tol 3e-4).
NIQE_TOL = 2e-3


@pytest.mark.parametrize("stem", [*PAIRS, "baboon"])
def test_nr_niqe(stem: str) -> None:
    if stem == "baboon":
        cases = [("baboon", np.asarray(Image.open(BABOON).convert("RGB")))]
    else:
        cases = [(key, restored) for key, restored, _ in _cases(stem)]
    for key, restored in cases:
        got = _scores("nr-niqe", restored, None)["niqe"]
        assert got == pytest.approx(UPSTREAM_NIQE[key], abs=NIQE_TOL), key
        assert got == pytest.approx(UPSTREAM_NIQE_FLOAT64[key], abs=NIQE_TOL), key


@pytest.mark.parametrize("stem", PAIRS)
def test_nr_niqe_loe(stem: str) -> None:
    # NIQE as nr-niqe (audited above); LOE against the brute-force reference of LOE.m (Wang et
    # al. 2013: MATLAB imresize to a 50-pixel short side, pairwise order disagreements).
    target, degraded = _pair(stem)
    for enhanced in (target, _blend(target, degraded)):
        got = _scores("nr-niqe-loe", enhanced, None, degraded)
        assert got["niqe"] == _scores("nr-niqe", enhanced, None)["niqe"]
        expected = loe_ref(
            degraded, _round_even(enhanced) if enhanced.dtype != np.uint8 else enhanced
        )
        assert got["loe"] == pytest.approx(expected, abs=1e-12)
        assert got["loe"] > 0


@pytest.mark.parametrize("name", [p for p in PROTOCOLS if p not in AUDITED_ELSEWHERE])
def test_score_batch_equals_score_image(name: str) -> None:
    # The runner scores [B,3,H,W] tensors (score_batch); on the CPU it must give the audited numbers.
    stems = ("chelsea", "rocket")
    pairs = [_pair(s) for s in stems]
    restored = torch.stack([torch.from_numpy(_blend(t, d)).permute(2, 0, 1) for t, d in pairs])
    target = torch.stack(
        [torch.from_numpy(t.copy()).permute(2, 0, 1).float() / 255 for t, _ in pairs]
    )
    degraded = torch.stack(
        [torch.from_numpy(d.copy()).permute(2, 0, 1).float() / 255 for _, d in pairs]
    )
    batch = score_batch(get_protocol(name), restored, target, degraded)
    for row, (t, d) in zip(batch, pairs, strict=True):
        assert row == _scores(name, _blend(t, d), t, d)


def test_every_protocol_has_a_row_and_an_audit() -> None:
    doc = PROTOCOLS_DOC.read_text()
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", doc, flags=re.MULTILINE))
    audited = {n[len("test_") :].replace("_", "-") for n in globals() if n.startswith("test_")}
    for name in PROTOCOLS:
        assert name in rows, f"docs/protocols.md has no row for {name}"
        assert name in audited or name in AUDITED_ELSEWHERE, f"no audit test for {name}"
    for name in OPTIONAL_PROTOCOLS:
        assert name in rows, f"docs/protocols.md has no row for {name}"
    for name, test in AUDITED_ELSEWHERE.items():
        assert name in rows and test in doc
