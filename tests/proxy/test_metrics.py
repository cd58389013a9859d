"""HAProxy's Prometheus metrics: on loopback for this Mac, never through the tailnet door."""

from __future__ import annotations

import http.client

from tests.proxy.wire import exchange, new_marker, request


def get(port: int, path: str) -> tuple[int, str | None, bytes]:
    """(status, content type, body) of ``GET path`` on 127.0.0.1:port."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def test_metrics_are_served_on_the_metrics_port(proxy):
    status, _, body = get(proxy.settings.proxy_metrics_port, "/metrics")
    assert status == 200
    assert b'haproxy_backend_active_servers{proxy="ollama"} 1' in body


def test_only_metrics_are_served_on_the_metrics_port(proxy):
    status, content_type, _ = get(proxy.settings.proxy_metrics_port, "/api/tags")
    assert (status, content_type) == (404, "application/json")


def test_metrics_are_not_served_through_the_tailnet_door(proxy):
    [response] = exchange(proxy.port, request("GET", "/metrics", proxy.host, new_marker()), expect=1)
    assert response.status == 403
