"""Reference rows (reports/reference/*.csv) beyond one benchmark: averages over several benchmarks
and numbers measured at given method options.

The ``benchmark`` cell of a reference row names what was measured:

- a benchmark name (``lol``): that benchmark's mean;
- ``task:<task>@<suite>``: the average over the suite's universal-setting benchmarks of that task
  (``task:derain@universal``: the five rain sets), resolved from the shipped catalogue;
- ``mean:<a>+<b>+...``: the average over the benchmarks listed.

An average is the plain mean of the per-benchmark means of one run (each benchmark weighs the
same, whatever its size), computed only when that run measured every benchmark of it; otherwise
the comparison names the benchmarks missing and gives no number.

The optional ``options`` cell (``steps=3``, several joined by ``;``) restricts a row to runs made
with those method options (``--option steps=3``); values are typed as ``--option`` types them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from harness.errors import HarnessError

TASK_PREFIX = "task:"
MEAN_PREFIX = "mean:"
OPTION_SEPARATOR = ";"

OptionValues = dict[str, bool | int | float | str]


def average_members(task: str, suite: str) -> tuple[str, ...]:
    """The universal-setting benchmarks of ``task`` in ``suite``, in suite order."""
    from harness.data.catalog import load_manifest, load_suite
    from harness.tasks import TASKS

    if task not in TASKS:
        raise HarnessError(
            f"unknown task {task!r}", hint=f"name one of: {', '.join(TASKS)} (harness.tasks)"
        )
    members = []
    for name in load_suite(suite).benchmarks:
        manifest = load_manifest(name)
        if manifest.task == task and manifest.setting != "zero-shot":
            members.append(name)
    if not members:
        raise HarnessError(
            f"suite {suite!r} has no universal-setting benchmark of task {task!r}",
            hint="`harness ls suites` and `harness ls benchmarks` show what each suite holds",
        )
    return tuple(members)


def benchmark_members(text: str) -> tuple[str, ...]:
    """The benchmarks a reference row's ``benchmark`` cell averages over (one for a benchmark)."""
    text = text.strip()
    if text.startswith(TASK_PREFIX):
        task, at, suite = text[len(TASK_PREFIX) :].partition("@")
        if not at or not task.strip() or not suite.strip():
            raise HarnessError(
                f"{text!r}: a task average is written task:<task>@<suite>",
                hint="e.g. task:derain@universal",
            )
        return average_members(task.strip(), suite.strip())
    if text.startswith(MEAN_PREFIX):
        members = [m.strip() for m in text[len(MEAN_PREFIX) :].split("+")]
        if len(members) < 2 or not all(members):
            raise HarnessError(
                f"{text!r}: an average lists two or more benchmarks joined by '+'",
                hint="e.g. mean:snow100k-s+snow100k-l",
            )
        if len(set(members)) != len(members):
            raise HarnessError(f"{text!r}: a benchmark is listed twice")
        return tuple(members)
    if not text:
        raise HarnessError("empty benchmark")
    return (text,)


def parse_options(text: Any) -> OptionValues:
    """A reference row's ``options`` cell as typed values (empty cell: no option)."""
    from harness.cli.run import method_options

    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return {}
    return method_options([p.strip() for p in str(text).split(OPTION_SEPARATOR) if p.strip()])


def prepare_reference(df: pd.DataFrame, path: str) -> pd.DataFrame:
    """``df`` with ``members`` and ``option_values`` parsed from its rows; a row that cannot be
    parsed is an error naming the file and the row."""
    members, options = [], []
    has_options = "options" in df.columns
    for number, row in enumerate(df.itertuples(index=False), start=1):
        where = f"{path}, row {number} ({row.method}, {row.benchmark})"
        try:
            if not isinstance(row.benchmark, str):
                raise HarnessError("empty benchmark")
            members.append(benchmark_members(row.benchmark))
            options.append(parse_options(row.options) if has_options else {})
        except HarnessError as exc:
            raise HarnessError(
                f"{where}: {exc.message}",
                hint=exc.hint or "reports/reference/README.md describes the columns",
            ) from None
    out = df.copy()
    out["members"] = members
    out["option_values"] = options
    return out


def options_text(values: Mapping[str, Any]) -> str:
    """Typed option values as the ``options`` column writes them (``steps=3;ema=false``)."""
    return OPTION_SEPARATOR.join(
        f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items()
    )


def run_options(run: Mapping[str, Any]) -> OptionValues:
    """The method options a stored run was built with (``--option`` and ``--steps``)."""
    from harness.runner import RunConfig, method_kwargs

    config = run.get("config") or {}
    return method_kwargs(
        RunConfig(
            method=str(run.get("method")),
            suite=str(run.get("suite")),
            steps=config.get("steps"),
            options=dict(config.get("options") or {}),
        )
    )


def options_match(wanted: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """Whether a run built with ``given`` options was built with every one of ``wanted``."""
    return all(k in given and _same(given[k], v) for k, v in wanted.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def variant_matches(wanted: Any, variant: Any) -> bool:
    """Whether a reference row's ``variant`` cell (empty: any) names the run's variant."""
    return not (isinstance(wanted, str) and wanted) or wanted == variant


def average_of_run(
    per_benchmark: Mapping[str, float], members: Sequence[str]
) -> tuple[float, list[str]]:
    """(mean of the members' means, members not measured); NaN while any member is missing."""
    missing = [m for m in members if m not in per_benchmark]
    if missing:
        return math.nan, missing
    return float(sum(per_benchmark[m] for m in members) / len(members)), []
