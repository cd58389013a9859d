"""A pool rendered from data: the routing table and the listings for pools of 1, 2 and 3 Macs with
overlapping models; a pool of one Mac renders exactly what no pool does; the ACL snippet opens members'
proxy ports to each other and nothing more; the client settings name every member."""

from __future__ import annotations

import json

import pytest

from private_ollama.desired_state import model_filter
from private_ollama.desired_state.files import (
    CONVERTER_ARGUMENT_MAX,
    Tailnet,
    client_settings,
    haproxy_config,
    haproxy_files,
    tailscale_acl,
)
from private_ollama.desired_state.layout import MacLayout
from private_ollama.desired_state.pool import Member, Pool
from private_ollama.desired_state.settings import Settings, SettingsError
from tests.proxy.haproxy import check, installed

TAILNET = Tailnet(ip="100.64.0.1", dns_name="mac-a.tail1234.ts.net")
SETTINGS = Settings.from_data({"proxy_pool": "studio", "proxy_buffer_bytes": 1048576})
LAYOUT = MacLayout(SETTINGS, user="admin", uid=501, home="/Users/admin")


def member(name: str, index: int, *models: str, local: bool = False) -> Member:
    return Member(name, f"100.64.0.{index}", 11434, frozenset(models), local=local,
                  dns_name=f"{name}.tail1234.ts.net")


POOLS = {
    1: Pool("studio", (member("mac-a", 1, "llama3.2:latest", local=True),)),
    2: Pool("studio", (member("mac-a", 1, "llama3.2:latest", local=True),
                       member("mac-b", 2, "llama3.2:latest", "qwen2.5-coder:32b"))),
    3: Pool("studio", (member("mac-a", 1, "llama3.2:latest", local=True),
                       member("mac-b", 2, "qwen2.5-coder:32b", "nomic-embed-text:latest"),
                       member("mac-c", 3, "llama3.2:latest", "nomic-embed-text:latest"))),
}
ROUTES = {
    1: {"llama3.2:latest": "holders_mac-a"},
    2: {"llama3.2:latest": "holders_mac-a_mac-b", "qwen2.5-coder:32b": "holders_mac-b"},
    3: {"llama3.2:latest": "holders_mac-a_mac-c", "nomic-embed-text:latest": "holders_mac-b_mac-c",
        "qwen2.5-coder:32b": "holders_mac-b"},
}


@pytest.mark.parametrize("size", sorted(POOLS))
def test_each_model_goes_to_the_backend_of_its_holders(size):
    assert POOLS[size].routes() == ROUTES[size]
    assert POOLS[size].routes_map() == "".join(f"{model} {backend}\n" for model, backend in ROUTES[size].items())


@pytest.mark.parametrize("size", [2, 3])
def test_each_holders_backend_lists_exactly_its_holders(size):
    config = haproxy_config(SETTINGS, LAYOUT, TAILNET, POOLS[size])
    for backend, holders in POOLS[size].backends().items():
        section = config.split(f"\nbackend {backend}\n", 1)[1].split("\n\n", 1)[0]
        servers = [line.split()[1] for line in section.splitlines() if line.strip().startswith("server ")]
        assert servers == [holder.server for holder in holders]
        for holder in holders:
            where = "127.0.0.1:11434" if holder.local else f"{holder.address}:11434 source {TAILNET.ip}"
            assert f"server {holder.server} {where}" in section


@pytest.mark.parametrize("size", sorted(POOLS))
def test_the_listings_hold_every_model_of_the_pool_once(size):
    models = sorted({model for member in POOLS[size].members for model in member.models})
    assert [entry["name"] for entry in json.loads(POOLS[size].tags())["models"]] == models
    assert [entry["id"] for entry in json.loads(POOLS[size].openai_models())["data"]] == models


def test_the_listings_hold_nothing_a_pull_changes():
    """Only names: the listing one apply renders before its pulls is the one the next apply renders."""
    assert json.loads(POOLS[2].tags())["models"][0] == {"name": "llama3.2:latest", "model": "llama3.2:latest"}
    assert json.loads(POOLS[2].openai_models())["data"][0] == {"id": "llama3.2:latest", "object": "model",
                                                               "created": 0, "owned_by": "library"}


def test_a_pool_of_one_mac_renders_what_no_pool_renders():
    alone = Settings.from_data({"proxy_buffer_bytes": 1048576})
    assert haproxy_config(SETTINGS, LAYOUT, TAILNET, POOLS[1]) == haproxy_config(alone, LAYOUT, TAILNET)
    assert haproxy_files(SETTINGS, LAYOUT, POOLS[1]) == haproxy_files(alone, LAYOUT)


def test_a_member_the_tailnet_does_not_show_yet_is_left_out():
    pool = Pool("studio", (member("mac-a", 1, "llama3.2:latest", local=True),
                           Member("mac-b", None, 11434, frozenset({"qwen2.5-coder:32b"}))))
    assert pool.routes() == {"llama3.2:latest": "holders_mac-a"}


def test_members_reach_each_others_proxy_port_and_nothing_more():
    policy = json.loads(tailscale_acl(SETTINGS, POOLS[3]))
    assert policy["acls"][1] == {"action": "accept", "src": ["tag:ai-server"], "dst": ["tag:ai-server:11434"]}
    assert json.loads(tailscale_acl(SETTINGS, POOLS[1]))["acls"] == policy["acls"][:1]


def test_the_client_settings_name_every_member():
    text = client_settings(SETTINGS, TAILNET, POOLS[3])
    for name in ("mac-a", "mac-b", "mac-c"):
        assert f"http://{name}.tail1234.ts.net:11434" in text


def test_a_pool_needs_a_buffer_for_whole_bodies():
    with pytest.raises(SettingsError, match="proxy_buffer_bytes to at least 1048576"):
        Settings.from_data({"proxy_pool": "studio"})


def pool_whose_routing_expression_is(length: int) -> Pool:
    """A pool of many models, the last name padded so that the expression it routes by is ``length`` bytes."""
    models = [f"m{index:04d}:q4" for index in range(1500)]
    def expression(names: list[str]) -> int:
        pool = Pool("studio", (member("mac-a", 1, local=True), member("mac-b", 2, *names)))
        return len(model_filter.body_pattern(model_filter.spellings(pool.models())))
    models[-1] += "x" * (length - expression(models))
    assert expression(models) == length
    return Pool("studio", (member("mac-a", 1, local=True), member("mac-b", 2, *models)))


def test_a_pool_whose_routing_expression_fits_haproxy_passes_its_check(tmp_path):
    pool = pool_whose_routing_expression_is(CONVERTER_ARGUMENT_MAX)
    result = check(installed(SETTINGS, tmp_path, "127.0.0.1", pool))
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_pool_whose_routing_expression_would_not_fit_is_refused_naming_the_remedy():
    pool = pool_whose_routing_expression_is(CONVERTER_ARGUMENT_MAX + 1)
    with pytest.raises(SettingsError, match=rf"1500 model names .* {CONVERTER_ARGUMENT_MAX + 1} bytes, "
                                            rf"and HAProxy reads at most {CONVERTER_ARGUMENT_MAX}: declare fewer"):
        haproxy_config(SETTINGS, LAYOUT, TAILNET, pool)
