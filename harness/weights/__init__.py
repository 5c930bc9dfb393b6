"""Weights manifests, the weights cache, and resolving which file a restorer loads.

Each method may ship ``weights.yaml`` next to its restorer module (``baselines/<method>/``)::

    weights:
      - name: diffuir-t-universal
        method: diffuir
        variant: t
        file: model-300.pt            # a bare name: looked up in <cache>/weights/diffuir/
        source: https://...           # where a user gets it
        size: 12345678                # bytes, optional
        sha256: null                  # pinned when known
        git_blob_sha1: null           # the publisher's `git hash-object` id of a committed file
        license: MIT
        default: true
        notes: EMA weights of the universal model.

``file`` is either a bare file name, looked up in the weights cache (``<cache>/weights/<method>/``,
env ``HARNESS_WEIGHTS`` overrides ``<cache>/weights``), or a repository-relative path of a file
shipped in the repository (e.g. ``baselines/diffuir/weights/tiny.safetensors``). Manifests are
untrusted: paths that escape their root are refused. Files a user adds with ``harness weights add``
are checked by the method's ``Restorer.inspect_weights`` and recorded in a user-level index,
``<weights dir>/index.yaml``, never in the repository.

Modules: ``schema`` (the entry model), ``layout`` (where files are), ``user_index`` (the user's
entries and pins), ``resolve`` (which file a restorer loads), ``verified`` (states for ``ls``),
``add`` (``harness weights add``).
"""

from harness.weights.add import AddResult, add_weights
from harness.weights.layout import entry_path, manifest_path, weights_dir
from harness.weights.resolve import (
    ResolvedWeights,
    known_entries,
    manifest_entries,
    resolve_weights,
)
from harness.weights.schema import MANIFEST_NAME, TrainingSetting, WeightsEntry
from harness.weights.user_index import pinned_sha256, user_entries, user_index_path
from harness.weights.verified import status

__all__ = [
    "MANIFEST_NAME",
    "AddResult",
    "ResolvedWeights",
    "TrainingSetting",
    "WeightsEntry",
    "add_weights",
    "entry_path",
    "known_entries",
    "manifest_entries",
    "manifest_path",
    "pinned_sha256",
    "resolve_weights",
    "status",
    "user_entries",
    "user_index_path",
    "weights_dir",
]
