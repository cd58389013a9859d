"""The HAProxy config as the deploy renders it for a Mac on the tailnet.

It must pass the real ``haproxy -c`` (Debian's 2.6 here; the template avoids
what 3.x removed), bind the Tailscale address and nothing else, and serve
metrics on loopback only, and only when a metrics port is set.
"""

from __future__ import annotations

import re

import pytest

from private_ollama.desired_state.routes import HTTP_METHODS, ROUTE_SETS
from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import HAPROXY, check, installed, render

TAILNET_IP = "100.101.102.103"
VARIANTS = {
    "defaults": {},
    "metrics on": {"proxy_metrics_port": 9101},
    "one exact route": {"ollama_route_sets": [], "ollama_extra_routes": [("GET", "/api/tags")]},
    "one model route": {"ollama_route_sets": [], "ollama_extra_routes": [("GET", "/v1/models/{model}")]},
    "every method": {"ollama_route_sets": [], "ollama_extra_routes": [(method, "/api/tags") for method in HTTP_METHODS]},
    "every route set": {"ollama_route_sets": list(ROUTE_SETS)},
    "other ports and limits": {"proxy_port": 8443, "ollama_port": 11500, "proxy_max_body_bytes": 1024**3,
                               "proxy_timeout_server": "2h"},
}


def sections(config: str) -> dict[str, list[str]]:
    """Each section ("global", "frontend tailnet", ...) with its lines, comments left out."""
    found: dict[str, list[str]] = {}
    for line in config.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = found.setdefault(line.strip(), [])
        else:
            current.append(line.strip())
    return found


def binds(section: list[str]) -> list[str]:
    return [line.split()[1] for line in section if line.startswith("bind ")]


def rendered(**overrides) -> dict[str, list[str]]:
    return sections(render(Settings.from_data(overrides), TAILNET_IP))


@pytest.mark.skipif(HAPROXY is None, reason="no haproxy binary (Debian: apt-get install haproxy)")
@pytest.mark.parametrize("overrides", list(VARIANTS.values()), ids=list(VARIANTS))
def test_config_passes_haproxy_check(tmp_path, overrides):
    result = check(installed(Settings.from_data(overrides), tmp_path, TAILNET_IP))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overrides", list(VARIANTS.values()), ids=list(VARIANTS))
def test_tailnet_door_binds_only_the_tailscale_address(overrides):
    port = Settings.from_data(overrides).proxy_port
    assert binds(rendered(**overrides)["frontend tailnet"]) == [f"{TAILNET_IP}:{port}"]


@pytest.mark.parametrize("overrides", list(VARIANTS.values()), ids=list(VARIANTS))
def test_nothing_binds_a_wildcard_address(overrides):
    addresses = [address for section in rendered(**overrides).values() for address in binds(section)]
    assert not [address for address in addresses if re.match(r"(\*|0\.0\.0\.0|::|\[::\]|:)", address)]


@pytest.mark.parametrize(("port", "sections_with_metrics"), [(0, []), (9101, ["frontend metrics"])])
def test_metrics_frontend_exists_only_when_its_port_is_set(port, sections_with_metrics):
    config = rendered(proxy_metrics_port=port)
    assert [name for name, lines in config.items() if any("prometheus-exporter" in line for line in lines)] == (
        sections_with_metrics)


def test_metrics_frontend_binds_only_loopback():
    assert binds(rendered(proxy_metrics_port=9101)["frontend metrics"]) == ["127.0.0.1:9101"]


def test_haproxy_stays_in_the_foreground_for_launchd():
    # launchd supervises the process it started: "daemon" would fork away from it.
    assert "daemon" not in rendered()["global"]
