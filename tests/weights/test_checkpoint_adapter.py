"""The shared checkpoint adapter: container, prefixes, training-only keys, strict named checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.checkpoints import (
    CheckpointLayout,
    CheckpointMismatchError,
    adapt_state_dict,
    check_state,
    identify_method,
    read_state_dict,
)

LIGHTNING = CheckpointLayout(containers=("state_dict",), prefixes=("net.",))


def test_lightning_container_and_prefix_are_taken_off(tmp_path: Path) -> None:
    weights = {"net.conv.weight": torch.ones(2, 3), "net.conv.bias": torch.zeros(2)}
    torch.save({"state_dict": weights, "epoch": 3, "optimizer_states": []}, tmp_path / "m.ckpt")
    adapted, sha = read_state_dict(tmp_path / "m.ckpt", LIGHTNING)
    assert sorted(adapted.state) == ["conv.bias", "conv.weight"]
    assert adapted.container == "state_dict" and not adapted.dropped
    assert torch.equal(adapted.state["conv.weight"], torch.ones(2, 3))
    import hashlib

    assert sha == hashlib.sha256((tmp_path / "m.ckpt").read_bytes()).hexdigest()


def test_plain_state_dict_and_nested_prefixes() -> None:
    layout = CheckpointLayout(containers=("params",), prefixes=("module.",))
    adapted = adapt_state_dict({"module.a": torch.zeros(1), "b": torch.ones(1)}, layout)
    assert sorted(adapted.state) == ["a", "b"] and adapted.container is None


def test_training_only_keys_are_set_aside_not_lost() -> None:
    layout = CheckpointLayout(train_only=("E.encoder_k.", "E.queue"))
    content = {
        "E.encoder_q.w": torch.zeros(3),
        "E.encoder_k.w": torch.zeros(3),
        "E.queue": torch.zeros(4, 5),
        "E.queue_ptr": torch.zeros(1, dtype=torch.long),
    }
    adapted = adapt_state_dict(content, layout)
    assert list(adapted.state) == ["E.encoder_q.w"]
    assert sorted(adapted.dropped) == ["E.encoder_k.w", "E.queue", "E.queue_ptr"]


def test_known_methods_are_identified_by_their_keys() -> None:
    assert identify_method(["net.patch_embed.proj.weight", "net.prompt1.prompt_param"]) == (
        "PromptIR"
    )
    assert identify_method(["patch_embed.proj.weight", "latent.0.ffn.project_in.weight"]) == (
        "Restormer"
    )
    assert identify_method(["R.head.0.weight", "E.E.encoder_q.E_pre.backbone.0.weight"]) == (
        "AirNet"
    )
    assert identify_method(["conv.weight"]) is None


def test_strict_check_names_missing_unexpected_and_wrong_shapes() -> None:
    expected = {"a.weight": torch.empty(2, 2, device="meta"), "b": torch.empty(3, device="meta")}
    with pytest.raises(CheckpointMismatchError, match=r"1 missing key\(s\) \[b\]; 1 unexpected"):
        check_state(
            expected,
            {"a.weight": torch.zeros(2, 2), "c": torch.zeros(1)},
            method="M",
            what="the M net",
            label="f.pt",
        )
    with pytest.raises(CheckpointMismatchError, match=r"a.weight \(2, 3\) != \(2, 2\)"):
        check_state(
            expected,
            {"a.weight": torch.zeros(2, 3), "b": torch.zeros(3)},
            method="M",
            what="the M net",
            label="f.pt",
        )
    check_state(
        expected,
        {"a.weight": torch.zeros(2, 2), "b": torch.zeros(3)},
        method="M",
        what="the M net",
        label="f.pt",
    )


def test_another_methods_checkpoint_is_refused_by_name() -> None:
    expected = {"patch_embed.proj.weight": torch.empty(1, device="meta")}
    restormer = {"patch_embed.proj.weight": torch.zeros(1), "latent.0.x": torch.zeros(1)}
    promptir = {**restormer, "prompt1.prompt_param": torch.zeros(1)}
    with pytest.raises(CheckpointMismatchError, match="holds PromptIR weights, not Restormer"):
        check_state(expected, promptir, method="Restormer", what="Restormer", label="x.pth")


def test_another_layouts_container_is_opened_so_the_method_is_named() -> None:
    restormer = {"patch_embed.proj.weight": torch.zeros(1), "latent.0.x": torch.zeros(1)}
    basicsr = {"params": restormer, "meta": {"iter": 3}}
    adapted = adapt_state_dict(basicsr, LIGHTNING)
    assert adapted.container == "params" and sorted(adapted.state) == sorted(restormer)
    expected = {"prompt1.prompt_param": torch.empty(1, device="meta")}
    with pytest.raises(CheckpointMismatchError, match="holds Restormer weights, not PromptIR"):
        check_state(expected, adapted.state, method="PromptIR", what="PromptIR", label="r.pth")
    # a top level holding tensors is the state_dict itself; nested dicts are not looked into
    plain = {"a": torch.zeros(1), "params": restormer}
    assert list(adapt_state_dict(plain, LIGHTNING).state) == ["a"]
    assert adapt_state_dict({"epoch": 3}, LIGHTNING).state == {}
