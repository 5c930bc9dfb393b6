"""Adversarial ``harness weights add``: a file is checked as loading would check it, then recorded.

Every test makes its own files: pickles that need code, files that are no checkpoint, checkpoints
of another method or variant, clashing names and file names; and ``--weights`` handed to methods
that load no weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file
from typer.testing import CliRunner

from harness.checkpoints import ChecksumMismatchError, UnsafeCheckpointError
from harness.cli import app
from harness.errors import HarnessError
from harness.hashing import sha256_file
from harness.registry import create_method
from harness.weights import resolve_weights, user_index_path, weights_dir
from tests.diffuir.reference import random_unet_weights

KEYS_FILE = Path(__file__).parents[1] / "diffuir" / "data" / "diffuir_state_dict_keys.txt"


def _unet_file(path: Path, variant: str, seed: int) -> Path:
    """A U-Net state_dict of ``variant`` (random values), as safetensors or a torch file."""
    state = random_unet_weights(variant, KEYS_FILE, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def _add(*args: object):
    return CliRunner().invoke(app, ["weights", "add", *map(str, args)])


def _recorded() -> list[dict]:
    path = user_index_path()
    return yaml.safe_load(path.read_text())["weights"] if path.is_file() else []


def _cached_files() -> list[str]:
    folder = weights_dir() / "diffuir"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _refused(result, error: type[Exception], *needles: str) -> str:
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, error), result.exception
    text = str(result.exception)
    for needle in needles:
        assert needle in text, text
    return text


class _RunsCode:
    """Unpickling this calls os.mkdir(marker): a stand-in for a checkpoint that runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


# diffuir-t-model-300.pt is the cache file of a manifest entry without a sha256: adding a file of
# that name would pin it ("trust on first pin"), so an unsafe one must be refused there too.
@pytest.mark.parametrize("file_name", ["finetune.pt", "diffuir-t-model-300.pt"])
def test_pickle_that_needs_code_is_refused_and_never_run(tmp_path: Path, file_name: str) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / file_name
    torch.save({"ema": {"ema_model.model.unet0.x": _RunsCode(marker)}}, path)
    _refused(_add("diffuir", path), UnsafeCheckpointError, "weights_only")
    assert not marker.exists()
    assert _recorded() == [] and _cached_files() == []


@pytest.mark.parametrize(
    ("file_name", "content", "needle"),
    [
        ("notes.pt", b"my finetune, trust me", "not a checkpoint"),
        ("empty.pth", b"", "not a checkpoint"),
        (
            "fake.safetensors",
            b"\x10\x00\x00\x00\x00\x00\x00\x00not json",
            "not a valid safetensors",
        ),
    ],
)
def test_file_that_is_no_checkpoint_is_refused(
    tmp_path: Path, file_name: str, content: bytes, needle: str
) -> None:
    path = tmp_path / file_name
    path.write_bytes(content)
    _refused(_add("diffuir", path), HarnessError, needle)
    assert _recorded() == [] and _cached_files() == []


