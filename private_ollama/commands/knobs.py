"""knobs: the README's knob table, made from the knobs' definitions.

    python -m private_ollama knobs            # print the table (markdown)
    python -m private_ollama knobs --write    # put it in README.md, between its knob-table markers
    python -m private_ollama knobs --check    # exit 1 when README.md's table differs from the definitions

Each row is one knob of ``private_ollama/desired_state/settings.py``: its
name, its default as you would write it in ``group_data/all.py``, and its
description. The README is never edited by hand there.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from private_ollama import PROJECT
from private_ollama.desired_state.settings import Settings

README = PROJECT / "README.md"
BEGIN = "<!-- knob table: made by `python -m private_ollama knobs --write` from the definitions; do not edit -->"
END = "<!-- end of the knob table -->"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="replace the table in README.md")
    action.add_argument("--check", action="store_true", help="exit 1 when README.md's table is not this one")


def shown_default(name: str, value: Any) -> str:
    """A default as it is written in group data; sizes in bytes also in KiB/MiB."""
    if isinstance(value, list) and value and isinstance(value[0], tuple):  # routes: (method, path) pairs
        return ", ".join(f"`{method} {path}`" for method, path in value)
    shown = f'`"{value}"`' if isinstance(value, str) else f"`{value!r}`"
    if name.endswith("_bytes") and value >= 1024:
        unit, scale = ("MiB", 1024**2) if value >= 1024**2 else ("KiB", 1024)
        shown += f" ({value / scale:g} {unit})"
    return shown


def table() -> str:
    rows = ["| knob | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        cells = (f"`{name}`", shown_default(name, field.default), field.description)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def split_readme(readme: str) -> tuple[str, str, str]:
    """(what comes before the table, the table, what comes after); ValueError when the markers are missing."""
    before, marker, rest = readme.partition(f"{BEGIN}\n")
    current, end_marker, after = rest.partition(END)
    if not (marker and end_marker):
        raise ValueError(f"{README.name} has no knob table markers ({BEGIN} ... {END})")
    return before + marker, current, end_marker + after


def run(args: argparse.Namespace) -> int:
    wanted = table()
    if not (args.write or args.check):
        print(wanted, end="")
        return 0
    before, current, after = split_readme(README.read_text())
    if args.write:
        README.write_text(before + wanted + after)
    elif current != wanted:
        print("knobs: README.md's knob table differs from the definitions: "
              "run `python -m private_ollama knobs --write`", file=sys.stderr)
        return 1
    return 0
