"""The files written for clients: settings that point at the MagicDNS name, and
an ACL snippet that opens only the tagged server's proxy port to the listed sources."""

import json

from private_ollama.desired_state.files import Tailnet, client_settings, tailscale_acl
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
