"""Safe loading of checkpoint files: they are untrusted input.

Only ``safetensors`` files and ``torch.load(..., weights_only=True)`` are used; a pickle that needs
arbitrary code is refused with instructions to convert it on a machine where the file is trusted.

The shared adapter every plugin uses after loading: :class:`CheckpointLayout` says where a method's
official file keeps its weights (container, key prefixes, training-only keys);
:func:`adapt_state_dict` takes them out; :func:`check_state` checks keys and shapes strictly and
names the method when the file is another method's checkpoint (:data:`KNOWN_SIGNATURES`).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, MissingFileError
from harness.hashing import git_blob_sha1, sha256_file


class ChecksumMismatchError(HarnessError):
    """A file whose sha256 (or git blob SHA-1) differs from the one pinned for it (tampered or
    wrong file)."""


class UnsafeCheckpointError(HarnessError):
    """A pickle checkpoint that cannot be loaded with ``weights_only=True``."""


def verify_sha256(path: str | Path, expected: str | None) -> str:
    """Return the file's sha256; raise ChecksumMismatchError when ``expected`` is given and differs."""
    actual = sha256_file(path)
    if expected and actual.lower() != expected.lower():
        raise ChecksumMismatchError(
            f"{path}: sha256 {actual} does not match the pinned {expected.lower()}",
            hint="the file is corrupt, tampered with, or a different release; fetch it again",
        )
    return actual


def verify_git_blob_sha1(path: str | Path, expected: str) -> str:
    """Return the file's git blob SHA-1; raise ChecksumMismatchError when it differs from
    ``expected`` (the publisher's id of a file committed in its repository)."""
    actual = git_blob_sha1(path)
    if actual != expected.lower():
        raise ChecksumMismatchError(
            f"{path}: git blob SHA-1 {actual} does not match the publisher's {expected.lower()}",
            hint="the file is corrupt, modified, or a different release; `git hash-object FILE` "
            "must print the publisher's id: fetch the file again",
        )
    return actual


