"""The README's knob table is the knobs' definitions: same names, defaults and descriptions."""

import re
from pathlib import Path

import pytest

from private_ollama.commands.knobs import shown_default, split_readme, table
from private_ollama.desired_state.settings import Settings
from tests.admin import admin

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
ROWS = {row[0]: row[1:] for row in re.findall(r"^\| `([a-z_]+)` \| (.*?) \| (.*) \|$", README, flags=re.MULTILINE)}


@pytest.mark.parametrize("knob", sorted(Settings.model_fields))
def test_every_knob_is_in_the_readme_table(knob):
    assert f"| `{knob}` |" in README, f"{knob} is not in the README's knob table"


def test_readme_lists_no_knob_that_does_not_exist():
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", README, flags=re.MULTILINE))
    assert listed <= set(Settings.model_fields), listed - set(Settings.model_fields)


@pytest.mark.parametrize("knob", sorted(Settings.model_fields))
def test_the_readme_gives_each_knob_its_default_and_description(knob):
    field = Settings.model_fields[knob]
    default, description = ROWS[knob]
    assert default.replace("\\|", "|") == shown_default(knob, field.default)
    assert description.replace("\\|", "|") == field.description


def test_the_readme_table_is_the_generated_one():
    assert split_readme(README)[1] == table()
    assert admin("knobs", "--check").returncode == 0


def test_every_knob_has_a_one_line_description():
    for name, field in Settings.model_fields.items():
        assert field.description and "\n" not in field.description, name
