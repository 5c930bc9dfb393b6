"""Key files of official checkpoints (``data/<name>.txt``): the one parser the baseline tests share.

A key file was generated from an official architecture (the project's shared
``baseline_keys/``). It starts with ``#`` header lines, one of them ``# N entries, M elements
...``, followed by one ``key<TAB>[d0, d1, ...]<TAB>dtype`` line per state_dict entry, in
state_dict order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"

_HEADER = re.compile(r"^# (\d+) entries, (\d+) elements")
_DTYPES = {"float32": torch.float32, "int64": torch.int64}


@dataclass(frozen=True)
class KeyEntry:
    """One state_dict entry of an official architecture."""

    key: str
    shape: tuple[int, ...]
    dtype: torch.dtype


@dataclass(frozen=True)
class KeyFile:
    """A parsed key file: its entries in state_dict order and the totals its header declares."""

    entries: tuple[KeyEntry, ...]
    declared_entries: int
    declared_elements: int


def read_key_file(name: str) -> KeyFile:
    """Parse ``data/<name>.txt``; a missing header or an unknown dtype fails naming the file."""
    path = DATA / f"{name}.txt"
    entries: list[KeyEntry] = []
    declared: tuple[int, int] | None = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("#"):
            if match := _HEADER.match(line):
                declared = (int(match[1]), int(match[2]))
            continue
        if not line:
            continue
        key, shape, dtype = line.split("\t")
        if dtype not in _DTYPES:
            raise ValueError(f"{path}:{number}: unknown dtype {dtype!r}")
        dims = tuple(int(d) for d in shape.strip("[]").split(",") if d.strip())
        entries.append(KeyEntry(key, dims, _DTYPES[dtype]))
    if declared is None:
        raise ValueError(f"{path}: no '# N entries, M elements' header")
    return KeyFile(tuple(entries), *declared)