def _check_torch_format(path: Path) -> None:
    """Refuse a file that is neither a torch zip archive nor a pickle, before unpickling it."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    if head[:1] == b"\x80" or zipfile.is_zipfile(path):  # a pickle protocol mark, or torch's zip
        return
    hint = "pass a .pt/.pth/.ckpt file written by torch.save, or a .safetensors file"
    if head[8:9] == b"{":  # safetensors: an 8-byte header length, then the JSON header
        hint = "this looks like a safetensors file: give it the .safetensors suffix"
    raise HarnessError(
        f"{path}: not a checkpoint (neither a torch file nor safetensors)", hint=hint
    )


def load_checkpoint(
    path: str | Path,
    *,
    expected_sha256: str | None = None,
    source: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Load a checkpoint safely; return (its content, its sha256).

    safetensors files give a flat dict of tensors; ``.pt``/``.pth``/``.ckpt`` files are read with
    ``weights_only=True`` and may be nested dicts (e.g. a training dict with ``ema``/``model``).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError("checkpoint", str(path), sha256=expected_sha256, source=source)
    sha = verify_sha256(path, expected_sha256)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu")), sha
        except Exception as exc:
            raise HarnessError(f"{path}: not a valid safetensors file ({exc})") from None
    _check_torch_format(path)
    import pickle

    import torch

    try:
        content = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path}: this checkpoint needs more than plain tensors to load ({exc}); "
            "the harness loads checkpoints only with weights_only=True",
            hint=(
                'if you trust the file, convert it once: python -c "import torch; '
                "from safetensors.torch import save_file; "
                f"sd=torch.load('{path.name}', weights_only=False); ...\" and save the state_dict "
                "you need with safetensors, then pass the .safetensors file"
            ),
        ) from None
    except Exception as exc:
        raise HarnessError(f"{path}: cannot read checkpoint ({exc})") from None
    if not isinstance(content, dict):
        raise HarnessError(f"{path}: expected a dict of tensors, found {type(content).__name__}")
    return content, sha


# --- the shared checkpoint adapter: from a loaded file to a strictly checked state_dict ----------

# Key-prefix signatures of the restoration methods whose official checkpoints the harness knows,
# most specific first (after containers and prefixes are removed). A file matching one is refused
# by that name instead of with a long key listing. Facts from the official key lists.
KNOWN_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DA-CLIP (universal-ir)", ("text_mlp.", "prompt_mlp.")),
    ("PromptIR", ("prompt1.",)),
    ("AdaIR", ("fre1.",)),
    ("InstructIR", ("enc_cond.", "dec_cond.")),
    ("AirNet", ("R.head.", "E.E.encoder_q.")),
    ("MPRNet", ("shallow_feat1.", "stage3_orsnet.")),
    ("WeatherDiff", ("temb.", "conv_in.")),
    ("WGWS-Net", ("feat_extract.", "FAM1.")),
    ("NAFNet", ("intro.", "middle_blks.")),
    ("Perceive-IR", ("cfe.", "pgm.")),
    ("Restormer", ("patch_embed.", "latent.")),
    ("DiffUIR", ("init_conv.", "downs.0.0.block1.")),
)
_LIST_LIMIT = 12
BUFFER_LEAVES = ("running_mean", "running_var", "num_batches_tracked")
"""Key names of BatchNorm buffers: state_dict entries that are not parameters."""


class CheckpointMismatchError(HarnessError):
    """A checkpoint that is not the one the method and variant need (other method, other shapes)."""


@dataclass(frozen=True)
class CheckpointLayout:
    """Where an official checkpoint file keeps the network's weights, and what to take off.

    ``containers``: sub-dict keys tried in order (``params`` for BasicSR, ``state_dict`` for
    Lightning); a file whose top level is already the state_dict is accepted too.
    ``prefixes``: key prefixes removed when a key carries them (``net.`` for Lightning modules,
    ``module.`` for DataParallel). ``train_only``: key prefixes that training files hold and
    inference never uses (e.g. a MoCo key encoder); they are set aside, and counted, not loaded.
    ``train_only_buffers``: those of them that are buffers, not parameters (e.g. a MoCo queue);
    BatchNorm statistics are recognised by name.
    """

    containers: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    train_only: tuple[str, ...] = ()
    train_only_buffers: tuple[str, ...] = ()

    def stored_parameters(self, dropped: dict[str, Any]) -> int:
        """Parameter elements among set-aside tensors (buffers and BatchNorm statistics not)."""
        return sum(
            int(value.numel())
            for key, value in dropped.items()
            if not (self.train_only_buffers and key.startswith(self.train_only_buffers))
            and key.rsplit(".", 1)[-1] not in BUFFER_LEAVES
        )


@dataclass(frozen=True)
class AdaptedState:
    """A state_dict taken out of a checkpoint, with what was set aside and where it came from."""

    state: dict[str, Any]
    dropped: dict[str, Any]
    """Training-only tensors of the file (``layout.train_only``), not loaded."""
    container: str | None
    """The sub-dict the weights came from, or None for a plain state_dict."""


def _strip(key: str, prefixes: tuple[str, ...]) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in prefixes:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def _tensor_count(value: Any) -> int:
    import torch

    if not isinstance(value, dict):
        return 0
    return sum(isinstance(v, torch.Tensor) for v in value.values())


def adapt_state_dict(content: dict[str, Any], layout: CheckpointLayout) -> AdaptedState:
    """Select the container, strip prefixes and set aside training-only keys (no checks yet).

    A file without the layout's containers and without tensors at its top level is another
    layout's container (a BasicSR ``params`` file given to a Lightning method, or the reverse):
    its sub-dict with the most tensors is taken, so that the strict check names the method the
    file belongs to instead of listing every key as missing.
    """
    import torch

    container = next((c for c in layout.containers if isinstance(content.get(c), dict)), None)
    if container is None and not _tensor_count(content):
        counts = {key: _tensor_count(value) for key, value in content.items()}
        fullest = max(counts, key=counts.__getitem__, default=None)
        container = fullest if fullest is not None and counts[fullest] else None
    raw = content[container] if container is not None else content
    state: dict[str, Any] = {}
    dropped: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            continue
        name = _strip(str(key), layout.prefixes)
        target = dropped if name.startswith(layout.train_only) and layout.train_only else state
        target[name] = value
    return AdaptedState(state, dropped, container)


def identify_method(keys: Any) -> str | None:
    """The known method whose checkpoint keys these look like (``net.``/``module.`` ignored)."""
    stripped = [_strip(str(k), ("net.", "module.")) for k in keys]
    for name, signature in KNOWN_SIGNATURES:
        if all(any(k.startswith(prefix) for k in stripped) for prefix in signature):
            return name
    return None


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_LIST_LIMIT])
    more = f" ... and {len(items) - _LIST_LIMIT} more" if len(items) > _LIST_LIMIT else ""
    return shown + more


def check_state(
    expected: dict[str, Any],
    state: dict[str, Any],
    *,
    method: str,
    what: str,
    label: str,
    hint: str | None = None,
) -> None:
    """Raise CheckpointMismatchError unless ``state`` has exactly the keys and shapes expected.

    ``expected`` is a state_dict (its tensors may live on the meta device); ``method`` is the
    display name the signatures use (e.g. ``PromptIR``), ``what`` the network named in messages
    (e.g. ``PromptIR (official)``) and ``label`` the file.
    """
    other = identify_method(state)
    if other is not None and other != method and identify_method(expected) != other:
        raise CheckpointMismatchError(
            f"{label} holds {other} weights, not {method} weights",
            hint=f"run it with the {other} method, or pass a {method} checkpoint",
        )
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"{label} does not match {what}: {len(missing)} missing key(s) "
            f"[{_listing(missing)}]; {len(unexpected)} unexpected key(s) [{_listing(unexpected)}]",
            hint=hint or f"pass an official {method} checkpoint or a state_dict of this network",
        )
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise CheckpointMismatchError(
            f"{label} has {len(wrong)} tensor(s) of the wrong shape for {what}: {_listing(wrong)}",
            hint=hint,
        )


def read_state_dict(
    path: str | Path,
    layout: CheckpointLayout,
    *,
    expected_sha256: str | None = None,
    source: str | None = None,
) -> tuple[AdaptedState, str]:
    """Load ``path`` safely and adapt it with ``layout``; return (the adapted state, its sha256)."""
    content, sha = load_checkpoint(path, expected_sha256=expected_sha256, source=source)
    return adapt_state_dict(content, layout), sha
