"""The README's knob and route set tables are their definitions: same names, defaults, routes and descriptions."""

import re
from pathlib import Path

import pytest

from private_ollama.commands.knobs import TABLES, shown_default, split_readme
from private_ollama.desired_state.routes import ROUTE_SETS
from private_ollama.desired_state.settings import Settings
from tests.admin import admin

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
KNOB_TABLE = split_readme(README, "knob table")[1]
ROWS = {row[0]: row[1:] for row in re.findall(r"^\| `([a-z_]+)` \| (.*?) \| (.*) \|$", KNOB_TABLE, flags=re.MULTILINE)}


@pytest.mark.parametrize("knob", sorted(Settings.model_fields))
def test_every_knob_is_in_the_readme_table(knob):
    assert f"| `{knob}` |" in KNOB_TABLE, f"{knob} is not in the README's knob table"


def test_readme_lists_no_knob_that_does_not_exist():
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", KNOB_TABLE, flags=re.MULTILINE))
    assert listed <= set(Settings.model_fields), listed - set(Settings.model_fields)


@pytest.mark.parametrize("knob", sorted(Settings.model_fields))
def test_the_readme_gives_each_knob_its_default_and_description(knob):
    field = Settings.model_fields[knob]
    default, description = ROWS[knob]
    assert default.replace("\\|", "|") == shown_default(knob, field.default)
    assert description.replace("\\|", "|") == field.description


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_readme_table_is_the_generated_one(name):
    assert split_readme(README, name)[1] == TABLES[name]()


def test_the_check_command_agrees():
    assert admin("knobs", "--check").returncode == 0


@pytest.mark.parametrize("name", sorted(ROUTE_SETS))
def test_the_readme_lists_every_route_of_each_set(name):
    row = next(line for line in README.splitlines() if line.startswith(f"| `{name}`"))
    for route in ROUTE_SETS[name].routes:
        assert f"`{route.method} {route.path}`" in row


def test_every_knob_has_a_one_line_description():
    for name, field in Settings.model_fields.items():
        assert field.description and "\n" not in field.description, name
