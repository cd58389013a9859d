"""Where a bench request is sent: an address and port, the Host header it needs, and any more headers.

.. code:: python

    Endpoint(port, f"127.0.0.1:{port}")                          # straight to a backend
    Endpoint(proxy.port, proxy.host, {"Authorization": f"Bearer {key}"}, address="127.0.0.12")
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    port: int
    host: str  # the Host header it allows
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (an API key)
    address: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def request_headers(self) -> dict[str, str]:
        return {"Host": self.host, **self.headers}

    def answers(self, method: str = "GET", path: str = "/api/version", body: str | None = None) -> bool:
        """Whether one request gets a 200 (a readiness probe: False on any connection error)."""
        connection = http.client.HTTPConnection(self.address, self.port, timeout=2)
        try:
            connection.request(method, path, body=body, headers={**self.request_headers,
                                                                 "Content-Type": "application/json"})
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()
