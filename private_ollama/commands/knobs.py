"""knobs: the README's tables of knobs, route sets and client recipes, made from their definitions.

    python -m private_ollama knobs            # print the tables (markdown)
    python -m private_ollama knobs --write    # put them in README.md, between their markers
    python -m private_ollama knobs --check    # exit 1 when README.md's tables differ from the definitions

A knob's row is its name, its default as you would write it in
``group_data/all.py``, and its description (``private_ollama/desired_state/settings.py``);
a route set's row is its name, its routes and what it exposes to whom
(``private_ollama/desired_state/routes.py``). The README is never edited by hand there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from private_ollama import PROJECT
from private_ollama.desired_state.clients import RECIPES, Recipe
from private_ollama.desired_state.routes import DEFAULT_ROUTE_SETS, ROUTE_SETS
from private_ollama.desired_state.settings import Settings

README = PROJECT / "README.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="replace the tables in README.md")
    action.add_argument("--check", action="store_true", help="exit 1 when README.md's tables are not these")


def shown_default(name: str, value: Any) -> str:
    """A default as it is written in group data; sizes in bytes also in KiB/MiB."""
    shown = f'`"{value}"`' if isinstance(value, str) else f"`{value!r}`"
    if name.endswith("_bytes") and value >= 1024:
        unit, scale = ("MiB", 1024**2) if value >= 1024**2 else ("KiB", 1024)
        shown += f" ({value / scale:g} {unit})"
    return shown


def _table(heading: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(heading) + " |", "|" + "---|" * len(heading)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def knob_table() -> str:
    return _table(("knob", "default", "what it does"), [
        (f"`{name}`", shown_default(name, field.default), field.description)
        for name, field in Settings.model_fields.items()
    ])


def route_set_table() -> str:
    return _table(("route set", "routes", "exposes", "needed by"), [
        (f"`{name}`" + (" (default)" if name in DEFAULT_ROUTE_SETS else ""),
         ", ".join(f"`{route.method} {route.path}`" for route in route_set.routes), route_set.exposes,
         route_set.needed_by)
        for name, route_set in ROUTE_SETS.items()
    ])


def recipe_table() -> str:
    def variables(recipe: Recipe) -> str:
        shown = [f"`{name}={value}`" for name, value in recipe.env]
        shown += [f"with keys `{name}={value}`" for name, value in recipe.key_env]
        return ", ".join(shown)

    return _table(("client", "variables (`{url}` is `http://<name>:<port>`)", "then", "route sets", "run by the tests"), [
        (recipe.name, variables(recipe), "; ".join(f"`{line.split('  #')[0]}`" for line in recipe.use),
         ", ".join(f"`{name}`" for name in recipe.route_sets)
         + "".join(f" (+ `{extra}` for {what})" for extra, what in recipe.extras),
         f"`{recipe.tested_with}`" if recipe.tested_with else "no: its routes are checked against its sets")
        for recipe in RECIPES.values()
    ])


TABLES: dict[str, Callable[[], str]] = {"knob table": knob_table, "route set table": route_set_table,
                                        "client recipe table": recipe_table}


def markers(name: str) -> tuple[str, str]:
    return (f"<!-- {name}: made by `python -m private_ollama knobs --write` from the definitions; do not edit -->",
            f"<!-- end of the {name} -->")


def split_readme(readme: str, name: str) -> tuple[str, str, str]:
    """(what comes before the table, the table, what comes after); ValueError when the markers are missing."""
    begin, end = markers(name)
    before, marker, rest = readme.partition(f"{begin}\n")
    current, end_marker, after = rest.partition(end)
    if not (marker and end_marker):
        raise ValueError(f"{README.name} has no {name} markers ({begin} ... {end})")
    return before + marker, current, end_marker + after


def run(args: argparse.Namespace) -> int:
    if not (args.write or args.check):
        print("\n".join(table() for table in TABLES.values()), end="")
        return 0
    readme = README.read_text()
    stale = []
    for name, table in TABLES.items():
        before, current, after = split_readme(readme, name)
        if current != table():
            stale.append(name)
            readme = before + table() + after
    if args.write:
        README.write_text(readme)
    elif stale:
        print(f"knobs: README.md's {' and '.join(stale)} differ from the definitions: "
              "run `python -m private_ollama knobs --write`", file=sys.stderr)
        return 1
    return 0
