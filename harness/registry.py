"""Method registry: restorers are discovered through the ``harness.methods`` entry-point group.

Entry points are loaded lazily, so listing names imports nothing and a broken third-party plugin only
fails when it is used. Third-party packages add a restorer by declaring, in their own pyproject::

    [project.entry-points."harness.methods"]
    mymethod = "mypackage.restorer:MyRestorer"
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, UnknownNameError

if TYPE_CHECKING:
    from harness.restorer import Restorer

METHODS_GROUP = "harness.methods"


@cache
def _method_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=METHODS_GROUP)}


def method_names() -> list[str]:
    """Names of every registered method, sorted, without importing any of them."""
    return sorted(_method_entry_points())


def method_class(name: str) -> type[Restorer]:
    """Import and return the Restorer class registered under ``name``."""
    from harness.restorer import Restorer

    eps = _method_entry_points()
    if name not in eps:
        raise UnknownNameError("method", name, eps)
    try:
        cls = eps[name].load()
    except Exception as exc:  # a broken plugin should say which one and why
        raise HarnessError(
            f"method {name!r} is registered ({eps[name].value}) but failed to import: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Restorer)):
        raise HarnessError(f"method {name!r} ({eps[name].value}) is not a harness Restorer class")
    return cls


def create_method(name: str, **kwargs: Any) -> Restorer:
    """Instantiate the restorer ``name`` (variant, weights, device and options as keywords)."""
    return method_class(name)(**kwargs)
