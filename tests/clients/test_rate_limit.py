"""A client over its rate limit (proxy_rate_limit_*), with each SDK's default retry settings: the SDK
raises its rate-limit exception naming the reason ("too many requests") after one request, rather than
sleeping through a long window in silence.

The proxy's 429 says ``Retry-After: <one window>``. The OpenAI SDK does not wait more than 120 s for a
retry: above that it raises at once. The Anthropic SDK waits whatever it is told, twice (with a 10
minute window: 20 minutes of a silent hang before the user sees the 429). Each SDK's wait is observed
through the function the SDK itself asks how long to sleep before a retry (``_calculate_retry_timeout``),
wrapped so that a wait above a few seconds fails the test at once instead of hanging it.
"""

from __future__ import annotations

import http.client

import anthropic
import openai
import pytest

from private_ollama.desired_state.refusals import REFUSALS
from tests.clients.asks import CHAT, TOKENS
from tests.clients.servers import access_log, proxy_with, requests_logged, server_url

TOO_MANY = REFUSALS["too_many_requests"]
WINDOW = "10m"  # longer than the OpenAI SDK's longest wait (120 s)


class WouldSleep(AssertionError):
    """The SDK decided to wait this long before a retry."""


@pytest.fixture(scope="module")
def limited_proxy(haproxy_binary, ollama, tmp_path_factory):
    """One request per 10 minutes per client, already spent: every request of this module gets 429."""
    with proxy_with(ollama.port, tmp_path_factory.mktemp("limited"), proxy_rate_limit_requests=1,
                    proxy_rate_limit_window=WINDOW, proxy_access_log=True) as proxy:
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        connection.request("GET", "/api/version")
        assert connection.getresponse().status == 200
        connection.close()
        yield proxy


def no_long_waits(client):
    """Make ``client`` fail at once, with the wait, when it decides to sleep more than 5 s before a retry."""
    decide = client._calculate_retry_timeout

    def deciding(*arguments, **options):
        wait = decide(*arguments, **options)
        if wait > 5:
            raise WouldSleep(f"{type(client).__name__} would sleep {wait:.0f} s, then retry")
        return wait

    client._calculate_retry_timeout = deciding
    return client


def _openai(proxy, model):
    client = no_long_waits(openai.OpenAI(base_url=f"{server_url(proxy)}/v1", api_key="ollama"))
    client.chat.completions.create(model=model, messages=CHAT, max_tokens=TOKENS)


def _anthropic(proxy, model):
    client = no_long_waits(anthropic.Anthropic(base_url=server_url(proxy), api_key="ollama"))
    client.messages.create(model=model, messages=CHAT, max_tokens=TOKENS)


SDKS = {
    "OpenAI SDK": (_openai, openai.RateLimitError, "/v1/chat/completions"),
    "Anthropic SDK": (_anthropic, anthropic.RateLimitError, "/v1/messages"),
}


@pytest.mark.parametrize("sdk", list(SDKS.values()), ids=list(SDKS))
def test_a_client_over_a_long_window_is_told_at_once(limited_proxy, model_id, sdk):
    ask, exception, path = sdk
    before = len(access_log(limited_proxy))
    with pytest.raises(exception) as refused:
        ask(limited_proxy, model_id)
    assert TOO_MANY.message in str(refused.value)
    assert [entry["status"] for entry in requests_logged(limited_proxy, before, path)] == [429]
