"""``harness ls``: list methods, benchmarks, suites or protocols, one line of description each."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from harness.errors import UnknownNameError

KINDS = ("methods", "benchmarks", "suites", "protocols")


def _methods() -> list[dict[str, object]]:
    """One row per method, from what its class declares (nothing is built)."""
    from harness.errors import HarnessError
    from harness.registry import method_class, method_names

    rows: list[dict[str, object]] = []
    for name in method_names():
        try:
            cls = method_class(name)
        except HarnessError as exc:  # one broken plugin must not hide the others
            rows.append(
                {
                    "name": name,
                    "summary": f"(unavailable: {exc})",
                    "variants": [],
                    "tasks": [],
                    "blind": True,
                    "params": {},
                    "loads_weights": False,
                    "options": {},
                    "license": "",
                    "presets": {},
                }
            )
            continue
        rows.append(
            {
                "name": name,
                "summary": cls.summary,
                "variants": list(cls.variants),
                "tasks": list(cls.tasks),
                "blind": cls.blind,
                "params": {v: cls.params.get(v) for v in cls.variants} if cls.params else {},
                "loads_weights": cls.loads_weights,
                "license": cls.license,
                "presets": dict(cls.presets),
                "options": {
                    key: {"type": spec.type.__name__, "default": spec.default, "help": spec.help}
                    for key, spec in cls.option_specs.items()
                },
            }
        )
    return rows


def _benchmarks() -> list[dict[str, object]]:
    from harness.data.catalog import benchmark_summaries

    return benchmark_summaries()


def _suites() -> list[dict[str, object]]:
    from harness.data.catalog import suite_summaries

    return suite_summaries()


def _protocols() -> list[dict[str, object]]:
    """Built-in protocols, then the opt-in pyiqa ones (``available`` says if pyiqa is installed)."""
    from harness.metrics.protocols import optional_protocol_summaries, protocol_summaries

    return protocol_summaries() + optional_protocol_summaries()


def _line(kind: str, row: dict[str, object], width: int) -> str:
    """One listing entry; ``width`` is the name column (the longest name, so none overflows)."""
    if kind == "methods":
        params = row["params"] or {}
        sizes = ", ".join(
            f"{v}={p:,}" if isinstance(p, int) else str(v)
            for v, p in (params.items() if params else ((v, None) for v in row["variants"]))
        )
        blind = "" if row["blind"] else " [needs task label]"
        options = ", ".join(row["options"]) or "none"
        weights = "loads weights" if row["loads_weights"] else "loads no weights"
        presets = ", ".join(row["presets"])  # type: ignore[arg-type]
        line = (
            f"{row['name']:<{width}} {row['summary']}{blind}\n"
            f"{'':<{width}} variants: {sizes}; tasks: {', '.join(row['tasks'])}\n"
            f"{'':<{width}} options: {options}; {weights}"
        )
        if presets:
            line += f"; training presets: {presets}"
        if row["license"]:
            line += f"\n{'':<{width}} licence: {row['license']}"
        return line
    line = f"{row['name']:<{width}} {row.get('summary', '')}"
    if kind == "protocols":
        line += f"\n{'':<{width}} {row['signature']}"
        if row.get("available") is False:
            line += f"\n{'':<{width}} needs the iqa extra: pip install 'uir-harness[iqa]'"
    return line


def register(app: typer.Typer) -> None:
    """Attach the ``ls`` verb to the app."""

    @app.command("ls")
    def ls(
        kind: Annotated[str, typer.Argument(help="methods, benchmarks, suites or protocols.")],
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """List methods, benchmarks, suites or protocols with a line of description each."""
        if kind not in KINDS:
            raise UnknownNameError("listing", kind, KINDS)
        rows = {
            "methods": _methods,
            "benchmarks": _benchmarks,
            "suites": _suites,
            "protocols": _protocols,
        }[kind]()
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        width = max((len(str(row["name"])) for row in rows), default=0)
        for row in rows:
            typer.echo(_line(kind, row, max(width, 14)))
