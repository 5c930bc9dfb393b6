"""``harness sweep``'s plan: one method option given a comma list of values, one ordinary run each.

Every value becomes a ``RunConfig`` that differs from the others only in that option, so each is an
ordinary stored run (resumed when run again, reported like any other); the report finds them again
from the store (``harness.report.sweeps``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from harness.errors import HarnessError
from harness.runner import RunConfig

VALUE_SEPARATOR = ","


@dataclass(frozen=True)
class SweepPlan:
    """The swept option, its values (typed as ``--option`` types them) and the fixed options."""

    key: str
    values: tuple[Any, ...]
    fixed: dict[str, Any]

    def options(self, value: Any) -> dict[str, Any]:
        """The method options of the run at ``value``."""
        return {**self.fixed, self.key: value}


def plan_sweep(method: str, pairs: list[str]) -> SweepPlan:
    """Read ``--option`` flags: exactly one ``KEY=V1,V2,...`` (two or more distinct values), the
    others ``KEY=VALUE``; the swept key must be one of the method's options."""
    from harness.cli.run import method_options
    from harness.registry import method_class

    swept = [p for p in pairs if VALUE_SEPARATOR in p.partition("=")[2]]
    if len(swept) != 1:
        given = ", ".join(swept) if swept else "none"
        raise HarnessError(
            f"sweep needs exactly one --option with a comma list of values (given: {given})",
            hint="e.g. --option steps=1,2,3 (other --option KEY=VALUE flags stay fixed)",
        )
    key, _, listed = swept[0].partition("=")
    key = key.strip()
    fixed = method_options([p for p in pairs if p is not swept[0]])
    items = [v.strip() for v in listed.split(VALUE_SEPARATOR)]
    if not all(items):
        raise HarnessError(f"--option {swept[0]!r}: an empty value in the list")
    values = [method_options([f"{key}={item}"])[key] for item in items]
    if len(set(map(repr, values))) != len(values):
        raise HarnessError(f"--option {swept[0]!r}: a value is listed twice")
    if key in fixed:
        raise HarnessError(f"--option {key} is given twice (swept and fixed)")
    specs = method_class(method).option_specs
    if key not in specs:
        raise HarnessError(
            f"method {method!r} has no option {key!r}",
            hint=f"{method} options: {', '.join(specs) or '(none)'} (harness ls methods)",
        )
    return SweepPlan(key, tuple(values), fixed)


def sweep_configs(base: RunConfig, plan: SweepPlan) -> list[RunConfig]:
    """One run configuration per value: ``base`` with the plan's options."""
    return [replace(base, options=plan.options(v)) for v in plan.values]
