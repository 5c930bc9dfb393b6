"""The protocol registry: exact names, signatures, JSON round trip, validation."""

from __future__ import annotations

import pydantic
import pytest

from harness.errors import UnknownNameError
from harness.metrics import METRIC_HIGHER_IS_BETTER, get_protocol, protocol_names
from harness.metrics.protocols import Protocol, protocol_summaries

SHARED_NAMES = [
    "diffuir-online",
    "diffuir-sots",
    "diffuir-udc",
    "basicsr-y",
    "basicsr-rgb",
    "matlab",
    "skimage-rgb",
    "official-crop16-skimage",
    "nr-niqe",
    "nr-niqe-loe",
    "nr-niqe-diffuir",
    "nr-niqe-diffuir-loe",
]


def test_registry_has_exactly_the_shared_names() -> None:
    assert sorted(protocol_names()) == sorted(SHARED_NAMES)


def test_unknown_protocol_suggests_a_close_name() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_protocol("diffuir-onlin")
    assert info.value.exit_code == 2
    assert "diffuir-online" in str(info.value)


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_json_round_trip_and_frozen(name: str) -> None:
    proto = get_protocol(name)
    again = Protocol.model_validate_json(proto.model_dump_json())
    assert again == proto
    assert again.signature == proto.signature
    with pytest.raises(pydantic.ValidationError):
        proto.crop_border = 4  # type: ignore[misc]


def test_signatures_are_distinct_and_state_the_convention() -> None:
    sigs = {p["name"]: p["signature"] for p in protocol_summaries()}
    assert len(set(sigs.values())) == len(sigs)
    assert sigs["diffuir-online"] == (
        "psnr+ssim:y-bt601-float|q:round-even|crop:0|ssim:gauss11-replicate-full"
    )
    assert "q:jpeg75" in sigs["diffuir-sots"] and "gt:matlab-bicubic" in sigs["diffuir-sots"]
    assert "range:1" in sigs["skimage-rgb"]
    assert sigs["nr-niqe"] == "niqe:y-matlab-rgb2ycbcr|q:round-even|crop:0|niqe:mittal2013-96px"
    assert sigs["nr-niqe-diffuir"] == (
        "niqe:y-bt601-float32|q:floor-half-up|crop:0|niqe:basicsr-f32-linear-96px"
    )


def test_summaries_rows_have_the_listing_keys() -> None:
    for row in protocol_summaries():
        assert set(row) == {"name", "summary", "signature", "metrics"}
        assert row["summary"]


def test_metric_direction_table() -> None:
    assert METRIC_HIGHER_IS_BETTER["psnr"] and METRIC_HIGHER_IS_BETTER["ssim"]
    assert not METRIC_HIGHER_IS_BETTER["niqe"] and not METRIC_HIGHER_IS_BETTER["loe"]


@pytest.mark.parametrize(
    "fields",
    [
        {"metrics": ("psnr", "ssim")},  # ssim without a variant
        {"metrics": ("psnr",), "ssim": "gauss11-valid"},  # variant without ssim
        {"metrics": ("niqe",)},  # niqe without a variant
        {"metrics": ("psnr",), "niqe": "mittal2013-96px"},  # variant without niqe
        {"metrics": ("psnr",), "quantize": "jpeg"},  # jpeg without quality
        {"metrics": ("psnr",), "data_range": 2.0},
        {"metrics": ()},
        {"metrics": ("psnr",), "colour": "rgb"},  # unknown field
    ],
)
def test_inconsistent_protocols_are_rejected(fields: dict) -> None:
    with pytest.raises(pydantic.ValidationError):
        Protocol(name="x", summary="x", **fields)


def test_custom_pooled_and_cropped_signature() -> None:
    p = Protocol(name="x", summary="x", metrics=("psnr",), crop_border=4, aggregation="pooled-mse")
    assert p.signature == "psnr:rgb|q:round-even|crop:4|agg:pooled-mse"
