"""The shared key-file parser: every shipped key file agrees with its header; bad files fail."""

from __future__ import annotations

import math

import pytest
import torch

from tests.baselines import keyfiles
from tests.baselines.keyfiles import DATA, KeyEntry, read_key_file

NAMES = sorted(p.stem for p in DATA.glob("*.txt"))


def test_every_baseline_key_file_is_shipped():
    assert NAMES == [
        "adair",
        "airnet_all",
        "instructir_7d_image",
        "instructir_7d_lmhead",
        "mprnet_deblurring",
        "mprnet_deraining",
        "nafnet_gopro_width64",
        "perceive_ir",
        "promptir",
        "restormer",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_entries_add_up_to_the_header_totals(name: str) -> None:
    parsed = read_key_file(name)
    assert len(parsed.entries) == parsed.declared_entries
    assert sum(math.prod(e.shape) for e in parsed.entries) == parsed.declared_elements
    assert len({e.key for e in parsed.entries}) == len(parsed.entries)


def test_lines_become_typed_entries(tmp_path, monkeypatch) -> None:
    (tmp_path / "tiny.txt").write_text(
        "# Tiny net\n# 3 entries, 7 elements (parameters + buffers) in state_dict order\n"
        "# key\tshape\tdtype\nconv.weight\t[2, 1, 1, 3]\tfloat32\n\n"
        "bn.num_batches_tracked\t[]\tint64\nhead.bias\t[1]\tfloat32\n"
    )
    monkeypatch.setattr(keyfiles, "DATA", tmp_path)
    parsed = read_key_file("tiny")
    assert parsed.entries == (
        KeyEntry("conv.weight", (2, 1, 1, 3), torch.float32),
        KeyEntry("bn.num_batches_tracked", (), torch.int64),
        KeyEntry("head.bias", (1,), torch.float32),
    )
    assert (parsed.declared_entries, parsed.declared_elements) == (3, 7)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("# key\tshape\tdtype\nconv.weight\t[2]\tfloat32\n", "header"),
        ("# 1 entries, 2 elements\nconv.weight\t[2]\tnn\n", "unknown dtype 'nn'"),
    ],
)
def test_bad_key_files_fail_naming_the_file(tmp_path, monkeypatch, text, needle) -> None:
    (tmp_path / "bad.txt").write_text(text)
    monkeypatch.setattr(keyfiles, "DATA", tmp_path)
    with pytest.raises(ValueError, match=needle) as err:
        read_key_file("bad")
    assert str(tmp_path / "bad.txt") in str(err.value)