def test_safetensors_content_under_a_torch_suffix_is_named(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    renamed = path.rename(tmp_path / "weights.pt")
    result = _add("diffuir", renamed)
    _refused(result, HarnessError, "not a checkpoint")
    assert "give it the .safetensors suffix" in str(result.exception)


def test_checkpoint_of_another_method_is_refused_by_name(tmp_path: Path) -> None:
    keys = ["patch_embed.proj.weight", "latent.0.attn.qkv.weight", "output.weight"]
    path = tmp_path / "restormer.pth"
    torch.save({"params": {k: torch.zeros(2) for k in keys}}, path)
    _refused(_add("diffuir", path), HarnessError, "Restormer weights, not DiffUIR weights")
    assert _recorded() == []


def test_checkpoint_with_missing_keys_is_refused_with_the_listing(tmp_path: Path) -> None:
    state = random_unet_weights("t", KEYS_FILE, 3)
    del state["final_conv.bias"]
    path = tmp_path / "broken.safetensors"
    save_file(state, str(path))
    _refused(_add("diffuir", path), HarnessError, "1 missing key(s) [final_conv.bias]")
    assert _recorded() == []


def test_checkpoint_of_another_variant_is_recorded_as_the_variant_it_holds(tmp_path: Path) -> None:
    path = _unet_file(tmp_path / "small.safetensors", "s", seed=1)
    result = _add("diffuir", path, "--variant", "t")
    _refused(result, HarnessError, "variant 's'", "not variant 't'")
    assert "--variant s" in (result.exception.hint or "")
    assert _recorded() == [] and _cached_files() == []

    # without --variant it is recorded as S: loading it as S works, as T names S (no hint loop)
    assert _add("diffuir", path).exit_code == 0
    assert [(e["name"], e["variant"]) for e in _recorded()] == [("small", "s")]
    method = create_method("diffuir", variant="s", weights="small")
    assert method.provenance()["weights_sha256"] == sha256_file(path)
    with pytest.raises(HarnessError) as info:
        create_method("diffuir", variant="t", weights="small")
    assert info.value.hint == "use --variant s"


def test_second_file_under_an_existing_name_is_refused_unless_replace(tmp_path: Path) -> None:
    first = _unet_file(tmp_path / "a" / "run.safetensors", "t", seed=1)
    second = _unet_file(tmp_path / "b" / "run.pt", "t", seed=2)
    assert _add("diffuir", first, "--name", "mine").exit_code == 0

    result = _add("diffuir", second, "--name", "mine")
    _refused(result, HarnessError, "'mine' already exist")
    assert "--replace" in result.exception.hint and "--name" in result.exception.hint
    assert resolve_weights("diffuir", "t", "mine").sha256 == sha256_file(first)

    again = _add("diffuir", first, "--name", "mine")  # the same file again: nothing changes
    assert again.exit_code == 0 and "already recorded" in again.output

    assert _add("diffuir", second, "--name", "mine", "--replace").exit_code == 0
    assert resolve_weights("diffuir", "t", "mine").sha256 == sha256_file(second)
    assert [e["name"] for e in _recorded()] == ["mine"]
    assert _cached_files() == ["mine.pt"]  # the replaced file is gone


def test_same_file_name_under_two_names_keeps_both_files(tmp_path: Path) -> None:
    first = _unet_file(tmp_path / "a" / "model.safetensors", "t", seed=1)
    second = _unet_file(tmp_path / "b" / "model.safetensors", "t", seed=2)
    assert _add("diffuir", first, "--name", "first").exit_code == 0
    assert _add("diffuir", second, "--name", "second").exit_code == 0
    assert resolve_weights("diffuir", "t", "first").sha256 == sha256_file(first)
    assert resolve_weights("diffuir", "t", "second").sha256 == sha256_file(second)


def test_file_of_a_manifest_entry_is_not_overwritten(tmp_path: Path) -> None:
    # model-300.pt is the cache file of the unpinned diffuir-l-universal entry; this one holds T
    path = _unet_file(tmp_path / "model-300.pt", "t", seed=1)
    result = _add("diffuir", path)
    _refused(result, HarnessError, "diffuir-l-universal")
    assert "--name" in result.exception.hint
    assert not (weights_dir() / "diffuir" / "model-300.pt").exists() and _recorded() == []
    assert _add("diffuir", path, "--name", "my-t").exit_code == 0


@pytest.mark.parametrize("name", ["../outside", "sub/dir", ".hidden", "a b"])
def test_name_that_is_not_a_plain_name_is_refused(tmp_path: Path, name: str) -> None:
    path = _unet_file(tmp_path / "ok.safetensors", "t", seed=1)
    _refused(_add("diffuir", path, "--name", name), HarnessError, "cannot record weights named")
    assert _recorded() == [] and _cached_files() == []
    assert not (weights_dir() / "outside.safetensors").exists()


def test_awkward_file_name_gives_a_plain_default_name(tmp_path: Path) -> None:
    path = _unet_file(tmp_path / "model-300 (1).safetensors", "t", seed=1)
    assert _add("diffuir", path).exit_code == 0
    assert [e["name"] for e in _recorded()] == ["model-300-1"]
    assert _cached_files() == ["model-300-1.safetensors"]
    assert resolve_weights("diffuir", "t", "model-300-1").sha256 == sha256_file(path)


@pytest.mark.parametrize("method", ["identity", "median", "dcp", "lime", "richardson-lucy"])
def test_weights_for_a_method_that_loads_none_is_an_error(method: str) -> None:
    with pytest.raises(HarnessError, match="loads no weights") as info:
        create_method(method, weights="some-file.pt")
    assert info.value.hint == "drop --weights"


def test_cli_verbs_refuse_weights_for_a_method_that_loads_none(tmp_path: Path) -> None:
    for args in (
        ["check", "identity", "--weights", "x.pt"],
        ["complexity", "identity", "--weights", "x.pt", "--size", "8x8", "--repeats", "0"],
        ["run", "-m", "identity", "--weights", "x.pt", "--no-report", "--store", tmp_path / "s"],
    ):
        result = CliRunner().invoke(app, ["--device", "cpu", *map(str, args)])
        _refused(result, HarnessError, "loads no weights")
    path = _unet_file(tmp_path / "t.safetensors", "t", seed=1)
    _refused(_add("identity", path), HarnessError, "loads no weights")


def test_tampered_copy_is_still_caught_at_load_time(tmp_path: Path) -> None:
    path = _unet_file(tmp_path / "mine.safetensors", "t", seed=1)
    assert _add("diffuir", path).exit_code == 0
    stored = weights_dir() / "diffuir" / "mine.safetensors"
    stored.write_bytes(stored.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ChecksumMismatchError):
        create_method("diffuir", weights="mine")
