"""What a lab host hides of the machine: the checkout and the lab's state dir,
wherever they live (CI clones elsewhere than a developer does), and never a path
the host itself needs. Pure path logic: no root, no lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.host.rootfs import hidden_paths


def hidden(*paths: str) -> list[str]:
    return [str(path) for path in hidden_paths(tuple(Path(p) for p in paths))]


@pytest.mark.parametrize(
    "asked, expected",
    [
        (("/srv/p", "/srv/p/.lab"), ["/srv/p"]),  # the state inside the checkout: one whiteout
        (("/srv/p", "/var/lab"), ["/srv/p", "/var/lab"]),
        (("/srv/p/", "/srv/p/../q"), ["/srv/p", "/srv/q"]),
        (("/usr/src/p", "/opt/homebrew-checkout"), ["/opt/homebrew-checkout", "/usr/src/p"]),  # beside needs
        (("/root/p", "/home/u/p", "/tmp/lab", "/run/lab", "/usr/local/bin/x"), []),  # the host lacks these
    ],
)
def test_the_outermost_paths_the_host_does_not_already_lack_are_hidden(asked, expected):
    assert hidden(*asked) == expected


@pytest.mark.parametrize("path, needed", [
    ("/", "/"), ("/usr", "/usr"), ("/usr/local", "/usr/local/bin"), ("/opt", "/opt/homebrew"),
    ("/opt/homebrew", "/opt/homebrew"), ("/var/lib", "/var/lib/lab"), ("/var/lib/lab", "/var/lib/lab"),
    ("/etc", "/etc"), ("/var", "/var/lib/lab"),
])
def test_a_path_holding_what_the_host_needs_is_refused_with_the_remedy(path, needed):
    with pytest.raises(ValueError) as refused:
        hidden("/srv/p", path)
    assert f"cannot hide {path} " in str(refused.value) and f"it needs {needed}" in str(refused.value)
    assert "PRIVATE_OLLAMA_LAB_DIR" in str(refused.value)
