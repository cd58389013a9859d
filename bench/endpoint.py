"""Where a bench request is sent: an address and port, the Host header it needs, and any more headers.

.. code:: python

    Endpoint(port, f"127.0.0.1:{port}")                          # straight to a backend
    Endpoint(proxy.port, proxy.host, {"Authorization": f"Bearer {key}"}, address="127.0.0.12", pid=proxy.master_pid)
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
    pid: int | None = None  # the root of the process tree that serves it (its footprint is measured)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def request_headers(self) -> dict[str, str]:
        return {"Host": self.host, **self.headers}

    def status(self, method: str = "GET", path: str = "/api/version", body: str | None = None) -> int | None:
        """The status of one request, its answer read whole; None when it got no answer."""
        connection = http.client.HTTPConnection(self.address, self.port, timeout=2)
        try:
            connection.request(method, path, body=body, headers={**self.request_headers,
                                                                 "Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            return response.status
        except OSError:
            return None
        finally:
            connection.close()

    def answers(self, method: str = "GET", path: str = "/api/version", body: str | None = None) -> bool:
        """Whether one request gets a 200 (a readiness probe)."""
        return self.status(method, path, body) == 200
