"""The files written for clients: settings that point at the MagicDNS name, with the recipe of each
client the server's route sets serve (and the set each other client needs), and an ACL snippet that
opens only the tagged server's proxy port to the listed sources."""

import json
import re

import pytest

from private_ollama.desired_state import clients
from private_ollama.desired_state.files import Tailnet, client_settings, tailscale_acl
from private_ollama.desired_state.routes import DEFAULT_ROUTE_SETS, ROUTE_SETS
from private_ollama.desired_state.settings import Settings

TAILNET = Tailnet(ip="100.101.102.103", dns_name="remote-ollama.tail1234.ts.net")


def test_acl_opens_only_the_proxy_port_of_the_tagged_server():
    settings = Settings.from_data({"tailscale_acl_sources": ["group:ai-users", "alice@example.com"], "proxy_port": 8443})
    policy = json.loads(tailscale_acl(settings))
    assert policy["acls"] == [
        {"action": "accept", "src": ["group:ai-users", "alice@example.com"], "dst": ["tag:ai-server:8443"]},
    ]
    assert policy["tagOwners"] == {"tag:ai-server": ["autogroup:admin"]}


def test_client_settings_name_both_base_urls_and_every_allowed_route():
    settings = Settings.from_data({})
    text = client_settings(settings, TAILNET)
    assert "OPENAI_BASE_URL=http://remote-ollama.tail1234.ts.net:11434/v1" in text
    assert "ANTHROPIC_BASE_URL=http://remote-ollama.tail1234.ts.net:11434" in text
    for route in settings.allowed_routes:
        assert f"{route.method:<5} {route.path}" in text


def test_with_keys_and_a_model_allowlist_clients_are_told_to_send_a_key_and_which_models():
    settings = Settings.from_data({"proxy_api_keys": True, "ollama_allowed_models": ["qwen2.5-coder:32b"]})
    text = client_settings(settings, TAILNET)
    assert "OPENAI_API_KEY=po_YOUR_KEY" in text and "Authorization: Bearer po_YOUR_KEY" in text
    assert '"model": "qwen2.5-coder:32b"' in text
    assert text.rstrip().endswith("qwen2.5-coder:32b")


ALL_SETS = list(ROUTE_SETS)


def recipe_headings(text: str) -> list[str]:
    return re.findall(r"^### (.+)$", text, flags=re.MULTILINE)


def test_by_default_the_settings_give_the_openai_and_anthropic_recipes_and_name_the_set_for_the_others():
    text = client_settings(Settings.from_data({}), TAILNET)
    served, unserved = clients.served(DEFAULT_ROUTE_SETS)
    assert recipe_headings(text) == [recipe.name for recipe in served] + ["Not served here"]
    assert {recipe.name for recipe in served} >= {"OpenAI SDK", "Anthropic SDK", "Claude Code", "aider",
                                                  "LiteLLM (`openai/`)", "LiteLLM (`anthropic/`)",
                                                  "Open WebUI (OpenAI connection)"}
    for recipe in unserved:
        assert f"- {recipe.name}: needs `ollama-inference`" in text


def test_with_every_route_set_every_recipe_is_given_and_none_is_missing():
    text = client_settings(Settings.from_data({"ollama_route_sets": ALL_SETS}), TAILNET)
    assert recipe_headings(text) == [recipe.name for recipe in clients.RECIPES.values()]
    assert "Not served here" not in text


def test_a_recipe_needing_two_sets_is_missing_while_one_is_off():
    text = client_settings(Settings.from_data({"ollama_route_sets": ["openai", "ollama-inference"]}), TAILNET)
    assert "- `ollama` Python client: needs `ollama-metadata`" in text
    assert "- Claude Code: needs `anthropic`" in text


@pytest.mark.parametrize("name", sorted(clients.RECIPES))
def test_each_recipe_gives_its_variables_filled_in_for_this_server(name):
    recipe = clients.RECIPES[name]
    text = client_settings(Settings.from_data({"ollama_route_sets": ALL_SETS, "proxy_port": 8443}), TAILNET)
    section = text.split(f"### {recipe.name}\n", 1)[1].split("\n### ", 1)[0]
    for variable, value in recipe.env:
        filled = value.replace("{url}", "http://remote-ollama.tail1234.ts.net:8443").replace("{key}", "ollama")
        assert f"    {variable}={filled or chr(34) * 2}\n" in section


def test_variables_only_a_key_needs_are_given_only_with_keys():
    keyed, open_ = (client_settings(Settings.from_data({"ollama_route_sets": ALL_SETS, "proxy_api_keys": keys}), TAILNET)
                    for keys in (True, False))
    assert "OLLAMA_API_KEY=po_YOUR_KEY" in keyed and "OLLAMA_API_KEY=" not in open_
    assert "ANTHROPIC_AUTH_TOKEN=po_YOUR_KEY" in keyed and "ANTHROPIC_AUTH_TOKEN=ollama" in open_


def test_what_the_embeddings_set_adds_is_said_on_or_off():
    off = client_settings(Settings.from_data({}), TAILNET)
    on = client_settings(Settings.from_data({"ollama_route_sets": [*DEFAULT_ROUTE_SETS, "embeddings"]}), TAILNET)
    assert "The `embeddings` route set (off here) would add `client.embeddings.create`." in off
    assert "With the `embeddings` route set (on here): `client.embeddings.create`." in on


@pytest.mark.parametrize("name", sorted(clients.RECIPES))
def test_a_recipes_route_sets_forward_every_route_its_client_calls(name):
    recipe = clients.RECIPES[name]
    forwarded = {(route.method, route.path) for set_name in recipe.route_sets for route in ROUTE_SETS[set_name].routes}
    assert set(recipe.calls) <= forwarded, set(recipe.calls) - forwarded
    assert all(set_name in ROUTE_SETS for set_name, _ in recipe.extras)
