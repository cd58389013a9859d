"""The README documents every knob of group_data/all.py, with its default."""

from pathlib import Path

import pytest

from desired_state.inventory import defaults

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("knob", sorted(defaults()))
def test_every_knob_is_in_the_readme_table(knob):
    assert f"| `{knob}` |" in README, f"{knob} is not in the README's knob table"


def test_readme_lists_no_knob_that_does_not_exist():
    import re

    listed = set(re.findall(r"^\| `([a-z_]+)` \|", README, flags=re.M))
    assert listed <= set(defaults()), listed - set(defaults())
